"""gunicorn's gevent worker, sending each response in one write.

gunicorn writes a response's header block and then its body in two sends.
Every send on a TCP socket wakes the reader, and on the virtual machines
this runs on that costs about as much as the rest of a small answer: a
woken long poll spent a third of its CPU in those two sends. This worker
holds the header block back and sends it with the first body bytes. Nothing
else changes; a response without a body sends its headers when it ends.

It also formats the Date header once a second instead of once a response
(``email.utils.formatdate`` cost a woken long poll about 30 us), answers a
request line over ``limit_request_line`` in the dialect its path names
(gunicorn answers an HTML page), and closes the connection after refusing a
body over the limit unread (gunicorn would read it all to reach the next
request). Before closing it lingers (``linger``), as nginx does: closing a
socket with unread bytes makes the kernel reset the connection, and a client
still sending the refused body would see the reset instead of the answer.

Two of these change gunicorn for the whole worker process, not only this
worker class: ``patch_http_date`` replaces ``gunicorn.util.http_date`` and
``patch_request_class`` replaces the request class of gunicorn's parser.
Both are applied in ``GatewayWorker.init_process``, in the worker after the
fork, so gunicorn's arbiter keeps the stock ones. They (and the methods
overridden below) follow gunicorn's internals, which is why setup.cfg pins
gunicorn as it pins kazoo; tests/test_worker.py checks what they rely on.
"""

import logging
import socket
import time

from gunicorn import util
from gunicorn.http import parser as http_parser
from gunicorn.http.errors import LimitRequestLine
from gunicorn.http.message import Request
from gunicorn.workers.ggevent import GeventWorker
from werkzeug.exceptions import RequestURITooLarge
from werkzeug.test import EnvironBuilder, run_wsgi_app

from .params import MAX_BODY, REFUSED

log = logging.getLogger(__name__)

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


def patch_http_date():
    """Make every Date header of this process come from ``http_date`` above.

    gunicorn's responses call ``gunicorn.util.http_date()`` through the
    module, so replacing the module's attribute reaches all of them. The
    text is the stock function's for the same (whole) second; a response
    can only tell by its Date being the second it started, not it ended.
    """
    util.http_date = http_date


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


class _Request(Request):
    """gunicorn's request, keeping its first bytes for the answer to a
    request line too long to parse (which dialect does its path name?)."""

    _soa_head = b""

    def read_into(self, unreader, buf, stop=False):
        super().read_into(unreader, buf, stop)
        if not self._soa_head:
            self._soa_head = bytes(buf[:512])

    def parse(self, unreader):
        try:
            return super().parse(unreader)
        except LimitRequestLine as exc:
            exc.soa_head = self._soa_head
            raise


def _refused_environ(head, error):
    """A WSGI environ for the method and path that ``head`` starts with,
    carrying ``error`` for the app to answer (see gateway/pipeline.py)."""
    method, _, rest = head.partition(b" ")
    path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
    method = method.decode("latin-1") if method.isalpha() else "GET"
    path = path.decode("latin-1") if path.startswith(b"/") else "/"
    environ = EnvironBuilder(path=path, method=method).get_environ()
    environ[REFUSED] = error
    return environ


LINGER_SECONDS = 2.0  # how long a refused body may keep arriving
LINGER_BYTES = 8 * MAX_BODY  # and how much of it is read and dropped


def linger(sock, seconds=LINGER_SECONDS, limit=LINGER_BYTES):
    """Half-close ``sock`` after its answer and drop what the client still
    sends, for at most ``seconds`` and ``limit`` bytes, so that the close
    that follows does not reset a connection whose answer is unread."""
    try:
        sock.shutdown(socket.SHUT_WR)  # the answer is whole: the client reads it, then EOF
        deadline = time.monotonic() + seconds
        while limit > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                return
            limit -= len(chunk)
    except OSError:  # the client left, or took too long
        pass


def patch_request_class():
    """Make gunicorn's parser build every request of this process as a
    ``_Request`` (gunicorn 25 and later: ``Request.read_into``)."""
    http_parser.RequestParser.mesg_class = _Request


class GatewayWorker(GeventWorker):
    def init_process(self):
        patch_http_date()
        patch_request_class()
        super().init_process()

    def handle_error(self, req, client, addr, exc):
        if isinstance(exc, LimitRequestLine):
            limit = self.cfg.limit_request_line
            error = RequestURITooLarge("request line is longer than the limit of %d bytes" % limit)
            try:
                client.sendall(self._answer(_refused_environ(getattr(exc, "soa_head", b""), error)))
                return
            except Exception:  # noqa: BLE001 - gunicorn's own answer then
                log.exception("could not answer a request line over the limit in its dialect")
        super().handle_error(req, client, addr, exc)

    def _answer(self, environ):
        """The app's whole answer to ``environ`` as bytes on a connection that then closes."""
        body, status, headers = run_wsgi_app(self.wsgi, environ, buffered=True)
        body = b"".join(body)
        lines = ["HTTP/1.1 " + status]
        lines += ["%s: %s" % (k, v) for k, v in headers.items() if k.lower() not in ("connection", "content-length")]
        lines += ["Date: " + http_date(), "Content-Length: %d" % len(body), "Connection: close", "", ""]
        return "\r\n".join(lines).encode("latin-1") + body

    def handle_request(self, listener_name, req, sock, addr):
        refused = getattr(req.body.reader, "length", 0) > MAX_BODY
        if refused:
            req.must_close = True  # the app refuses the body unread: close, do not read it all
        writer = _OneSend(sock)
        try:
            return super().handle_request(listener_name, req, writer, addr)
        finally:
            try:
                writer.flush()
            except OSError:  # the client left; gunicorn closes the connection anyway
                pass
            else:
                if refused:
                    linger(sock)
