"""gunicorn's gevent worker, sending each response in one write.

gunicorn writes a response's header block and then its body in two sends.
Every send on a TCP socket wakes the reader, and on the virtual machines
this runs on that costs about as much as the rest of a small answer: a
woken long poll spent a third of its CPU in those two sends. This worker
holds the header block back and sends it with the first body bytes. Nothing
else changes; a response without a body sends its headers when it ends.

It also formats the Date header once a second instead of once a response
(``email.utils.formatdate`` cost a woken long poll about 30 us).
"""
import time

from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker

_stock_http_date = util.http_date
_date = [0, ""]  # [second, its Date header value]


def http_date(timestamp=None):
    """gunicorn's util.http_date, remembering the current second's text."""
    if timestamp is not None:
        return _stock_http_date(timestamp)
    second = int(time.time())
    if second != _date[0]:
        _date[:] = [second, _stock_http_date(second)]
    return _date[1]


class _OneSend:
    """The client socket as one response writes to it."""

    __slots__ = ("_sock", "_held", "_first")

    def __init__(self, sock):
        self._sock = sock
        self._held = b""
        self._first = True

    def sendall(self, data):
        if self._first and not data.startswith(b"HTTP/1.1 1"):  # the header block, not an interim 1xx
            self._first = False
            self._held = data
            return
        if self._held:
            data, self._held = self._held + data, b""
        self._sock.sendall(data)

    def flush(self):
        if self._held:
            held, self._held = self._held, b""
            self._sock.sendall(held)

    def __getattr__(self, name):  # anything else (sendfile, fileno ...) sees the socket as written so far
        self.flush()
        return getattr(self._sock, name)


class GatewayWorker(GeventWorker):
    def init_process(self):
        util.http_date = http_date  # every response of this worker process
        super().init_process()

    def handle_request(self, listener_name, req, sock, addr):
        writer = _OneSend(sock)
        try:
            return super().handle_request(listener_name, req, writer, addr)
        finally:
            try:
                writer.flush()
            except OSError:  # the client left; gunicorn closes the connection anyway
                pass
