"""An instance's status, and every rule that changes it, in one place.

What readers route by is the member's ServerSet ``status`` (``Member.alive``):
``ALIVE`` gets traffic, ``STOPPED`` was taken out on purpose, ``DEAD`` is
unhealthy. The dialects name the same three states their own way:

=============  ===========================  ===================================
ServerSet      instance API                 Polaris
=============  ===========================  ===================================
ALIVE          HEALTHY                      healthy
STOPPED        DISABLE (or enabled=false)   isolate (healthy unless it says not)
DEAD, other    UN_HEALTHY                   not healthy
=============  ===========================  ===================================

(discovery: status 1 is ALIVE, 2 anything else.)

Leased instances (registered through the discovery or instance API) lapse
when they stop renewing, as their ``Policy`` says (written into the member,
so every replica's evictor reads the same):

- silent longer than ``unhealthy_after``: published ``DEAD`` and marked
  ``lapsed``, without touching its lease (the silence goes on counting);
- silent longer than ``ttl``: evicted (member and lease removed), subject to
  the evictor's self-preservation for policies that ask for it;
- a renew of a lapsed instance publishes it ``ALIVE`` again.

The instance API adds its own: a DISABLEd instance ignores beats and never
lapses; ``enabled=false`` publishes ``STOPPED`` yet beats and lapses as
HEALTHY; a beat heals an instance set UN_HEALTHY by hand; a DISABLE set by
ops outlives a re-registration.
"""

import enum
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .codec import ALIVE, DEAD, STOPPED, Member

if TYPE_CHECKING:
    from .tree import Leaf

LAPSED = "lapsed"  # instance field: marked DEAD for silence, not by hand


@dataclass(frozen=True)
class Policy:
    """When an instance that stops renewing lapses (seconds; None = never)."""

    ttl: float | None = 90.0  # removed after this long without a renew
    unhealthy_after: float | None = None  # published as DEAD after this long
    renew_interval: float = 30.0  # how often its clients renew (self-preservation)
    self_preservation: bool = True

    @classmethod
    def of(cls, member: Member) -> "Policy":
        doc = member.instance.get("policy")
        if not isinstance(doc, dict):
            return cls()
        try:
            return cls(
                **{k: doc[k] for k in ("ttl", "unhealthy_after", "renew_interval", "self_preservation") if k in doc}
            )
        except TypeError:
            return cls()


# -- lapsing: what silence does ------------------------------------------------


class Silence(enum.Enum):
    """What the evictor does with a leased instance silent for a while."""

    KEEP = "keep"
    MARK = "mark"  # publish it DEAD, marked lapsed
    EVICT = "evict"  # remove it and its lease


def silence(member: Member, policy: Policy, silent: float) -> Silence:
    """What ``silent`` seconds without a renew do to ``member`` under ``policy``
    (self-preservation and the per-sweep cap are the evictor's to apply)."""
    if policy.ttl is not None and silent > policy.ttl:
        return Silence.EVICT
    if (
        policy.unhealthy_after is not None
        and silent > policy.unhealthy_after
        and member.status == ALIVE
        and not is_lapsed(member)
    ):
        return Silence.MARK
    return Silence.KEEP


def last_renew_ms(leaf: "Leaf[Member | None]", lease: "Leaf[None] | None") -> int:
    """When a leased member last renewed (ms, ZooKeeper's clock): its lease's
    mtime, or the member's creation until its lease shows."""
    return lease.stat.mtime if lease is not None else leaf.stat.ctime


def is_lapsed(member: Member) -> bool:
    return bool(member.instance.get(LAPSED))


def lapsed(member: Member) -> Member:
    """``member`` marked DEAD for silence."""
    return replace(member, status=DEAD, instance={**member.instance, LAPSED: True})


def revived(member: Member) -> Member:
    """A lapsed ``member`` that renewed: ALIVE again, the mark dropped."""
    return replace(member, status=ALIVE, instance={k: v for k, v in member.instance.items() if k != LAPSED})


# -- the instance API's statuses -------------------------------------------------

HEALTHY, UN_HEALTHY, DISABLE = "HEALTHY", "UN_HEALTHY", "DISABLE"
STATUSES = (HEALTHY, UN_HEALTHY, DISABLE)
_PUBLISHED = {HEALTHY: ALIVE, UN_HEALTHY: DEAD, DISABLE: STOPPED}


def status_of(member: Member) -> str:
    """The instance API status of any member, from its ServerSet status."""
    if member.alive:
        return HEALTHY
    if member.status == STOPPED:
        return DISABLE
    return UN_HEALTHY


def state_of(member: Member) -> str:
    """The status that ops and beats change: an instance registered with
    ``enabled=false`` is published STOPPED, yet beats and lapses as HEALTHY."""
    if member.status == STOPPED and member.instance.get("enabled") is False and Policy.of(member).ttl is not None:
        return HEALTHY
    return status_of(member)


def kept_status(old: Member | None) -> str:
    """Status of a registration: a DISABLE set by ops outlives re-registering."""
    return DISABLE if old is not None and state_of(old) == DISABLE else HEALTHY


def published(status: str, enabled: bool | None = None) -> str:
    """The ServerSet status of an instance API ``status``; ``enabled=false``
    publishes STOPPED whatever the status: not routed."""
    return STOPPED if enabled is False else _PUBLISHED[status]


def lapse_policy(status: str, beat_interval: float, unhealthy_after: float, remove_after: float) -> Policy:
    """When an instance API instance in ``status`` lapses: a DISABLEd one
    ignores beats and never lapses; the others do, however many at once."""
    if status == DISABLE:
        return Policy(ttl=None, unhealthy_after=None, renew_interval=beat_interval, self_preservation=False)
    return Policy(
        ttl=remove_after, unhealthy_after=unhealthy_after, renew_interval=beat_interval, self_preservation=False
    )


def ignores_beats(member: Member) -> bool:
    """A DISABLEd instance ignores beats (and never lapses)."""
    return state_of(member) == DISABLE


def healed_by_beat(member: Member) -> bool:
    """After a beat: an instance set UN_HEALTHY by hand is published HEALTHY
    again (one marked for silence the renew itself revives)."""
    return member.status == DEAD and not is_lapsed(member)


# -- Polaris's healthy and isolate ------------------------------------------------


def isolated(member: Member) -> bool:
    """Polaris's ``isolate``: taken out on purpose (STOPPED)."""
    return member.status == STOPPED


def healthy(member: Member) -> bool:
    """Polaris's ``healthy``: routed, or isolated without saying it is unhealthy."""
    return member.alive or (isolated(member) and member.instance.get("healthy") is not False)
