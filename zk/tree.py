"""A two-level view of ``root/<group>/<leaf>`` kept current by watches.

Reads are answered from memory; ZooKeeper is asked only when a watch says
something changed. One worker per tree applies changes in batches and
publishes an immutable snapshot, so readers never see half an update.

The watch is one persistent recursive watch on the root where ZooKeeper
has them (3.6+): a change costs one read of the node that changed. Older
servers get one-shot watches on every node, and a change of a group's
members re-reads its children list.

kazoo does not re-send watches after a reconnect, so every (re)connection
triggers a full resync that re-reads and re-watches everything. While the
connection is down the last view stays readable and ``stale`` says so.
"""
import collections
import logging
import threading
from dataclasses import dataclass, field, replace

from kazoo.exceptions import NoNodeError
from kazoo.protocol.states import EventType

from .errors import Unavailable

log = logging.getLogger(__name__)

_RESYNC = ("resync",)
_ROOT = ("root",)
_STOP = object()
_INBOX = ("inbox",)  # a wake-up for events in the inbox


@dataclass(frozen=True)
class Leaf:
    name: str
    data: bytes
    stat: object  # kazoo ZnodeStat
    value: object  # what ``decode`` made of data


@dataclass(frozen=True)
class Group:
    name: str
    data: bytes = b""
    stat: object = None  # of the group node itself
    pzxid: int = 0  # zxid of the last child created or deleted
    leaves: dict = field(default_factory=dict)

    @property
    def version(self):
        """Grows with every change to the group, its data or a leaf: the same
        value on every gateway that sees the same ZooKeeper state."""
        zxids = [self.pzxid, self.stat.mzxid if self.stat else 0]
        zxids.extend(leaf.stat.mzxid for leaf in self.leaves.values())
        return max(zxids)


