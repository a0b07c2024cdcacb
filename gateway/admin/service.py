"""What the admin endpoints do, without HTTP: plain functions over a Catalog.

Each takes already-validated parameters (``schemas.py``) and the Catalog of
the zkidc the caller may use, returns plain data and raises the errors of
``zk.errors``; the views only parse, authorize and wrap the answer.
"""

from dataclasses import dataclass
from typing import Any

from zk.catalog import Catalog
from zk.errors import NotFound
from zk.tree import Group, Leaf

ORIGIN = "admin"  # instance.registeredBy of the servers added here


@dataclass(frozen=True)
class Page:
    """One page of servicelist: the services shown and how many matched."""

    services: list[dict[str, Any]]
    total: int


def names(catalog: Catalog) -> list[str]:
    """Every service of the zkidc, sorted (servicelist as the seed answers it)."""
    return sorted(catalog.services())


def search(catalog: Catalog, text: str = "", offset: int = 0, limit: int | None = None, counts: bool = False) -> Page:
    """The services whose name contains ``text`` (any case), sorted, from
    ``offset``, at most ``limit``; ``counts`` adds members and ALIVE members."""
    groups = catalog.services()
    wanted = text.casefold()
    matched = sorted(name for name in groups if wanted in name.casefold())
    page = matched[offset:] if limit is None else matched[offset : offset + limit]
    services: list[dict[str, Any]] = [{"service": name} for name in page]
    if counts:
        for entry in services:
            members = [leaf.value for leaf in groups[entry["service"]].leaves.values()]
            entry["members"] = len(members)
            entry["alive"] = sum(1 for member in members if member is not None and member.alive)
    return Page(services, len(matched))


def add(catalog: Catalog, service: str) -> bool:
    """Create a service (idempotent); True when it existed already."""
    return not catalog.create_service(service)


def delete(catalog: Catalog, service: str, force: bool = False) -> None:
    """Delete a service; one with servers only when ``force``."""
    catalog.delete_service(service, force=force)


def servers(catalog: Catalog, service: str) -> Group:
    """The cached snapshot of a service's members (NotFound when there is none)."""
    return catalog.service(service)


def server(leaf: Leaf) -> dict[str, Any]:
    """One member as serverlist shows it."""
    member = leaf.value
    if member is None:  # written by someone else in a shape we cannot read
        return {"host": None, "port": None, "key": leaf.name, "raw": leaf.data[:512].decode("utf-8", "replace")}
    return {"host": member.host, "port": member.port, "key": leaf.name, "status": member.status}


def details(catalog: Catalog, service: str) -> list[dict[str, Any]]:
    """Every server as ``details=true`` lists it: who registered it and, for
    an application's instance, its zone and last heartbeat (lease mtime, ms)."""
    group = catalog.service(service)
    return [_detailed(catalog, group.name, leaf) for _, leaf in sorted(group.leaves.items())]


def _detailed(catalog: Catalog, service: str, leaf: Leaf) -> dict[str, Any]:
    shown = server(leaf)
    instance = leaf.value.instance if leaf.value is not None else {}
    origin = instance.get("registeredBy")
    shown["origin"] = origin if isinstance(origin, str) else "other"
    zone = instance.get("zone")
    shown["zone"] = zone if isinstance(zone, str) else None
    shown["heartbeat"] = catalog.last_heartbeat(service, leaf)
    shown["ephemeral"] = bool(leaf.stat.ephemeralOwner)
    return shown


def server_key(
    catalog: Catalog, service: str, key: str | None = None, host: str | None = None, port: int | None = None
) -> str:
    """The member key a request names: ``key``, or the member at host:port."""
    if key is not None:
        return key
    assert host is not None and port is not None  # the schema asks for key, or host and port
    found = catalog.find_member(service, host, port)
    if found is None:
        raise NotFound("service %s has no server at %s:%d on zkidc %s" % (service, host, port, catalog.name))
    return found


@dataclass(frozen=True)
class Added:
    key: str
    existed: bool


def add_server(catalog: Catalog, service: str, host: str, port: int) -> Added:
    """Publish a persistent server at host:port unless one is there."""
    return Added(*catalog.add_server(service, host, port, ORIGIN))


def delete_server(catalog: Catalog, service: str, key: str) -> None:
    catalog.delete_member(service, key)


@dataclass(frozen=True)
class StatusSet:
    key: str  # the member's key now (a status change replaces the node)
    changed: bool


def set_server(catalog: Catalog, service: str, key: str, status: str) -> StatusSet:
    """Drain (STOPPED) or enable (ALIVE) a persistent server; idempotent."""
    return StatusSet(*catalog.set_status(service, key, status))
