"""Members that applications register and keep alive with heartbeats.

Each registered instance has an identity (the dialect decides what it is
made of) and two znodes:

- its member, EPHEMERAL_SEQUENTIAL under ``/soa/services/<service>``, owned
  by this process's session and carrying ``instance.lease`` (the identity key)
  and ``instance.policy`` (when it lapses);
- its lease, PERSISTENT at ``/soa/leases/<service>/<identity key>``. A renew
  is one ``set`` on it, so its ``mtime`` (ZooKeeper's clock) is the last
  heartbeat whichever gateway replica heard it; nothing under /soa/services
  is written by a renew.

Every change of a member is one transaction: create the new member, delete
the old one, touch the lease with its expected version (so two replicas
registering the same identity at once cannot both win). After a session
expiry the members this process owned are re-created on the new session.
"""

import hashlib
import logging
from collections.abc import Callable, Collection
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError
from kazoo.protocol.states import ZnodeStat

from . import codec
from .codec import Member
from .errors import NotFound, Unavailable
from .paths import is_service
from .status import Policy, is_lapsed, revived  # noqa: F401 - Policy is also imported from here
from .tree import Group, Leaf, WatchedTree

if TYPE_CHECKING:
    from .catalog import Catalog

log = logging.getLogger(__name__)

Build = Callable[[Member | None], Member]  # the member to publish, from the one published before (or None)


class Published(NamedTuple):
    """A registration's outcome."""

    key: str  # the member's key
    created: bool  # False when an earlier registration of the identity was replaced


class _Index(NamedTuple):
    """A service's published leaves by lease key, for one snapshot of it."""

    group: Group[Member | None]
    by_key: dict[str, list[Leaf[Member]]]


def identity_key(*parts: object) -> str:
    """A znode-safe, fixed-length key for an identity tuple."""
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8", "surrogatepass")).hexdigest()


