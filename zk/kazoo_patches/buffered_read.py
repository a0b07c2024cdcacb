"""One ``recv`` for as many answers as have arrived.

kazoo asks the socket twice per answer (its length, then its body), and
its loop selects on the socket before each answer: a burst of a thousand
answers costs thousands of system calls and gevent switches. Here a read
takes whatever has arrived (64 KiB at a time) and the answers already
received are read before the loop selects again. TLS sockets keep their
own buffer and are left to kazoo. No upstream issue.

Follows kazoo 2.11.0's ``ConnectionHandler._connect``, ``_read`` and
``_read_socket``; ``_connect`` and ``_read_socket`` call theirs.
"""

from kazoo.exceptions import ConnectionDropped
from kazoo.protocol.connection import CLOSE_RESPONSE


class BufferedReadConnection:
    """Mixin for kazoo's ``ConnectionHandler``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
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
