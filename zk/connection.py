"""ZooKeeper 3.6's persistent recursive watches for a kazoo client.

One such watch on a tree's root reports every node created, changed or
deleted below it, and it stays set. The watch cache needs nothing else: a
new member costs one read of that member, where one-shot watches cost a
re-read of the whole children list on every change (and a service with a
thousand members lists a thousand names for each registration).

kazoo 2.11 has no ``addWatch``; this module adds the request and a
connection that hands such events to their watcher. Servers older than 3.6
answer the request with UNIMPLEMENTED and drop the connection
(``zk.cluster.Cluster.watch_tree`` remembers that and falls back).

``Client`` also changes how requests reach the connection. kazoo writes
one wake-up byte to a socket pair per request; a pipelined burst (a cache
re-reading hundreds of members) fills that socket's buffer, the next
callers block on it, and gevent refuses a second greenlet waiting on the
same socket: kazoo then leaves that request queued with no byte to send
it, and the connection stalls. Here a byte is written only when the queue
was empty, and each wake-up sends every queued request in one write.
"""
from collections import namedtuple

from kazoo.client import KazooClient
from kazoo.exceptions import (
    AuthFailedError,
    ConnectionClosedError,
    ConnectionDropped,
    SessionExpiredError,
    UnimplementedError,
)
from kazoo.protocol import connection as kazoo_connection
from kazoo.protocol.connection import AUTH_XID, CHANGED_EVENT, CLOSE_RESPONSE, CREATED_EVENT, DELETED_EVENT, ConnectionHandler
from kazoo.protocol.serialization import Auth, Watch, int_struct, write_string
from kazoo.protocol.states import EVENT_TYPE_MAP, KeeperState, WatchedEvent

PERSISTENT_RECURSIVE = 1  # ZooKeeper's AddWatchMode


class AddWatch(namedtuple("AddWatch", "path mode")):
    type = 106  # ZooKeeper's OpCode.addWatch

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.mode)

    @classmethod
    def deserialize(cls, buffer, offset):
        return True


class Connection(ConnectionHandler):
    """kazoo's connection, also handing events under recursively watched paths
    to their watcher.

    Such a watcher is called right here, on the connection's own loop, not
    through kazoo's callback queue: the events of one transaction (a member
    replaced: one created, one deleted) reach it before the answer to any
    later request does, so a cache can wait for a transaction to be whole.
    It must be quick and must not block or call ZooKeeper.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.recursive = {}  # watched path (without chroot) -> watcher
        self._inbuf, self._inpos = b"", 0  # received, not yet read

    def _connect(self, host, hostip, port):
        self._inbuf, self._inpos = b"", 0
        return super()._connect(host, hostip, port)

    def _read(self, length, timeout):
        """kazoo's read, one ``recv`` for as many answers as have arrived
        (kazoo asks the socket twice per answer, length then body)."""
        if hasattr(self._socket, "pending"):  # TLS keeps its own buffer
            return super()._read(length, timeout)
        buf, pos = self._inbuf, self._inpos
        if len(buf) - pos >= length:
            self._inpos = pos + length
            return buf[pos : pos + length]
        parts, have = [buf[pos:]], len(buf) - pos
        with self._socket_error_handling():
            while have < length:
                if not self.handler.select([self._socket], [], [], timeout)[0]:
                    raise self.handler.timeout_exception("socket time-out during read")
                chunk = self._socket.recv(max(65536, length - have))
                if not chunk:
                    raise ConnectionDropped("socket connection broken")
                parts.append(chunk)
                have += len(chunk)
        self._inbuf, self._inpos = b"".join(parts), length
        return self._inbuf[:length]

    def _read_socket(self, read_timeout):
        # Answers already received are read now: the loop's select only
        # sees what is still in the socket.
        response = super()._read_socket(read_timeout)
        while response != CLOSE_RESPONSE and self._inpos < len(self._inbuf):
            response = super()._read_socket(read_timeout)
        return response

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

    def _send_request(self, read_timeout, connect_timeout):
        """Send every queued request, in one write (see ``Client``).

        The wake-up bytes are taken first and the queue emptied after, so a
        request queued meanwhile either goes now or brings its own byte.
        """
        client = self.client
        try:
            self._read_sock.recv(4096)
        except OSError:
            pass
        frames = []
        while client._queue:
            request, async_object = client._queue.popleft()
            if request is kazoo_connection._SESSION_EXPIRED:
                raise SessionExpiredError("Session expired: Testing")
            if request is kazoo_connection._CONNECTION_DROP:
                raise ConnectionDropped("Connection dropped: Testing")
            if request.type == Auth.type:
                xid = AUTH_XID
            else:
                self._xid = (self._xid % 2147483647) + 1
                xid = self._xid
            body = bytearray(int_struct.pack(xid))
            if request.type:
                body.extend(int_struct.pack(request.type))
            body += request.serialize()
            frames.append(int_struct.pack(len(body)) + body)
            client._pending.append((request, async_object, xid))
        if frames:
            self._write(b"".join(frames), connect_timeout)

    def _read_response(self, header, buffer, offset):
        # A server that does not know a request answers it at once, ahead of
        # the requests sent before it, and drops the connection. kazoo would
        # take the mismatched answer for a broken stream and stop its loop
        # for good; fail that request alone and let the connection drop.
        pending = self.client._pending
        if header.err == UnimplementedError.code and pending and pending[0][2] != header.xid:
            for entry in list(pending):
                if entry[2] == header.xid:
                    pending.remove(entry)
                    entry[1].set_exception(UnimplementedError())
                    break
            raise ConnectionDropped("ZooKeeper does not know request %d" % header.xid)
        return super()._read_response(header, buffer, offset)


class Client(KazooClient):
    """kazoo's client with the Connection above and a wake-up that cannot pile up."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        old = self._connection
        self._connection = Connection(self, old.retry_sleeper, logger=old.logger, sasl_options=old.sasl_options)

    def _call(self, request, async_object):
        if self._state == KeeperState.AUTH_FAILED:
            async_object.set_exception(AuthFailedError())
            return False
        if self._state == KeeperState.CLOSED:
            async_object.set_exception(ConnectionClosedError("Connection has been closed"))
            return False
        if self._state == KeeperState.EXPIRED_SESSION:
            async_object.set_exception(SessionExpiredError())
            return False
        self._queue.append((request, async_object))
        if len(self._queue) > 1:
            return None  # a wake-up is on its way; it sends the whole queue
        write_sock = self._connection._write_sock
        try:
            write_sock.send(b"\0")
        except Exception:  # closed meanwhile (None or a closed socket)
            async_object.set_exception(ConnectionClosedError("Connection has been closed"))
        return None

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
