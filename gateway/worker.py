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

Long polls park here without their greenlet (gateway/parking.py): a lane
hands the connection a parked request, the worker ends the request's
greenlet without closing the socket, and the ``Lot`` answers it later and
gives a keep-alive connection back (``_resume``). A worker holds at most
``worker_connections`` connections, parked ones included, and no more
than its open-files limit allows: it raises its soft limit to the hard one
at start, logs what it can hold, and answers a request over the limit with
a 503 in its dialect instead of leaving the client to a refused or reset
connection.

Under overload it also makes connections take turns (``take_turns``): a
keep-alive connection whose next request is already buffered would
otherwise be served again and again while the others wait. The gateway's
own steps (ZooKeeper replies, the cache's worker) go before the
connections' next turns.

Two of these change gunicorn for the whole worker process, not only this
worker class: ``patch_http_date`` replaces ``gunicorn.util.http_date`` and
``patch_request_class`` replaces the request class of gunicorn's parser.
Both are applied in ``GatewayWorker.init_process``, in the worker after the
fork, so gunicorn's arbiter keeps the stock ones. They (and the methods
overridden below) follow gunicorn's internals, which is why setup.cfg pins
gunicorn as it pins kazoo; tests/test_worker.py checks what they rely on.
"""

import logging
import os
import resource
import socket
import time
from collections import deque
from contextlib import nullcontext

import gevent
from gevent import socket as gsocket
from gevent.hub import Waiter
from gevent.pool import Group
from gunicorn import util
from gunicorn.http import parser as http_parser
from gunicorn.http.errors import LimitRequestLine
from gunicorn.http.message import Request
from gunicorn.workers.base_async import ALREADY_HANDLED
from gunicorn.workers.ggevent import GeventWorker
from werkzeug.exceptions import RequestURITooLarge, ServiceUnavailable
from werkzeug.test import EnvironBuilder, run_wsgi_app

from .context import EXTENSION
from .params import MAX_BODY, REFUSED
from .parking import Lot, Parked

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
    """The client socket as one response writes to it, and where a lane
    hands over a request to park (``park``) when the worker allows it."""

    __slots__ = ("_sock", "_held", "_first", "can_park", "parked")

    def __init__(self, sock, can_park=False):
        self._sock = sock
        self._held = b""
        self._first = True
        self.can_park = can_park
        self.parked = None

    def park(self, record):
        """Take ``record`` to park once the app returns (see GatewayWorker)."""
        self.parked = record
        return ALREADY_HANDLED

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


TURN_SECONDS = 0.005  # as long as gevent lets callbacks hold the loop (gevent.getswitchinterval)


def take_turns():
    """After a request: wait for a turn if this worker has not polled for
    I/O in ``TURN_SECONDS``.

    A greenlet only lets others run when it would block. gunicorn's keep-alive
    loop reads the next request at once, so a client that sends its next
    request before the answer is out (pipelining, or a closed loop on a fast
    link) keeps its greenlet running, and under overload some connections
    wait seconds behind a few others. Waiting after every request costs a
    switch per request even when nothing else is waiting. The loop's poll
    count (libev's ``ev_iteration``) says whether it waited for I/O since:
    while it changes, greenlets block on their own and nothing is done; once
    one poll is older than the turn, each request ends with a wait for its
    turn (``Turns``). A loop without that count (libuv) waits after every
    request instead.
    """
    turns = Turns.of_this_process()
    if turns.waiting:  # others wait for their turn already: after them
        turns.wait()
        return
    polls = getattr(turns.loop, "iteration", None)
    now = time.monotonic()
    if polls != turns.polls:
        turns.polls, turns.since = polls, now
    elif now - turns.since >= TURN_SECONDS:
        turns.wait()


class Turns:
    """Connections waiting for their next turn, resumed after the event
    loop's I/O, ``TURN_SECONDS`` of them per turn of the loop.

    Not ``gevent.sleep(0)``: that queues the connection with the greenlets
    the loop resumes through callbacks, the gateway's own among them: kazoo
    handing a ZooKeeper reply to the request or the cache waiting for it,
    the cache's worker told of a change. Behind 45 busy connections each such
    step waited a whole round of them, 20 to 45 ms, and a register (a dozen
    steps: its writes, the cache's reads, the publish) took 0.7 to 1 s. Here
    the callbacks run at the start of every turn of the loop, before the
    connections whose turn it is, so such a step waits ``TURN_SECONDS`` or
    so: registers under the same load took 0.2 to 0.4 s, and renews' p99
    fell from 100-140 ms to 40-57 ms (``python -m bench overload``).

    A connection that finishes a request while others wait joins the end of
    the queue, whether or not the loop polled since: otherwise connections
    woken by their socket would keep going ahead of the queue.
    """

    _mine: "Turns | None" = None

    @classmethod
    def of_this_process(cls):
        if cls._mine is None or cls._mine.loop is not gevent.get_hub().loop:
            cls._mine = cls(gevent.get_hub().loop)
        return cls._mine

    def __init__(self, loop):
        self.loop = loop
        self.polls, self.since = -1, 0.0  # the loop's poll count, when a request first ended after that poll
        self.waiting = deque()
        # after the loop's poll: give turns, before the other watchers it woke
        # (a parked poll's answering greenlet among them: gateway/parking.py)
        self._check = loop.check(priority=1)
        self._idle = loop.idle()  # while turns are due the loop polls without blocking

    def wait(self):
        """Wait (in a greenlet, not the hub) until this connection's turn."""
        waiter = Waiter()
        self.waiting.append(waiter)
        if not self._check.active:
            self._check.start(self._give)
            self._idle.start(_nothing)
        waiter.get()

    def _give(self):
        end = time.monotonic() + TURN_SECONDS
        while self.waiting:
            self.waiting.popleft().switch(None)  # back here when it waits again, or blocks
            if time.monotonic() >= end:
                return
        self._check.stop()
        self._idle.stop()


def _nothing():
    pass


def _counted_together(app):
    """What the Lot answers each slice of parked requests in: the gateway's
    metrics count the slice's answers in one go (Metrics.batch)."""
    gateway = getattr(app, "extensions", {}).get(EXTENSION)
    return gateway.metrics.batch if gateway is not None else nullcontext


RESERVED_FILES = 100  # open files a worker keeps for itself: listeners, ZooKeeper, logs, its event loop


def open_files_limit():
    """Raise this process's soft limit of open files to its hard limit; the soft limit then."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as error:
            log.warning("could not raise the open files limit from %d to %d: %s", soft, hard, error)
    return soft


class GatewayWorker(GeventWorker):
    lot: Lot | None = None  # the parked requests (gateway/parking.py), from run()
    active = 0  # connections with a greenlet; parked ones are lot.count
    _stopping_since: float | None = None

    def init_process(self):
        patch_http_date()
        patch_request_class()
        files = open_files_limit()
        asked = self.worker_connections
        self.worker_connections = max(1, min(asked, files - RESERVED_FILES))
        log.info(
            "worker %d holds at most %d connections, parked long polls included "
            "(worker_connections %d, open files limit %d, %d of them kept for the worker itself)",
            os.getpid(),
            self.worker_connections,
            asked,
            files,
            RESERVED_FILES,
        )
        super().init_process()

    def run(self):
        self.lot = Lot(self._resume, self.cfg.keepalive, _counted_together(self.wsgi))
        self._listeners = {listener.getsockname(): listener for listener in self.sockets}
        self._resumed = Group()  # connections served again after a parked answer (not in gunicorn's pools)
        try:
            super().run()
        finally:
            self.lot.close()
            stopping = time.monotonic() - (self._stopping_since or time.monotonic())
            self._resumed.join(timeout=max(0.0, self.cfg.graceful_timeout - stopping))

    def handle_exit(self, sig, frame):
        """Stopping: parked polls are answered now (-304, and the connection
        closes), so that their clients poll another replica at once."""
        super().handle_exit(sig, frame)
        self._stopping_since = time.monotonic()
        if self.lot is not None:
            gevent.spawn(self.lot.close)

    def handle(self, listener, client, addr):
        self.active += 1
        try:
            super().handle(listener, client, addr)
        finally:
            self.active -= 1

    def _resume(self, fd, listener_name, addr):
        """Serve the next requests of a connection whose parked request was answered."""
        listener = self._listeners.get(listener_name)
        client = gsocket.socket(fileno=fd)
        if listener is None or not self.alive:
            client.close()
            return
        self._resumed.spawn(self.handle, listener, client, addr)

    def _over_limit(self):
        lot = self.lot
        return lot is not None and self.active + lot.count + lot.resting > self.worker_connections

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
        if self._over_limit():
            self._refuse(req, sock)
        refused = getattr(req.body.reader, "length", 0) > MAX_BODY
        if refused:
            req.must_close = True  # the app refuses the body unread: close, do not read it all
        writer = _OneSend(sock, self._can_park(req))
        try:
            handled = super().handle_request(listener_name, req, writer, addr)
        finally:
            try:
                writer.flush()
            except OSError:  # the client left; gunicorn closes the connection anyway
                pass
            else:
                if refused:
                    linger(sock)
        if writer.parked is not None:
            self._park(writer.parked, req, sock, listener_name, addr)
        take_turns()  # answered, and the connection stays open for the next request
        return handled

    def _can_park(self, req):
        """A request can leave its greenlet when the connection holds nothing
        more of the client's (gunicorn's buffer would be lost) and the
        worker is not stopping."""
        return (
            self.lot is not None
            and self.alive
            and req.version == (1, 1)
            and not len(req.unreader.buf.getbuffer())
            and getattr(req.body.reader, "length", 0) == 0
        )

    def _park(self, record: Parked, req, sock, listener_name, addr):
        """Park the request: its greenlet ends, its socket stays open."""
        keepalive = bool(self.cfg.keepalive) and not req.should_close()
        record.keepalive = keepalive
        assert self.lot is not None  # _can_park said so
        self.lot.park(record, sock, listener_name, addr)
        raise StopIteration  # gunicorn's loop ends; closing the detached socket does nothing

    def _refuse(self, req, sock):
        """Answer a request over the worker's limit of connections, in its
        dialect, and close the connection."""
        error = ServiceUnavailable(
            "this gateway worker holds %d connections, its limit: try again shortly, or another replica"
            % self.worker_connections
        )
        try:
            sock.sendall(self._answer(_refused_environ(req._soa_head, error)))
            if getattr(req.body.reader, "length", 0):
                linger(sock)
        except OSError:
            pass
        raise StopIteration
