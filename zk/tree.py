"""A two-level view of ``root/<group>/<leaf>`` kept current by watches.

Reads are answered from memory; ZooKeeper is asked only when a watch says
something changed. One worker per tree applies changes in batches and
publishes an immutable snapshot, so readers never see half an update.

The watch is one persistent recursive watch on the root where ZooKeeper
has them (3.6+): a change costs one read of the node that changed. Older
servers get one-shot watches on every node, and a change of a group's
members re-reads its children list.

kazoo does not re-send watches after a reconnect, so every (re)connection
triggers a resync. The first load reads everything; a later resync under a
recursive watch asks each group's stat and re-reads only the groups whose
children or data changed (their ``pzxid`` and ``mzxid`` tell). One-shot
watches must be set again on every node, so there a resync re-reads all.
While the connection is down or a resync runs, the last view stays readable
and ``stale`` says so.

Loads are bulk reads (``zk.load``): they pipeline at most ``WINDOW`` reads
at once, so the connection is never flooded and other trees' requests get
through; an answer may take ``bulk_timeout``, not a request's
``op_timeout``; and a load that fails (ZooKeeper gone, a timeout) is retried
with backoff until it succeeds, never abandoned.
"""

import collections
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Generic, NamedTuple, TypeVar

from kazoo.exceptions import NoNodeError
from kazoo.protocol.states import EventType, WatchedEvent, ZnodeStat

from .cluster import Cluster
from .errors import Unavailable
from .load import WINDOW, Progress, Read, pipelined

__all__ = ["CHUNK", "WINDOW", "Group", "Leaf", "Progress", "Stat", "WatchedTree"]

log = logging.getLogger(__name__)

T = TypeVar("T")  # what a tree's ``decode`` makes of a leaf's data


class Work(NamedTuple):
    """What the worker is to re-read: ``kind`` names it, ``group`` and
    ``leaf`` the node where it is one group's or one leaf's."""

    kind: str  # "resync", "root", "group" (its children), "gdata" (its data) or "leaf"
    group: str | None = None
    leaf: str | None = None


_RESYNC = Work("resync")
_ROOT = Work("root")
_STOP = object()
_INBOX = ("inbox",)  # a wake-up for events in the inbox
CHUNK = 500  # groups read per step of a load: progress moves by these


class Backoff(NamedTuple):
    """How long a failed batch waits before it is tried again (seconds)."""

    first: float
    longest: float


BACKOFF = Backoff(first=0.5, longest=30.0)


@dataclass(frozen=True, slots=True)
class Stat:
    """The fields of a leaf's stat the gateway uses; kazoo's ZnodeStat has
    eleven, and at 100,000 members the rest cost about 25 MB."""

    mzxid: int
    ctime: int
    mtime: int
    version: int
    ephemeralOwner: int

    @classmethod
    def of(cls, stat: ZnodeStat) -> "Stat":
        return cls(stat.mzxid, stat.ctime, stat.mtime, stat.version, stat.ephemeralOwner)


@dataclass(frozen=True, slots=True)
class Leaf(Generic[T]):
    name: str
    data: bytes  # kept only when ``decode`` made nothing of it
    stat: Stat
    value: T  # what ``decode`` made of data


@dataclass(frozen=True)
class Group(Generic[T]):
    name: str
    data: bytes = b""
    stat: ZnodeStat | None = None  # of the group node itself
    pzxid: int = 0  # zxid of the last child created or deleted
    leaves: dict[str, Leaf[T]] = field(default_factory=dict)

    @property
    def version(self) -> int:
        """Grows with every change to the group, its data or a leaf: the same
        value on every gateway that sees the same ZooKeeper state."""
        zxids = [self.pzxid, self.stat.mzxid if self.stat else 0]
        zxids.extend(leaf.stat.mzxid for leaf in self.leaves.values())
        return max(zxids)


