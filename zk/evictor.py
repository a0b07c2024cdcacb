"""Evicting instances that stopped renewing, on one replica at a time.

Replicas take turns through a lock: one EPHEMERAL node,
``/soa/gateway/evictor``. Whoever's session holds it sweeps; if that replica
dies its session (and so the lock) goes, and another one takes over at its
next sweep. Leases are read from the watch cache, so a sweep costs nothing
in ZooKeeper until it actually evicts.

Self-preservation (Eureka's rule): when the renews seen in the last window
fall below ``threshold`` of what the registered instances should send, the
gateway is more likely cut off from its clients than they are all dead; it
then evicts only instances silent for ``long_silence``. Each sweep evicts at
most ``max_fraction`` of the instances of such policies; policies without
self-preservation (the instance API's) lapse on time however many lapse at once.

Below ``min_instances`` leased instances self-preservation stays off: there
one dead instance alone drops the renew rate under the threshold and would
stay listed for an hour, the very complaint of bilibili/discovery#68.
"""

import collections
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, cast

from kazoo.exceptions import NodeExistsError, NoNodeError

from .errors import Unavailable
from .status import Policy, Silence, lapsed, last_renew_ms, silence
from .tree import Group, Leaf

if TYPE_CHECKING:
    from .codec import Member
    from .instances import Instances

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvictionSettings:
    interval: float = 5.0  # seconds between sweeps
    threshold: float = 0.85  # self-preservation below this share of expected renews
    window: float = 60.0  # seconds of renews to compare
    long_silence: float = 3600.0  # evicted even under self-preservation
    max_fraction: float = 0.15  # of all leased instances per sweep
    min_instances: float = 10  # fewer leased instances than this are never protected


class Silent(NamedTuple):
    """A leased instance as a sweep sees it."""

    silent: float  # seconds since its last renew
    service: str
    leaf: Leaf["Member"]
    policy: Policy


class _Renews(NamedTuple):
    """The renews seen by a moment of the window."""

    time: float  # clock() when seen
    updates: int  # leaf updates of the leases (renews) seen so far in all


class Evictor:
    def __init__(
        self,
        instances: "Instances",
        settings: EvictionSettings | None = None,
        replica: str = "gateway",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.instances = instances
        self.catalog = instances.catalog
        self.cluster = instances.cluster
        self.settings = settings or EvictionSettings()
        self.replica = replica
        self.clock = clock
        self.lock_path = self.catalog.layout.beside("gateway") + "/evictor"
        self._renews: collections.deque[_Renews] = collections.deque()
        self._stopped = False
        self.leading_since: float | None = None
        self.protecting = False
        self.counters = {"evicted": 0, "marked_unhealthy": 0, "sweeps": 0}

    def start(self) -> None:
        self.cluster.handler.spawn(self._run)

    def stop(self) -> None:
        self._stopped = True

    def _run(self) -> None:
        sleep = self.cluster.handler.sleep_func
        while not self._stopped:
            sleep(self.settings.interval)
            if self._stopped or not self.cluster.connected:
                continue
            try:
                if self.lead():
                    self.sweep()
                self.instances.forget_foreign()
            except Unavailable as exc:
                log.warning("eviction sweep skipped: %s", exc.message)
            except Exception:
                log.exception("eviction sweep failed")

    def lead(self) -> bool:
        """True while this process's session holds the eviction lock."""
        try:
            self.cluster.call("create", self.lock_path, self.replica.encode(), ephemeral=True, makepath=True)
        except NodeExistsError:
            try:
                _, stat = self.cluster.call("get", self.lock_path)
            except NoNodeError:
                return False  # released just now; try again next sweep
            if stat.ephemeralOwner != self.cluster.session_id:
                self.leading_since = None
                return False
        if self.leading_since is None:
            self.leading_since = self.clock()
            self._renews.clear()
            log.info("this replica now evicts lapsed instances on zkidc %s", self.cluster.name)
        return True

    def _renew_rate(self, now: float) -> float | None:
        """Renews per minute seen over the window, or None until a window passed."""
        updates = self.instances.leases.leaf_updates
        self._renews.append(_Renews(now, updates))
        while len(self._renews) > 1 and now - self._renews[1].time >= self.settings.window:
            self._renews.popleft()
        start, first = self._renews[0].time, self._renews[0].updates
        if now - start < self.settings.window * 0.999:
            return None
        return (updates - first) * 60.0 / (now - start)

    def sweep(self) -> int:
        """Evict or mark what has lapsed; returns the number of changes made."""
        now = self.clock()
        self.counters["sweeps"] += 1
        leases = self.instances.leases.groups()
        leased: list[Silent] = []
        expected = 0.0
        for service, group in self.catalog.services().items():
            lease_group = leases.get(service)
            for node in group.leaves.values():
                member = node.value
                key = member.instance.get("lease") if member is not None else None
                if member is None or not key:
                    continue  # admin or outside members never lapse
                policy = Policy.of(member)
                lease = lease_group.leaves.get(key) if lease_group else None
                leased.append(
                    Silent(now - last_renew_ms(node, lease) / 1000.0, service, cast("Leaf[Member]", node), policy)
                )
                if policy.ttl is not None:
                    expected += 60.0 / max(policy.renew_interval, 0.001)
        rate = self._renew_rate(now)
        # Until a whole window has been watched, assume the worst and protect.
        self.protecting = (
            len(leased) >= self.settings.min_instances
            and expected > 0
            and (rate is None or rate < self.settings.threshold * expected)
        )
        # The cap guards self-preservation's policies only; marking UN_HEALTHY removes
        # nobody, so it spends none of it.
        budget = max(1, math.floor(len(leased) * self.settings.max_fraction))
        changes = capped = 0
        for silent, service, leaf, policy in sorted(leased, key=lambda item: -item.silent):
            action = silence(leaf.value, policy, silent)
            if action is Silence.EVICT:
                if policy.self_preservation:
                    if self.protecting and silent <= self.settings.long_silence:
                        continue
                    if capped >= budget:
                        continue
                if self.instances.evict(service, leaf):
                    changes += 1
                    capped += policy.self_preservation
                    self.counters["evicted"] += 1
                    log.info("evicted %s/%s: no renew for %.0f s", service, leaf.name, silent)
            elif action is Silence.MARK:
                if self._mark_unhealthy(service, leaf):
                    changes += 1
        self._drop_orphan_leases(leases, now)
        return changes

    def _mark_unhealthy(self, service: str, leaf: Leaf["Member"]) -> bool:
        key = leaf.value.instance["lease"]
        try:
            self.instances.replace(
                service,
                key,
                lapsed,
                heartbeat=False,
            )
        except Exception as exc:  # noqa: BLE001 - it may have renewed or gone meanwhile; the next sweep sees
            log.info("could not mark %s/%s unhealthy: %s", service, leaf.name, exc)
            return False
        self.counters["marked_unhealthy"] += 1
        return True

    def _drop_orphan_leases(self, leases: dict[str, Group[None]], now: float) -> None:
        """Leases whose member vanished (its replica died) and that nobody renews."""
        services = self.catalog.services()
        for service, group in leases.items():
            members = services.get(service)
            for key, lease in group.leaves.items():
                if now - lease.stat.mtime / 1000.0 < cast(float, Policy().ttl):  # the default policy lapses
                    continue
                if members is None or not self.instances.lookup(service, key):
                    self.instances.delete_lease(service, key, lease.stat.version)