class Instances:
    """Registration, renew, cancel and recovery of leased members on one zkidc."""

    def __init__(self, catalog: "Catalog", attempts: int = 4) -> None:
        self.catalog = catalog
        self.cluster = catalog.cluster
        self.root = catalog.layout.beside("leases")
        self.leases: WatchedTree[None] = WatchedTree(
            self.cluster, self.root, is_service, lambda name: True, lambda data: None
        )
        self.attempts = attempts
        self._owned: dict[tuple[str, str], Member] = {}  # (service, key) -> Member this process last published
        self._sessions: set[int | None] = set()  # every session id this process has had
        self._recovery_due = False  # a recovery stopped by a lost connection resumes on reconnect
        self._parents: set[str] = set()
        self._index: dict[str, _Index] = {}
        self.counters = {"registrations": 0, "renews": 0, "cancels": 0, "recreated": 0}

    def start(self) -> None:
        self.leases.start()
        self.cluster.on_session(self._on_session)

    # -- lookups -----------------------------------------------------------

    def lookup(self, service: str, key: str, fresh: bool = False) -> list[Leaf[Member]]:
        """Leaves of ``service`` published for identity ``key`` (from the cache).

        ``fresh``: when the cache has nothing, re-read the service first (a
        client that registered through another replica a moment ago).
        """
        if fresh:
            leaves = self.lookup(service, key)
            if not leaves:
                self.catalog.tree.sync(service)
                leaves = self.lookup(service, key)
            return leaves
        group = self.catalog.tree.group(service)
        if group is None:
            return []
        cached = self._index.get(service)
        if cached is None or cached.group is not group:
            index: dict[str, list[Leaf[Member]]] = {}
            for leaf in group.leaves.values():
                lease = leaf.value.instance.get("lease") if leaf.value is not None else None
                if lease:
                    index.setdefault(lease, []).append(cast("Leaf[Member]", leaf))  # it has a value
            cached = self._index[service] = _Index(group, index)
        return cached.by_key.get(key, [])

    def lease_path(self, service: str, key: str) -> str:
        return "%s/%s/%s" % (self.root, service, key)

    # -- writes ------------------------------------------------------------

    def register(
        self, service: str, key: str, build: Build, policy: Policy | Callable[[Member | None], Policy]
    ) -> Published:
        """Publish ``build(old_member_or_None)`` for identity ``key``.

        ``policy`` is a Policy, or a function of the old member (None for a
        new identity) returning one, for dialects whose policy depends on
        what was published before (a disabled instance that never lapses).
        Returns (member key, created) where created is False when an earlier
        registration of the same identity was replaced.
        """
        self._ensure_parents(service)

        def stamp(old: Member | None) -> Member:
            return self._stamp(build(old), key, policy(old) if callable(policy) else policy)

        # The common case, a new identity, takes one round trip; an identity
        # registered before (its lease exists) is replaced instead.
        done = self._create(service, key, stamp(None))
        for _ in range(self.attempts):
            if done is not None:
                return done
            done = self._swap(service, key, stamp)
        raise Unavailable("registration of %s in %s kept conflicting; retry" % (key, service))

    def _create(self, service: str, key: str, member: Member) -> Published | None:
        """Create lease and member together; None when the lease exists."""
        txn = self.cluster.transaction()
        txn.create(self.lease_path(service, key), b"")
        txn.create(self.catalog.layout.member_prefix(service), codec.encode(member), ephemeral=True, sequence=True)
        try:
            results = self.cluster.commit(txn)
        except NodeExistsError:
            return None
        except NoNodeError:  # the service or the lease parent went away meanwhile
            self._parents.discard(service)
            self._ensure_parents(service)
            return None
        return self._published(service, key, member, results[1], created=True)

    def replace(
        self,
        service: str,
        key: str,
        build: Callable[[Member], Member],
        policy: Policy | None = None,
        heartbeat: bool = True,
    ) -> str:
        """Republish an existing identity as ``build(old_member)`` (status changes).

        The lapse policy stays as it was unless a new ``policy`` is given.
        ``heartbeat=False`` leaves the lease's mtime (the last heartbeat) as it
        is: the evictor marking a silent instance must not restart its silence.
        """
        if not self.lookup(service, key, fresh=True):
            raise NotFound("instance is not registered")

        def rebuild(old: Member | None) -> Member:
            assert old is not None  # must_exist: _swap raises NotFound when there is none
            return self._restamp(build(old), old, policy)

        for _ in range(self.attempts):
            done = self._swap(service, key, rebuild, must_exist=True, heartbeat=heartbeat)
            if done is not None:
                return done.key
        raise Unavailable("update of %s in %s kept conflicting; retry" % (key, service))

    def _swap(
        self, service: str, key: str, build: Build, must_exist: bool = False, heartbeat: bool = True
    ) -> Published | None:
        """One attempt at replacing the identity's member(s); None to retry.

        The lease's version guards the swap; ``heartbeat`` also moves its mtime.
        """
        lease = self.lease_path(service, key)
        stat = self.cluster.call("exists", lease)
        self.catalog.tree.sync(service)
        olds = self.lookup(service, key)
        if must_exist and not olds:
            raise NotFound("instance is not registered")
        if stat is None:
            if must_exist:
                raise NotFound("instance is not registered")
            return self._adopt(service, key, olds, build) if olds else self._create(service, key, build(None))
        member = build(olds[0].value if olds else None)
        txn = self.cluster.transaction()
        if heartbeat:
            txn.set_data(lease, b"", version=stat.version)
        else:
            txn.check(lease, stat.version)
        txn.create(self.catalog.layout.member_prefix(service), codec.encode(member), ephemeral=True, sequence=True)
        for leaf in olds:
            txn.delete(self.catalog.layout.member(service, leaf.name))
        try:
            results = self.cluster.commit(txn)
        except (BadVersionError, NoNodeError, NodeExistsError):
            return None
        return self._published(service, key, member, results[1], created=not olds, replaced=olds)

    def _adopt(self, service: str, key: str, olds: list[Leaf[Member]], build: Build) -> Published | None:
        """Members without a lease (it was removed by hand): give them one."""
        member = build(olds[0].value)
        txn = self.cluster.transaction()
        txn.create(self.lease_path(service, key), b"")
        txn.create(self.catalog.layout.member_prefix(service), codec.encode(member), ephemeral=True, sequence=True)
        for leaf in olds:
            txn.delete(self.catalog.layout.member(service, leaf.name))
        try:
            results = self.cluster.commit(txn)
        except (NodeExistsError, NoNodeError):
            return None
        return self._published(service, key, member, results[1], created=False, replaced=olds)

    def renew(self, service: str, key: str) -> Member:
        """Heartbeat: one write to the lease. Returns the published Member.

        NotFound when the instance is not (or no longer) registered: its
        client should register again.
        """
        leaves = self.lookup(service, key, fresh=True)
        if not leaves:
            raise NotFound("instance is not registered")
        try:
            self.cluster.touch(self.lease_path(service, key))
        except NoNodeError:
            raise NotFound("instance lease expired; register again") from None
        self.counters["renews"] += 1
        member = leaves[0].value
        if is_lapsed(member):  # it had been marked DEAD for silence
            self.replace(service, key, revived)
        return member

    def cancel(self, service: str, key: str) -> None:
        """Remove the identity's member(s) and lease at once."""
        for _ in range(self.attempts):
            leaves = self.lookup(service, key, fresh=True)
            lease = self.lease_path(service, key)
            stat = self.cluster.call("exists", lease)
            if not leaves and stat is None:
                raise NotFound("instance is not registered")
            txn = self.cluster.transaction()
            for leaf in leaves:
                txn.delete(self.catalog.layout.member(service, leaf.name))
            if stat is not None:
                txn.delete(lease)
            try:
                self.cluster.commit(txn)
            except NoNodeError:
                self.catalog.tree.sync(service)
                continue
            self._owned.pop((service, key), None)
            self.counters["cancels"] += 1
            self.catalog.tree.sync(service)
            return
        raise Unavailable("cancel of %s in %s kept conflicting; retry" % (key, service))

    def evict(self, service: str, leaf: Leaf[Member]) -> bool:
        """Remove one lapsed member and its lease (the evictor's job)."""
        key = leaf.value.instance.get("lease", "")
        txn = self.cluster.transaction()
        txn.delete(self.catalog.layout.member(service, leaf.name), version=leaf.stat.version)
        stat = self.cluster.call("exists", self.lease_path(service, key)) if key else None
        if stat is not None:
            if self._renewed_unseen(service, key, stat):
                return False
            # at this version only: a renew that lands meanwhile cancels the eviction
            txn.delete(self.lease_path(service, key), version=stat.version)
        try:
            self.cluster.commit(txn)
        except (NoNodeError, BadVersionError):
            return False
        self._owned.pop((service, key), None)
        return True

    def _renewed_unseen(self, service: str, key: str, stat: ZnodeStat) -> bool:
        """True when ZooKeeper holds another version of the lease than the
        view: a resync skips the lease groups whose children did not
        change, so renews made while this replica was disconnected show
        only from the next one on. Asked before every eviction, so none is
        evicted for a renew the view missed; the lease is re-read and the
        next sweep decides."""
        group = self.leases.group(service) if self.leases.loaded else None
        cached = group.leaves.get(key) if group is not None else None
        if cached is not None and stat.mzxid == cached.stat.mzxid:
            return False
        self.leases.refresh(service, key)
        return True

    def delete_lease(self, service: str, key: str, version: int) -> None:
        try:
            self.cluster.call("delete", self.lease_path(service, key), version=version)
        except (NoNodeError, BadVersionError):
            pass

    # -- helpers -----------------------------------------------------------

    def _ensure_parents(self, service: str) -> None:
        if service in self._parents:
            return
        if self.catalog.tree.group(service) is None:
            self.catalog.create_service(service)
        self.cluster.call("ensure_path", "%s/%s" % (self.root, service))
        self._parents.add(service)

    @staticmethod
    def _stamp(member: Member, key: str, policy: Policy) -> Member:
        return replace(member, instance={**member.instance, "lease": key, "policy": asdict(policy)})

    @staticmethod
    def _restamp(member: Member, old: Member, policy: Policy | None = None) -> Member:
        keep: dict[str, Any] = {
            k: old.instance[k] for k in ("lease", "policy") if k in old.instance and k not in member.instance
        }
        if policy is not None:
            keep["policy"] = asdict(policy)
        return replace(member, instance={**member.instance, **keep})

    def _published(
        self, service: str, key: str, member: Member, path: str, created: bool, replaced: Collection[Leaf[Member]] = ()
    ) -> Published:
        self._owned[(service, key)] = member
        self.counters["registrations"] += 1
        name = path.rsplit("/", 1)[1]
        gone = [leaf.name for leaf in replaced]
        self.catalog.tree.settle(
            service,
            lambda group: group is not None and name in group.leaves and not any(old in group.leaves for old in gone),
        )
        return Published(name, created)

    # -- session expiry ----------------------------------------------------

    def _on_session(self, new: bool) -> None:
        if new:
            first = not self._sessions
            self._sessions.add(self.cluster.session_id)
            self._recovery_due = self._recovery_due or not first
        if self._recovery_due and self._owned:
            self.cluster.handler.spawn(self.recover)

    def recover(self) -> None:
        """Re-create the members this process owned, on its new session.

        A member still there under one of our old sessions (its expiry has
        not reached the server yet) is replaced, not duplicated; one that
        another replica now owns, or whose lease is gone, is let go.
        """
        session = self.cluster.session_id
        self._recovery_due = False
        try:
            # after the new session's resync: decisions below read the view
            if not self.catalog.tree.sync(timeout=self.cluster.bulk_timeout):
                log.warning("recovery on zkidc %s: the view did not catch up in time", self.cluster.name)
        except Unavailable:
            self._recovery_due = True
            return
        recreated = 0
        for (service, key), member in list(self._owned.items()):
            try:
                recreated += self._recover_one(service, key, member, session)
            except Unavailable:
                log.warning("recovery of %s/%s postponed to the next connection: ZooKeeper unavailable", service, key)
                self._recovery_due = True
                break
            except Exception:
                log.exception("recovery of %s/%s failed", service, key)
        self.counters["recreated"] += recreated
        if recreated:
            log.info("re-created %d ephemeral members on zkidc %s after session expiry", recreated, self.cluster.name)

    def _recover_one(self, service: str, key: str, member: Member, session: int | None, attempts: int = 3) -> int:
        """Re-create one member; 1 when it was. A view that is behind (the
        old member still shown after the server deleted it, or a renew
        landing meanwhile) fails the transaction: read again and retry."""
        for _ in range(attempts):
            self.catalog.tree.sync(service, timeout=self.cluster.bulk_timeout)
            leaves = self.lookup(service, key)
            if any(leaf.stat.ephemeralOwner == session for leaf in leaves):
                return 0
            if any(leaf.stat.ephemeralOwner not in self._sessions for leaf in leaves):
                self._owned.pop((service, key), None)  # another replica has it now
                return 0
            stat = self.cluster.call("exists", self.lease_path(service, key))
            if stat is None:
                self._owned.pop((service, key), None)  # cancelled or evicted meanwhile
                return 0
            txn = self.cluster.transaction()
            txn.set_data(self.lease_path(service, key), b"", version=stat.version)
            txn.create(self.catalog.layout.member_prefix(service), codec.encode(member), ephemeral=True, sequence=True)
            for leaf in leaves:  # ours, from a session the server has not expired yet
                txn.delete(self.catalog.layout.member(service, leaf.name))
            try:
                self.cluster.commit(txn)
            except (BadVersionError, NoNodeError, NodeExistsError):
                continue
            self.catalog.tree.sync(service)
            return 1
        log.warning("recovery of %s/%s gave up after %d attempts", service, key, attempts)
        return 0

    def forget_foreign(self) -> None:
        """Drop owned entries another replica has taken over (memory hygiene).

        Only another process's session makes a member foreign: right after a
        session expiry the view still shows our members under the old
        session until its resync, and those are for ``recover`` to re-create.
        """
        for service, key in list(self._owned):
            leaves = self.lookup(service, key)
            if leaves and all(leaf.stat.ephemeralOwner not in self._sessions for leaf in leaves):
                self._owned.pop((service, key), None)

    @property
    def owned(self) -> int:
        return len(self._owned)
