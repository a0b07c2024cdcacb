"""What the instance API does, without HTTP: plain functions over a Catalog.

Each takes already-validated parameters (an ``Identity``, the ``[instance]``
``Timing``), the Catalog the caller may use, returns plain data and raises
the errors of ``zk.errors`` (and BadRequest for a service in another
namespace). The status rules themselves are ``zk.status``'s.
"""

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from zk import status as rules
from zk.catalog import Catalog
from zk.codec import Member
from zk.errors import NotFound

from ..params import BadRequest
from . import model
from .model import Identity, Timing


@dataclass(frozen=True)
class Listing:
    """The instances of a service that a list asks for."""

    service: str
    clusters: list[str]
    instances: list[dict[str, Any]]


# -- reads ----------------------------------------------------------------------


def listing(
    catalog: Catalog, service: str, namespace: str, clusters: Collection[str] = (), healthy: bool | None = None
) -> Listing:
    """The instances of ``service`` in ``namespace``, of ``clusters`` (all when
    empty), only the HEALTHY ones or the others when ``healthy`` says."""
    group = catalog.services().get(service)
    shown = model.views(service, group) if group is not None else []
    wanted = set(clusters)
    instances = [
        model.public(v)
        for v in shown
        if v["namespace"] == namespace
        and (not wanted or v["cluster"] in wanted)
        and (healthy is None or (v["status"] == rules.HEALTHY) == healthy)
    ]
    return Listing(service, sorted({v["cluster"] for v in instances}), instances)


def get(catalog: Catalog, who: Identity) -> dict[str, Any]:
    """One instance as the API shows it, whoever published it."""
    shown = _shown(catalog, who)
    if shown is None:
        raise NotFound("%s is not registered" % who.describe())
    return model.public(shown)


def _shown(catalog: Catalog, who: Identity) -> dict[str, Any] | None:
    group = catalog.services().get(who.service)
    for shown in model.views(who.service, group) if group is not None else ():
        if (shown["namespace"], shown["cluster"], shown["ip"], shown["port"]) == (
            who.namespace,
            who.cluster,
            who.ip,
            who.port,
        ):
            return shown
    return None


# -- writes ---------------------------------------------------------------------


def check_namespace(catalog: Catalog, who: Identity) -> None:
    """BadRequest when the service exists in another namespace than the
    write names (service names are unique per zkidc)."""
    group = catalog.services().get(who.service)
    if group is not None and model.namespace_of(group) != who.namespace:
        raise BadRequest(
            "service %s is in namespace %s, not %s (service names are unique per zkidc)"
            % (who.service, model.namespace_of(group), who.namespace)
        )


def register(catalog: Catalog, timing: Timing, who: Identity, details: dict[str, Any]) -> None:
    """Register, or register again: the same identity is updated, never
    duplicated; a registration that would publish nothing new is a beat.

    ``details``: the weight, enabled and metadata the registration gave.
    """
    check_namespace(catalog, who)
    if catalog.services().get(who.service) is None:
        catalog.create_service(who.service, {"namespace": who.namespace})
    leaves = catalog.instances.lookup(who.service, who.key)
    if len(leaves) == 1 and leaves[0].value is not None:
        old = leaves[0].value
        status = rules.kept_status(old)
        if model.unchanged(old, model.publish(who, status, old, details), timing.policy(status)):
            try:  # nothing to publish: a registration is then just a beat
                catalog.instances.renew(who.service, who.key)
                return
            except NotFound:
                pass  # evicted meanwhile: register it anew

    def build(old: Member | None) -> Member:
        return model.publish(who, rules.kept_status(old), old, details)

    def policy(old: Member | None) -> rules.Policy:
        return timing.policy(rules.kept_status(old))

    catalog.instances.register(who.service, who.key, build, policy)


def deregister(catalog: Catalog, who: Identity) -> None:
    """Take an instance out at once."""
    check_namespace(catalog, who)
    try:
        catalog.instances.cancel(who.service, who.key)
    except NotFound:
        raise missing(catalog, who) from None


def beat(catalog: Catalog, timing: Timing, who: Identity) -> None:
    """A beat keeps an instance HEALTHY and makes an UN_HEALTHY one HEALTHY
    again; a DISABLEd instance ignores it."""
    check_namespace(catalog, who)
    if rules.ignores_beats(registered(catalog, who)):
        return
    try:
        member = catalog.instances.renew(who.service, who.key)
    except NotFound:
        raise missing(catalog, who) from None
    if rules.healed_by_beat(member):
        _publish(catalog, timing, who, rules.HEALTHY)


def set_status(catalog: Catalog, timing: Timing, who: Identity, status: str) -> None:
    """Set HEALTHY, UN_HEALTHY or DISABLE by hand (nothing when it is so already)."""
    check_namespace(catalog, who)
    if rules.state_of(registered(catalog, who)) != status:
        _publish(catalog, timing, who, status)


def registered(catalog: Catalog, who: Identity) -> Member:
    """The member published for ``who`` through this API, or a clear 404."""
    leaves = catalog.instances.lookup(who.service, who.key, fresh=True)
    if not leaves or leaves[0].value is None:
        raise missing(catalog, who)
    return leaves[0].value


def missing(catalog: Catalog, who: Identity) -> NotFound:
    """NotFound for ``who``, saying why when the address is listed by someone else."""
    if _shown(catalog, who) is not None:
        return NotFound(
            "%s was not registered through /api/instance (it is published by another API or writer); "
            "only instances registered here can beat, change status or deregister here" % who.describe()
        )
    return NotFound("%s is not registered; register it first" % who.describe())


def _publish(catalog: Catalog, timing: Timing, who: Identity, status: str) -> None:
    """Replace the member (a new znode, so readers that never re-read see it)."""
    try:
        catalog.instances.replace(
            who.service, who.key, lambda old: model.publish(who, status, old), policy=timing.policy(status)
        )
    except NotFound:
        raise missing(catalog, who) from None
