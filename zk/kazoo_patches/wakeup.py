"""One wake-up byte per burst of requests, and one write per wake-up.

kazoo writes one wake-up byte to a socket pair per request. A pipelined
burst (a cache re-reading hundreds of members) fills that socket's buffer,
the next callers block on it, and gevent refuses a second greenlet waiting
on the same socket: kazoo then leaves that request queued with no byte to
send it, and the connection stalls. Upstream: kazoo issue #486 ("*_async
method will cause `This socket is already used by another greenlet`",
https://github.com/python-zk/kazoo/issues/486), closed without a fix.

Here a byte is written only when the queue was empty, and each wake-up
sends every queued request in one write. Follows kazoo 2.11.0's
``KazooClient._call`` and ``ConnectionHandler._send_request`` (with
``_submit`` inlined); neither can call its upstream method, which writes
or reads one byte per request.
"""

from kazoo.exceptions import AuthFailedError, ConnectionClosedError, ConnectionDropped, SessionExpiredError
from kazoo.protocol import connection as kazoo_connection
from kazoo.protocol.connection import AUTH_XID
from kazoo.protocol.serialization import Auth, int_struct
from kazoo.protocol.states import KeeperState


class CoalescedWakeupClient:
    """Mixin for ``KazooClient``: a wake-up byte only for a request queued
    into an empty queue."""

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
        # Queued first, counted after: a queue drained meanwhile costs a
        # spare wake-up, never a request left without one.
        self._queue.append((request, async_object))
        if len(self._queue) > 1:
            return None  # a wake-up is on its way; it sends the whole queue
        write_sock = self._connection._write_sock
        try:
            write_sock.send(b"\0")
        except Exception:  # noqa: BLE001 - closed meanwhile (None or a closed socket)
            async_object.set_exception(ConnectionClosedError("Connection has been closed"))
        return None


class CoalescedWakeupConnection:
    """Mixin for kazoo's ``ConnectionHandler``: each wake-up sends the whole queue."""

    def _send_request(self, read_timeout, connect_timeout):
        """Send every queued request, in one write.

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
