"""Services and their members on one zkidc.

Writes go to ZooKeeper and then wait for the watch cache to show them, so a
client reads its own write; reads come from the cache only.
"""

import logging
from collections.abc import Callable, Mapping
from typing import Any

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError, NotEmptyError

from . import codec
from .changes import Changes
from .cluster import Cluster
from .errors import Conflict, NotEmpty, NotFound, Unsupported
from .evictor import EvictionSettings, Evictor
from .instances import Instances
from .paths import Layout, is_member, is_service
from .replicas import Replicas
from .rules import Rules, optimistic
from .status import last_renew_ms
from .tree import Group, Leaf, WatchedTree

log = logging.getLogger(__name__)


class Catalog:
    """Everything the gateway keeps on one ZooKeeper cluster (one zkidc)."""

    def __init__(
        self,
        cluster: Cluster,
        layout: Layout | None = None,
        eviction: EvictionSettings | None = None,
        replica: str = "gateway",
        zone: str | None = None,
    ) -> None:
        self.cluster = cluster
        self.layout = layout or Layout()
        self.tree: WatchedTree[codec.Member | None] = WatchedTree(
            cluster, self.layout.root, is_service, is_member, lambda data: codec.shared(codec.decode(data))
        )
        self.instances = Instances(self)
        self.evictor = Evictor(self.instances, eviction, replica)
        self.changes = Changes(self.tree)
        self.replicas = Replicas(self, replica, zone or cluster.name)
        self.rules = Rules(cluster, self.layout.beside("rules"))
        self._started = False

    @property
    def name(self) -> str:
        return self.cluster.name

    def start(self) -> None:
        if not self._started:
            self._started = True
            self.tree.start()
            self.instances.start()
            self.evictor.start()
            self.replicas.start()
            self.rules.start()

    def stop(self) -> None:
        self.evictor.stop()
        self.replicas.stop()
        self.rules.stop()
        self.instances.leases.stop()
        self.tree.stop()
        self.cluster.stop()

    # -- reads (from the cache) -------------------------------------------

    @property
    def stale(self) -> bool:
        return self.tree.stale

    def services(self) -> dict[str, Group[codec.Member | None]]:
        """name -> Group of every service, from memory."""
        return self.tree.groups()

    def service(self, name: str) -> Group[codec.Member | None]:
        """The Group of one service, or NotFound."""
        group = self._group(name)
        if group is None:
            raise NotFound("service %s does not exist on zkidc %s" % (name, self.name))
        return group

    def find_member(self, service: str, host: str, port: int) -> str | None:
        """Key of the member published at host:port, or None.

        On a miss the service is re-read first: another replica or worker may
        have created it, or the member, a moment ago (addservice, then
        addserver through a load balancer).
        """
        key = self._cached_member(service, host, port)
        if key is None:
            self.tree.sync(service)
            key = self._cached_member(service, host, port)
        if key is None:
            self.service(service)  # NotFound when the service is not there either
        return key

    def _group(self, name: str) -> Group[codec.Member | None] | None:
        """The cached Group of one service (its name checked), or None."""
        return self.tree.group(self.layout.service(name).rsplit("/", 1)[1])

    def _cached_member(self, service: str, host: str, port: int) -> str | None:
        group = self._group(service)
        for leaf in group.leaves.values() if group is not None else ():
            member = leaf.value
            if member is not None and member.host == host and member.port == port:
                return leaf.name
        return None

    def last_heartbeat(self, service: str, leaf: Leaf[codec.Member | None]) -> int | None:
        """When a leased member last renewed (ms, ZooKeeper's clock; its
        creation until its lease shows, as the evictor counts), else None."""
        key = leaf.value.instance.get("lease") if leaf.value is not None else None
        if not key:
            return None
        group = self.instances.leases.groups().get(service)
        lease = group.leaves.get(key) if group else None
        return last_renew_ms(leaf, lease)

    # -- writes -----------------------------------------------------------

    def create_service(self, name: str, attributes: Mapping[str, Any] | None = None) -> bool:
        """Create the service node; False when it was there already."""
        data = codec.encode_attributes(attributes) if attributes else b""
        try:
            self.cluster.call("create", self.layout.service(name), data, makepath=True)
            created = True
        except NodeExistsError:
            created = False
        self.tree.sync()  # not after Unavailable: that would double the wait
        return created

    def set_attributes(self, name: str, attributes: Mapping[str, Any], version: int = -1) -> None:
        """Write the service node's data; with ``version``, only over that version."""
        try:
            self.cluster.call("set", self.layout.service(name), codec.encode_attributes(attributes), version=version)
        except NoNodeError:
            raise NotFound("service %s does not exist on zkidc %s" % (name, self.name)) from None
        except BadVersionError:
            raise Conflict("service %s was changed meanwhile" % name) from None
        self.tree.sync(name, data=True)

    def edit_attributes(
        self, name: str, change: Callable[[dict[str, Any]], Mapping[str, Any] | None], attempts: int = 5
    ) -> bool:
        """Set the attributes to ``change(current attributes)`` without losing
        a concurrent write; ``change`` returns None when nothing changes.
        Returns True when something was written.
        """

        def step() -> bool:
            group = self.service(name)
            attributes = change(codec.decode_attributes(group.data))
            if attributes is None:
                return False
            assert group.stat is not None  # read with the service node
            self.set_attributes(name, attributes, version=group.stat.version)
            return True

        return optimistic(step, lambda: self.tree.sync(name, data=True), "service %s" % name, attempts)

    def delete_service(self, name: str, force: bool = False) -> None:
        """Delete a service; one with members only when forced."""
        path = self.layout.service(name)
        try:
            if force:
                # One transaction: the service and its members go together or not at all.
                transaction = self.cluster.transaction()
                for child in self.cluster.call("get_children", path):
                    transaction.delete("%s/%s" % (path, child))
                transaction.delete(path)
                self.cluster.commit(transaction)
            else:
                self.cluster.call("delete", path)
        except NoNodeError:
            raise NotFound("service %s does not exist on zkidc %s" % (name, self.name)) from None
        except NotEmptyError:
            raise NotEmpty("service %s still has members; delete them first or pass force=true" % name) from None
        finally:
            self.tree.sync()

    def add_member(self, service: str, member: codec.Member, ephemeral: bool = False) -> str:
        """Create a ``member_`` sequential node; returns its key."""
        try:
            path = self.cluster.call(
                "create", self.layout.member_prefix(service), codec.encode(member), ephemeral=ephemeral, sequence=True
            )
        except NoNodeError:
            raise NotFound("service %s does not exist on zkidc %s" % (service, self.name)) from None
        self.tree.sync(service)
        return path.rsplit("/", 1)[1]

    def add_server(self, service: str, host: str, port: int, origin: str) -> tuple[str, bool]:
        """Publish a persistent member at host:port unless one is there:
        (its key, whether it existed). ``origin`` is its instance.registeredBy."""
        key = self.find_member(service, host, port)
        if key is not None:
            return key, True
        return self.add_member(service, codec.Member(host, port, instance={"registeredBy": origin})), False

    def set_status(self, service: str, key: str, status: str) -> tuple[str, bool]:
        """Drain (STOPPED) or enable (ALIVE) a persistent member.

        ServerSet readers read a member once, so the member is replaced: the
        same data with the new status under a new key, the old one deleted,
        in one transaction. Returns (the key now published, changed).
        """
        path = self.layout.member(service, key)
        try:
            # the stored bytes, not the cache's: every field is kept as written
            old, stat = self.cluster.call("get", path)
        except NoNodeError:
            raise NotFound("member %s of service %s does not exist on zkidc %s" % (key, service, self.name)) from None
        if stat.ephemeralOwner:
            raise Unsupported(
                "member %s of service %s is an application's instance (discovery or instance API); "
                "its status is set through that API" % (key, service)
            )
        data = codec.with_status(old, status)
        if data is None:
            raise Unsupported(
                "member %s of service %s is not ServerSet JSON; its status cannot be set" % (key, service)
            )
        if data == old:
            return key, False
        transaction = self.cluster.transaction()
        transaction.create(self.layout.member_prefix(service), data, sequence=True)
        transaction.delete(path, version=stat.version)
        try:
            results = self.cluster.commit(transaction)
        except NoNodeError:
            raise NotFound("member %s of service %s does not exist on zkidc %s" % (key, service, self.name)) from None
        except BadVersionError:
            raise Conflict("member %s of service %s was changed meanwhile; retry" % (key, service)) from None
        new = results[0].rsplit("/", 1)[1]
        self.tree.settle(service, lambda group: group is not None and new in group.leaves and key not in group.leaves)
        return new, True

    def delete_member(self, service: str, key: str) -> None:
        try:
            self.cluster.call("delete", self.layout.member(service, key))
        except NoNodeError:
            raise NotFound("member %s of service %s does not exist on zkidc %s" % (key, service, self.name)) from None
        self.tree.sync(service)
