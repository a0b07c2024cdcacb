"""ZooKeeper 3.6's persistent recursive watches (the addWatch request).

kazoo 2.11.0 has no ``addWatch``. Upstream: kazoo PR #715 ("feat: add
support for persistent recursive watches",
https://github.com/python-zk/kazoo/pull/715), open and unmerged; when a
kazoo release carries it, its ``add_watch`` can replace this module.

Follows kazoo 2.11.0's ``ConnectionHandler._read_watch_event``, which is
called first and left to hand one-shot watches their events.
"""

from collections import namedtuple

from kazoo.protocol.connection import CHANGED_EVENT, CREATED_EVENT, DELETED_EVENT
from kazoo.protocol.serialization import Watch, int_struct, write_string
from kazoo.protocol.states import EVENT_TYPE_MAP, WatchedEvent

PERSISTENT_RECURSIVE = 1  # ZooKeeper's AddWatchMode


class AddWatch(namedtuple("AddWatch", "path mode")):
    type = 106  # ZooKeeper's OpCode.addWatch

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.mode)

    @classmethod
    def deserialize(cls, buffer, offset):
        return True


class RecursiveWatchConnection:
    """Mixin for kazoo's ``ConnectionHandler``: hands events under recursively
    watched paths to their watcher.

    Such a watcher is called right here, on the connection's own loop, not
    through kazoo's callback queue: the events of one transaction (a member
    replaced: one created, one deleted) reach it before the answer to any
    later request does, so a cache can wait for a transaction to be whole.
    It must be quick and must not block or call ZooKeeper.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.recursive = {}  # watched path (without chroot) -> watcher

    def _read_watch_event(self, buffer, offset):
        super()._read_watch_event(buffer, offset)
        if not self.recursive:
            return
        watch, _ = Watch.deserialize(buffer, offset)
        if watch.type not in (CREATED_EVENT, DELETED_EVENT, CHANGED_EVENT) or self.client._stopped.is_set():
            return  # children-changed events only ever answer one-shot watches
        path = self.client.unchroot(watch.path)
        for root, watcher in list(self.recursive.items()):
            if path == root or path.startswith(root + "/"):
                try:
                    watcher(WatchedEvent(EVENT_TYPE_MAP[watch.type], self.client._state, path))
                except Exception:
                    self.logger.exception("recursive watcher of %s failed", root)


class RecursiveWatchClient:
    """Mixin for ``KazooClient`` whose connection is a ``RecursiveWatchConnection``."""

    def add_recursive_watch_async(self, path, watcher):
        """Send addWatch(path, PERSISTENT_RECURSIVE); returns kazoo's async result.

        ``watcher(event)`` gets every event at or below ``path`` from then on,
        on this connection: kazoo does not re-send watches after a reconnect,
        so the caller sets it again on each one (as it re-reads its view).
        """
        self._connection.recursive[path] = watcher
        result = self.handler.async_result()
        self._call(AddWatch(self.chroot + path, PERSISTENT_RECURSIVE), result)
        return result

    def forget_recursive_watch(self, path):
        self._connection.recursive.pop(path, None)
