"""Rules of a service (routing, rate limits, circuit breakers), beside the services.

``/soa/rules/<service>/<kind>`` holds one JSON document per service and kind,
``{"rules": [...]}``. Rules live outside ``/soa/services`` because consumers
list every child of a service node. Reads come from a watch cache; writes
are optimistic (with the znode version the cache saw), so two gateways
editing the same rules at once never lose a change.
"""

import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError, NotEmptyError

from . import codec
from .cluster import Cluster
from .errors import Conflict
from .paths import check_service, is_service
from .tree import Leaf, WatchedTree

log = logging.getLogger(__name__)

KINDS = ("routing", "ratelimit", "circuitbreaker")
R = TypeVar("R")
Rule = dict[str, Any]


def optimistic(step: Callable[[], R], resync: Callable[[], object], what: str, attempts: int = 5) -> R:
    """Run ``step()`` until it stops raising Conflict, ``resync()`` between tries."""
    for _ in range(attempts):
        try:
            return step()
        except Conflict:
            resync()
    raise Conflict("%s kept changing while we wrote it; try again" % what)


def decode(data: bytes) -> list[Rule]:
    """The list of rules in a document; odd documents count as no rules."""
    rules = codec.decode_attributes(data).get("rules")
    if not isinstance(rules, list):
        if data:
            log.warning('ignoring a rules document that is not {"rules": [...]}')
        return []
    return [rule for rule in rules if isinstance(rule, dict)]


class Rules:
    """The rules of every service on one zkidc."""

    def __init__(self, cluster: Cluster, root: str) -> None:
        self.cluster = cluster
        self.root = root
        self.tree: WatchedTree[list[Rule]] = WatchedTree(cluster, root, is_service, lambda name: name in KINDS, decode)

    def start(self) -> None:
        self.tree.start()

    def stop(self) -> None:
        self.tree.stop()

    # -- reads (from the cache) -------------------------------------------

    def leaf(self, service: str, kind: str) -> Leaf[list[Rule]] | None:
        """The cached Leaf holding a service's rules of one kind, or None."""
        group = self.tree.group(service)
        return group.leaves.get(kind) if group is not None else None

    def of(self, service: str, kind: str) -> list[Rule]:
        leaf = self.leaf(service, kind)
        return leaf.value if leaf is not None else []

    def kinds(self, service: str) -> list[str]:
        """The kinds of rules a service has."""
        group = self.tree.group(service)
        return sorted(kind for kind, leaf in group.leaves.items() if leaf.value) if group else []

    def every(self, kind: str) -> Iterator[tuple[str, list[Rule]]]:
        """(service, rules) of each service with rules of ``kind``, by name."""
        for name, group in sorted(self.tree.groups().items()):
            leaf = group.leaves.get(kind)
            if leaf is not None and leaf.value:
                yield name, leaf.value

    # -- writes -----------------------------------------------------------

    def edit(self, service: str, kind: str, change: Callable[[list[Rule]], list[Rule]], attempts: int = 5) -> bool:
        """Replace a service's rules of ``kind`` with ``change(rules)``.

        ``change`` gets the current list and returns the new one; an equal
        list writes nothing and an empty one removes the document. Returns
        True when something was written.
        """
        if kind not in KINDS:
            raise ValueError("unknown kind of rules %r" % kind)
        path = "%s/%s/%s" % (self.root, check_service(service), kind)

        def step() -> bool:
            leaf = self.leaf(service, kind)
            current = leaf.value if leaf is not None else []
            rules = change(list(current))
            if rules == current:
                return False
            data = codec.encode_attributes({"rules": rules})
            try:
                if leaf is None:
                    self.cluster.call("create", path, data, makepath=True)
                elif not rules:
                    self.cluster.call("delete", path, version=leaf.stat.version)
                    self._drop_empty(service)
                else:
                    self.cluster.call("set", path, data, version=leaf.stat.version)
            except (BadVersionError, NodeExistsError, NoNodeError):
                raise Conflict("rules %s of %s changed meanwhile" % (kind, service)) from None
            self.tree.sync(service, leaf=kind)
            return True

        return optimistic(
            step, lambda: self.tree.sync(service, leaf=kind), "%s rules of %s" % (kind, service), attempts
        )

    def _drop_empty(self, service: str) -> None:
        try:
            self.cluster.call("delete", "%s/%s" % (self.root, service))
        except (NotEmptyError, NoNodeError):
            pass