class WatchedTree:
    def __init__(self, cluster, root, accept_group, accept_leaf, decode):
        self.cluster = cluster
        self.root = root
        self._accept_group = accept_group
        self._accept_leaf = accept_leaf
        self._decode = decode
        self._published = {}
        self._work = {}
        self._dirty = {}
        self._cond = threading.Condition()
        self._started = 0
        self._done = 0
        self._listeners = []
        self._skipped = set()
        self._loaded = threading.Event()
        self._wake = None
        self._inbox = collections.deque()  # the recursive watch's events, not yet sorted
        self._watch = self._on_event  # for each read; None under a recursive watch
        self.leaf_updates = 0  # data changes of known leaves (lease renews)

    # -- life --------------------------------------------------------------

    def start(self):
        handler = self.cluster.client.handler
        self._wake = handler.queue_impl()
        handler.spawn(self._run)
        self.cluster.on_session(lambda new: self._mark(_RESYNC))
        self._mark(_RESYNC)

    def stop(self):
        if self._wake is not None:
            self._wake.put(_STOP)

    def subscribe(self, listener):
        """``listener(changed_group_names)`` after each published batch."""
        self._listeners.append(listener)

    # -- reads -------------------------------------------------------------

    @property
    def loaded(self):
        return self._loaded.is_set()

    @property
    def stale(self):
        """True while the view may be behind ZooKeeper."""
        return not (self.cluster.connected and self._loaded.is_set())

    def groups(self):
        """The whole snapshot, name -> Group. Raises Unavailable if never loaded."""
        self._need_loaded()
        return self._published

    def group(self, name):
        self._need_loaded()
        return self._published.get(name)

    def _need_loaded(self):
        if not self._loaded.is_set() and not self.cluster.wait_for(self._loaded.wait):
            raise Unavailable("ZooKeeper zkidc %s: no view of %s yet" % (self.cluster.name, self.root))

    def sync(self, name=None, timeout=None, data=False, leaf=None):
        """Re-read one group (or the root) now and wait until it is published.

        Writers call this so that the same client reads its own write at once.
        The group's children are re-read; its own data (``data=True``) and a
        leaf that existed before (``leaf=<name>``) only when asked, because
        the watch event of a ``set`` may still be on its way when it returns.
        """
        items = [("group", name) if name else _ROOT]
        if name and data:
            items.append(("gdata", name))
        if name and leaf:
            items.append(("leaf", name, leaf))
        after = self._mark(*items)

        def published(seconds):
            with self._cond:
                return self._cond.wait_for(lambda: self._done > after, seconds)

        self.cluster.wait_for(published, timeout)

    def settle(self, name, check, timeout=None):
        """Wait until ``check(group or None)`` holds for what is published of
        group ``name``; re-read the group (``sync``) only if it does not.

        After a write by this client the watch event is already on its way
        (ZooKeeper sends a client the event of its own write before the
        write's answer), so the next batch shows the write without a second
        read of a possibly long children list.
        """
        def settled(seconds):
            with self._cond:
                return self._cond.wait_for(lambda: check(self._published.get(name)), seconds)

        limit = self.cluster.op_timeout / 4 if timeout is None else timeout
        if not self.cluster.wait_for(settled, limit):
            self.sync(name)

    # -- events ------------------------------------------------------------

    def _mark(self, *items):
        """Queue items for the worker; several at once land in one batch.

        Returns the number of batches started so far: the next one to
        complete after that count has seen these items.
        """
        with self._cond:
            new = any(item not in self._dirty for item in items)
            self._dirty.update(dict.fromkeys(items))
            started = self._started
        if new and self._wake is not None:
            self._wake.put(items[0])
        return started

    def _on_event(self, event):
        """A one-shot watch fired (on kazoo's event thread)."""
        items = self._items(event)
        if items:
            self._mark(*items)

    def _on_recursive(self, event):
        """The recursive watch's events come straight from the connection's
        loop, which must never wait: no lock here, the worker sorts them out."""
        self._inbox.append(event)
        self._wake.put(_INBOX)

    def _items(self, event):
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
            if event.type == EventType.CHILD:
                return (("group", parts[0]),)
            if event.type == EventType.CHANGED:
                return (("gdata", parts[0]),)
            if event.type == EventType.CREATED:  # (recursive watch) maybe deleted and re-created
                return (_ROOT, ("gdata", parts[0]))
            return (_ROOT,)
        if len(parts) == 2 and self._accept_leaf(parts[1]):
            return (("leaf", parts[0], parts[1]),)
        return ()

    def _drain_inbox(self):
        """Move the recursive watch's events into the work (holding _cond)."""
        while self._inbox:
            self._dirty.update(dict.fromkeys(self._items(self._inbox.popleft())))

    # -- worker ------------------------------------------------------------

    def _run(self):
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
            changed = set()
            try:
                self._apply(items, changed)
                if self._watch is None:
                    self._apply(self._take_rest(), changed)
            except Unavailable as exc:
                log.warning("cache of %s on %s: %s", self.root, self.cluster.name, exc.message)
            except Exception:
                log.exception("cache of %s on %s failed a batch", self.root, self.cluster.name)
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

    def _take_rest(self):
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
            rest = [item for item in self._dirty if item[0] == "leaf"]
            for item in rest:
                del self._dirty[item]
        return rest

    def _apply(self, items, changed):
        if _RESYNC in items:
            self._resync(changed)
            return
        leaves = []
        for item in items:
            kind = item[0]
            if kind == "root":
                self._refresh_root(changed)
            elif kind == "group":
                if item[1] is None:
                    self._refresh_root(changed)
                elif item[1] in self._work or self._accept_group(item[1]):
                    self._load_groups([item[1]], changed)
            elif kind == "gdata" and item[1] in self._work:
                self._refresh_group_data(item[1], changed)
            elif kind == "leaf" and item[1] in self._work:
                leaves.append(item[1:])
        if leaves:
            self._refresh_leaves(leaves, changed)

    def _path(self, *names):
        return "/".join((self.root,) + names)

    def _root_children(self):
        try:
            children = self.cluster.call("get_children", self.root, watch=self._watch)
        except NoNodeError:
            self.cluster.call("exists", self.root, watch=self._watch)
            return []
        names = []
        for name in children:
            if self._accept_group(name):
                names.append(name)
            elif name not in self._skipped:
                self._skipped.add(name)
                log.warning("skipping %s/%s: not a valid service name", self.root, name)
        return names

    def _resync(self, changed):
        self._watch = None if self.cluster.watch_tree(self.root, self._on_recursive) else self._on_event
        names = self._root_children()
        before = self._work
        self._work = {}
        self._load_groups(names, changed, reuse=before)
        changed.update(set(before) - set(self._work))
        for name, group in self._work.items():
            if before.get(name) != group:
                changed.add(name)
        self._loaded.set()

    def _refresh_root(self, changed):
        names = self._root_children()
        gone = set(self._work) - set(names)
        for name in gone:
            del self._work[name]
        changed.update(gone)
        self._load_groups([n for n in names if n not in self._work], changed)

    def _load_groups(self, names, changed, reuse=None):
        """Read (and watch) groups, their data and their leaves, pipelined."""
        call = self.cluster.submit
        pending = []
        for name in names:
            known = reuse is None and name in self._work  # its data is kept current by its watch
            pending.append((
                name,
                call("get_children", self._path(name), watch=self._watch, include_data=True),
                None if known else call("get", self._path(name), watch=self._watch),
            ))
        loaded = []
        for name, children_result, data_result in pending:
            try:
                children, cstat = self.cluster.wait(children_result)
                if data_result is None:
                    data, stat = self._work[name].data, self._work[name].stat
                else:
                    data, stat = self.cluster.wait(data_result)
            except NoNodeError:
                if self._work.pop(name, None) is not None:
                    changed.add(name)
                continue
            loaded.append((name, [c for c in children if self._accept_leaf(c)], cstat, data, stat))
        known = {name: {} if reuse is not None else getattr(self._work.get(name), "leaves", {}) for name, *_ in loaded}
        found = self._fetch_leaves([(name, n) for name, names, *_ in loaded for n in names if n not in known[name]])
        for name, leaf_names, cstat, data, stat in loaded:
            leaves = {n: found[name, n] for n in leaf_names if (name, n) in found}
            leaves.update((n, known[name][n]) for n in leaf_names if n in known[name])
            group = Group(name, data or b"", stat, cstat.pzxid, leaves)
            if group != self._work.get(name):
                self._work[name] = group
                changed.add(name)

    def _fetch_leaves(self, pairs):
        """Read leaves ``pairs`` = [(group, name)], pipelined; those that exist,
        as (group, name) -> Leaf."""
        pending = [(pair, self.cluster.submit("get", self._path(*pair), watch=self._watch)) for pair in pairs]
        leaves = {}
        for (group, name), result in pending:
            try:
                data, stat = self.cluster.wait(result)
            except NoNodeError:
                continue
            leaves[group, name] = Leaf(name, data or b"", stat, self._decode(data or b""))
        return leaves

    def _refresh_group_data(self, name, changed):
        try:
            data, stat = self.cluster.call("get", self._path(name), watch=self._watch)
        except NoNodeError:
            return  # the root's watch removes it
        old = self._work[name]
        self._work[name] = replace(old, data=data or b"", stat=stat)
        changed.add(name)

    def _refresh_leaves(self, items, changed):
        """Re-read changed leaves, ``items`` = [(group, leaf name)]; each
        group's leaves are copied once, however many of them changed."""
        found = self._fetch_leaves(items)
        by_group = {}
        for group, name in items:
            by_group.setdefault(group, []).append(name)
        emptied = set()
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

    def _refresh_pzxids(self, names):
        """After deletions seen through the recursive watch: the zxid of the
        deletion, for ``Group.version`` (a child watch would re-read the
        children list and learn it from there)."""
        pending = [(n, self.cluster.submit("exists", self._path(n))) for n in names]
        for name, result in pending:
            stat = self.cluster.wait(result)
            group = self._work.get(name)
            if stat is not None and group is not None and stat.pzxid > group.pzxid:
                self._work[name] = replace(group, pzxid=stat.pzxid)