class _Listing(NamedTuple):
    """A group as read by a load, before its new leaves are read."""

    name: str
    kept: list[str]  # the names of its leaves
    cstat: ZnodeStat  # the stat that came with its children list
    data: bytes
    stat: ZnodeStat  # of the group node itself
    leaves: dict[str, Leaf[Any]]  # the leaves already known, by name


class WatchedTree(Generic[T]):
    def __init__(
        self,
        cluster: Cluster,
        root: str,
        accept_group: Callable[[str], bool],
        accept_leaf: Callable[[str], bool],
        decode: Callable[[bytes], T],
    ) -> None:
        self.cluster = cluster
        self.root = root
        self._accept_group = accept_group
        self._accept_leaf = accept_leaf
        self._decode = decode
        self._published: dict[str, Group[T]] = {}
        self._work: dict[str, Group[T]] = {}
        self._dirty: dict[Work, None] = {}
        self._cond = threading.Condition()
        self._started = 0
        self._done = 0
        self._listeners: list[Callable[[set[str]], None]] = []
        self._skipped: set[str] = set()
        self._loaded = threading.Event()
        self._wake: Any = None  # the handler's queue: work and wake-ups for the worker
        self._inbox: collections.deque[WatchedEvent] = (
            collections.deque()
        )  # the recursive watch's events, not yet sorted
        self._watch: Callable[[WatchedEvent], None] | None = (
            self._on_event
        )  # for each read; None under a recursive watch
        self._syncing = False  # a resync is due or running: the view may be behind
        self._retry: dict[Work, None] = {}  # items of failed batches, marked again after a backoff
        self._failures = 0  # failed batches in a row
        self.progress = Progress()  # the running load, or the last one
        self.last_load: Progress | None = None  # the last finished load (Progress)
        self.leaf_updates = 0  # data changes of known leaves (lease renews)

    # -- life --------------------------------------------------------------

    def start(self) -> None:
        handler = self.cluster.client.handler
        self._wake = handler.queue_impl()
        handler.spawn(self._run)
        # the first load too: on the first connection (at once if there is one)
        self.cluster.on_session(lambda new: self._mark(_RESYNC))

    def stop(self) -> None:
        if self._wake is not None:
            self._wake.put(_STOP)

    def subscribe(self, listener: Callable[[set[str]], None]) -> None:
        """``listener(changed_group_names)`` after each published batch."""
        self._listeners.append(listener)

    # -- reads -------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._loaded.is_set()

    @property
    def stale(self) -> bool:
        """True while the view may be behind ZooKeeper."""
        return self._syncing or not (self.cluster.connected and self._loaded.is_set())

    def groups(self) -> dict[str, Group[T]]:
        """The whole snapshot, name -> Group. Raises Unavailable if never loaded."""
        self._need_loaded()
        return self._published

    def group(self, name: str) -> Group[T] | None:
        self._need_loaded()
        return self._published.get(name)

    def _need_loaded(self) -> None:
        if not self._loaded.is_set() and not self.cluster.wait_for(self._loaded.wait):
            progress = self.progress
            if progress.running:
                raise Unavailable(
                    "ZooKeeper zkidc %s: still loading %s (%d of %d read); retry shortly"
                    % (self.cluster.name, self.root, progress.done, progress.total)
                )
            raise Unavailable("ZooKeeper zkidc %s: no view of %s yet" % (self.cluster.name, self.root))

    def sync(
        self, name: str | None = None, timeout: float | None = None, data: bool = False, leaf: str | None = None
    ) -> bool:
        """Re-read one group (or the root) now and wait until it is published;
        False when that took longer than ``timeout`` (default op_timeout).

        Writers call this so that the same client reads its own write at once.
        The group's children are re-read; its own data (``data=True``) and a
        leaf that existed before (``leaf=<name>``) only when asked, because
        the watch event of a ``set`` may still be on its way when it returns.
        """
        items = [Work("group", name) if name else _ROOT]
        if name and data:
            items.append(Work("gdata", name))
        if name and leaf:
            items.append(Work("leaf", name, leaf))
        after = self._mark(*items)

        def published(seconds: float) -> bool:
            with self._cond:
                return self._cond.wait_for(lambda: self._done > after, seconds)

        return self.cluster.wait_for(published, timeout)

    def refresh(self, name: str, leaf: str) -> None:
        """Re-read one leaf soon, without waiting: the caller saw ZooKeeper
        hold a newer version than the view (a change made while a resync
        skipped the group)."""
        self._mark(Work("leaf", name, leaf))

    def settle(self, name: str, check: Callable[[Group[T] | None], bool], timeout: float | None = None) -> None:
        """Wait until ``check(group or None)`` holds for what is published of
        group ``name``; re-read the group (``sync``) only if it does not.

        After a write by this client the watch event is already on its way
        (ZooKeeper sends a client the event of its own write before the
        write's answer), so the next batch shows the write without a second
        read of a possibly long children list.
        """

        def settled(seconds: float) -> bool:
            with self._cond:
                return self._cond.wait_for(lambda: check(self._published.get(name)), seconds)

        limit = self.cluster.op_timeout / 4 if timeout is None else timeout
        if not self.cluster.wait_for(settled, limit):
            self.sync(name)

    # -- events ------------------------------------------------------------

    def _mark(self, *items: Work) -> int:
        """Queue items for the worker; several at once land in one batch.

        Returns the number of batches started so far: the next one to
        complete after that count has seen these items.
        """
        with self._cond:
            new = any(item not in self._dirty for item in items)
            self._dirty.update(dict.fromkeys(items))
            if _RESYNC in items:
                self._syncing = True
            started = self._started
        if new and self._wake is not None:
            self._wake.put(items[0])
        return started

    def _on_event(self, event: WatchedEvent) -> None:
        """A one-shot watch fired (on kazoo's event thread)."""
        items = self._items(event)
        if items:
            self._mark(*items)

    def _on_recursive(self, event: WatchedEvent) -> None:
        """The recursive watch's events come straight from the connection's
        loop, which must never wait: no lock here, the worker sorts them out."""
        self._inbox.append(event)
        self._wake.put(_INBOX)

    def _items(self, event: WatchedEvent) -> tuple[Work, ...]:
        """What to re-read for an event."""
        path = event.path
        if event.type == EventType.NONE or not path:
            return ()
        if path == self.root:
            return (_ROOT,)
        if not path.startswith(self.root + "/"):
            return ()
        parts = path[len(self.root) + 1 :].split("/")
        if len(parts) == 1:
            (group,) = parts
            if event.type == EventType.CHILD:
                return (Work("group", group),)
            if event.type == EventType.CHANGED:
                return (Work("gdata", group),)
            if event.type == EventType.CREATED:  # (recursive watch) maybe deleted and re-created
                return (_ROOT, Work("gdata", group))
            return (_ROOT,)
        if len(parts) == 2 and self._accept_leaf(parts[1]):
            group, leaf = parts
            return (Work("leaf", group, leaf),)
        return ()

    def _drain_inbox(self) -> None:
        """Move the recursive watch's events into the work (holding _cond)."""
        while self._inbox:
            self._dirty.update(dict.fromkeys(self._items(self._inbox.popleft())))

    # -- worker ------------------------------------------------------------

    def _run(self) -> None:
        while True:
            if self._wake.get() is _STOP:
                return
            with self._cond:
                self._drain_inbox()
                if not self._dirty:
                    continue  # taken by the batch before (its second look, _take_rest)
                items = list(self._dirty)
                self._dirty.clear()
                self._started += 1
            changed: set[str] = set()
            failure = None
            try:
                self._apply(items, changed)
                if self._watch is None:
                    self._apply(self._take_rest(), changed)
            except Unavailable as exc:
                failure = exc.message
            except Exception:
                log.exception("cache of %s on %s failed a batch", self.root, self.cluster.name)
                failure = "failed a batch"
            if failure is None:
                self._failures = 0
            else:
                delay = self._try_again(items)
                log.warning(
                    "cache of %s on %s: %s; trying again in %.1f s", self.root, self.cluster.name, failure, delay
                )
            if changed:
                self._published = dict(self._work)
            with self._cond:
                self._done += 1
                self._cond.notify_all()
            if changed:
                for listener in self._listeners:
                    try:
                        listener(changed)
                    except Exception:
                        log.exception("cache listener failed")

    def _try_again(self, items: list[Work]) -> float:
        """Mark a failed batch's items again after a backoff that doubles
        with each failure in a row: a load is never abandoned, and a
        ZooKeeper in trouble is not hammered. A resync that succeeds
        meanwhile covers them all."""
        delay = min(BACKOFF.longest, BACKOFF.first * 2**self._failures)
        self._failures += 1
        with self._cond:
            scheduled = bool(self._retry)
            self._retry.update(dict.fromkeys(items))
        if scheduled:
            return delay
        handler = self.cluster.handler

        def later() -> None:
            handler.sleep_func(delay)
            with self._cond:
                due, self._retry = list(self._retry), {}
            if due:
                self._mark(*due)

        handler.spawn(later)
        return delay

    def _take_rest(self) -> list[Work]:
        """Leaf events that came in while the batch read ZooKeeper.

        Under a recursive watch, each event of a transaction is a separate
        message (a replaced member: one created, one deleted), all sent
        before the answer to any later read; by the time the batch's reads
        are answered, the rest of every transaction it began is here, and
        it is applied before the batch is published, so a view never shows
        half a transaction.
        """
        with self._cond:
            self._drain_inbox()
            rest = [item for item in self._dirty if item.kind == "leaf"]
            for item in rest:
                del self._dirty[item]
        return rest

    def _apply(self, items: list[Work], changed: set[str]) -> None:
        if _RESYNC in items:
            self._resync(changed)
            return
        leaves: list[tuple[str, str]] = []
        for kind, group, leaf in items:
            if kind == "root":
                self._refresh_root(changed)
            elif kind == "group":
                if group is None:
                    self._refresh_root(changed)
                elif group in self._work or self._accept_group(group):
                    self._load_groups([group], changed)
            elif kind == "gdata" and group in self._work:
                self._refresh_group_data(group, changed)
            elif kind == "leaf" and group in self._work and leaf is not None:
                leaves.append((group, leaf))
        if leaves:
            self._refresh_leaves(leaves, changed)

    def _path(self, *names: str) -> str:
        return "/".join((self.root,) + names)

    def _root_children(self) -> list[str]:
        try:
            children = self.cluster.wait(
                self.cluster.submit("get_children", self.root, watch=self._watch), self.cluster.bulk_timeout
            )
        except NoNodeError:
            self.cluster.wait(self.cluster.submit("exists", self.root, watch=self._watch), self.cluster.bulk_timeout)
            return []
        names = []
        for name in children:
            if self._accept_group(name):
                names.append(name)
            elif name not in self._skipped:
                self._skipped.add(name)
                log.warning("skipping %s/%s: not a valid service name", self.root, name)
        return names

    # -- loads -------------------------------------------------------------

    def _resync(self, changed: set[str]) -> None:
        """Read the whole tree again after a (re)connection.

        The new view is built apart and swapped in whole: a resync that
        fails half-way publishes nothing and is tried again.
        """
        recursive = self.cluster.watch_tree(self.root, self._on_recursive)
        self._watch = None if recursive else self._on_event
        before = self._work
        kind = "resync" if self._loaded.is_set() else "load"
        started = time.monotonic()
        names = self._root_children()
        self.progress = progress = Progress(running=True, kind=kind, total=len(names))
        log.info("cache of %s on %s: %s of %d groups started", self.root, self.cluster.name, kind, len(names))
        try:
            if recursive and before:
                unchanged, names = self._unchanged(names, before)
                work: dict[str, Group[T]] = {name: before[name] for name in unchanged}
                progress.done = len(work)
            else:
                work = {}  # one-shot watches are set again by reading every node
            for first in range(0, len(names), CHUNK):
                chunk = names[first : first + CHUNK]
                work.update(self._read_groups(chunk, before if recursive else {}, reuse_data=False))
                progress.done += len(chunk)
                progress.read += len(chunk)
        finally:
            progress.running = False
        progress.seconds = time.monotonic() - started
        self.last_load = progress
        changed.update(set(before) ^ set(work))
        changed.update(name for name, group in work.items() if name in before and before[name] != group)
        self._work = work
        with self._cond:
            self._retry.clear()
            self._syncing = _RESYNC in self._dirty
        self._loaded.set()
        leaves = sum(len(group.leaves) for group in work.values())
        log.info(
            "cache of %s on %s: %s done in %.1f s: %d groups, %d re-read, %d leaves",
            self.root,
            self.cluster.name,
            kind,
            progress.seconds,
            len(work),
            progress.read,
            leaves,
        )
        if leaves >= FREEZE_FROM:
            keep_out_of_collections()

    def _unchanged(self, names: list[str], before: dict[str, Group[T]]) -> tuple[list[str], list[str]]:
        """Split ``names`` into the groups whose stat shows no change since
        ``before`` (no child created or deleted, no data set) and the rest."""
        unchanged: list[str] = []
        rest: list[str] = []
        reads = [Read(name, "exists", self._path(name)) for name in names if name in before]
        stats = dict(pipelined(self.cluster, reads))
        for name in names:
            stat, old = stats.get(name), before.get(name)
            if (
                old is not None
                and stat is not None
                and old.stat is not None
                and (stat.pzxid == old.pzxid and stat.mzxid == old.stat.mzxid)
            ):
                unchanged.append(name)
            else:
                rest.append(name)
        return unchanged, rest

    def _refresh_root(self, changed: set[str]) -> None:
        names = self._root_children()
        gone = set(self._work) - set(names)
        for name in gone:
            del self._work[name]
        changed.update(gone)
        self._load_groups([n for n in names if n not in self._work], changed)

    def _load_groups(self, names: list[str], changed: set[str]) -> None:
        """Read groups that a watch or a writer named into the view; the
        data of a group already known is kept current by its own watch."""
        groups = self._read_groups(names, self._work, reuse_data=True)
        for name in names:
            group = groups.get(name)
            if group is None:
                if self._work.pop(name, None) is not None:
                    changed.add(name)
            elif group != self._work.get(name):
                self._work[name] = group
                changed.add(name)

    def _read_groups(self, names: list[str], known: dict[str, Group[T]], reuse_data: bool) -> dict[str, Group[T]]:
        """Read (and watch) groups ``names``: children, data and the leaves
        not in ``known`` (name -> Group). Returns name -> Group of those
        that exist."""
        reads: list[Read[tuple[str, str]]] = []
        for name in names:
            reads.append(
                Read((name, "children"), "get_children", self._path(name), {"watch": self._watch, "include_data": True})
            )
            if not (reuse_data and name in known):
                reads.append(Read((name, "data"), "get", self._path(name), {"watch": self._watch}))
        answers = dict(pipelined(self.cluster, reads))
        listed: list[_Listing] = []
        for name in names:
            children = answers.get((name, "children"))
            data = answers.get((name, "data")) if (name, "data") in answers else (known[name].data, known[name].stat)
            if children is None or data is None:
                continue  # deleted meanwhile; the root's watch says so too
            (children, cstat), (data, stat) = children, data
            old = known.get(name)
            leaves = {} if old is None else old.leaves
            kept = [n for n in children if self._accept_leaf(n)]
            listed.append(_Listing(name, kept, cstat, data, stat, leaves))
        found = self._fetch_leaves([(g.name, n) for g in listed for n in g.kept if n not in g.leaves])
        groups: dict[str, Group[T]] = {}
        for g in listed:
            now: dict[str, Leaf[T]] = {}
            for n in g.kept:
                leaf = g.leaves.get(n) or found.get((g.name, n))
                if leaf is not None:
                    now[n] = leaf
            groups[g.name] = Group(g.name, g.data or b"", g.stat, g.cstat.pzxid, now)
        return groups

    def _fetch_leaves(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Leaf[T]]:
        """Read leaves ``pairs`` = [(group, name)], pipelined; those that exist,
        as (group, name) -> Leaf."""
        reads = [Read(pair, "get", self._path(*pair), {"watch": self._watch}) for pair in pairs]
        leaves: dict[tuple[str, str], Leaf[T]] = {}
        for (group, name), answer in pipelined(self.cluster, reads):
            if answer is not None:
                data, stat = answer
                value = self._decode(data or b"")
                # raw bytes only where they are all there is to show
                leaves[group, name] = Leaf(name, data or b"" if value is None else b"", Stat.of(stat), value)
        return leaves

    def _refresh_group_data(self, name: str, changed: set[str]) -> None:
        try:
            data, stat = self.cluster.call("get", self._path(name), watch=self._watch)
        except NoNodeError:
            return  # the root's watch removes it
        old = self._work[name]
        self._work[name] = replace(old, data=data or b"", stat=stat)
        changed.add(name)

    def _refresh_leaves(self, items: list[tuple[str, str]], changed: set[str]) -> None:
        """Re-read changed leaves, ``items`` = [(group, leaf name)]; each
        group's leaves are copied once, however many of them changed."""
        found = self._fetch_leaves(items)
        by_group: dict[str, list[str]] = {}
        for group, name in items:
            by_group.setdefault(group, []).append(name)
        emptied: set[str] = set()
        for group, names in by_group.items():
            old = self._work.get(group)
            if old is None:
                continue
            leaves, touched = dict(old.leaves), False
            for name in names:
                leaf, current = found.get((group, name)), leaves.get(name)
                if leaf is None:
                    if current is not None:
                        del leaves[name]
                        emptied.add(group)
                        touched = True
                elif current is None or current.stat.mzxid != leaf.stat.mzxid:
                    self.leaf_updates += current is not None
                    leaves[name] = leaf
                    touched = True
            if touched:
                self._work[group] = replace(old, leaves=leaves)
                changed.add(group)
        if emptied and self._watch is None:
            self._refresh_pzxids(emptied)

    def _refresh_pzxids(self, names: Iterable[str]) -> None:
        """After deletions seen through the recursive watch: the zxid of the
        deletion, for ``Group.version`` (a child watch would re-read the
        children list and learn it from there)."""
        for name, stat in pipelined(self.cluster, [Read(n, "exists", self._path(n)) for n in names]):
            group = self._work.get(name)
            if stat is not None and group is not None and stat.pzxid > group.pzxid:
                self._work[name] = replace(group, pzxid=stat.pzxid)


FREEZE_FROM = 10_000  # leaves: below, a full collection is quick and not worth one more after each load


def keep_out_of_collections() -> None:
    """After a load: leave everything alive now out of the cyclic garbage
    collector's full collections (``gc.freeze``), after one last of them.

    A full collection walks every object the process tracks, and runs each
    time long-lived objects have grown by a quarter. With 10,000 services of
    10 members cached, one took 0.3 to 0.4 s, the whole worker stopped:
    every request, renew and long poll waited; after the freeze they took
    1 to 41 ms. What a load reads stays until a change replaces it, and a
    replaced group is freed by its reference count (the cache holds no
    cycles; tests/test_cache.py checks), so leaving it out costs nothing;
    only what changes bring later is walked again.
    """
    gc.collect()
    gc.freeze()
