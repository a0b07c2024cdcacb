"""Long polls parked outside any greenlet.

A discovery SDK keeps a long poll open for the appids it follows, so a
worker holds tens of thousands of them at once, nearly all waiting. A poll
waiting in its request's greenlet costs about 20 KB: the greenlet's saved C
stack and Python frame page, and the server's parser, request and environ
its frames still hold. A parked poll keeps only its socket's file
descriptor and a small record (``Parked``); the request's greenlet ends.

* The worker (gateway/worker.py) parks a request its app handed over
  (``Lot.park``): it takes the socket's descriptor, and the record files
  itself where changes wake it (zk/changes.py), then looks once more so
  that no change slips by between the app's look and the filing.
* A change wakes the record (``wake``): the Lot queues it, and one greenlet
  answers the queue, yielding to other requests every few milliseconds so
  that renews stay quick while thousands are woken.
* Answering writes the record's whole answer to its descriptor. A
  keep-alive connection then rests, still without a greenlet, until the
  client sends its next request: only then does the worker (``resume``)
  read it in a new greenlet. Waking thousands of polls thus costs a write
  each, not a greenlet each.
* One greenlet answers the polls whose time is up, oldest first, and closes
  the connections that rested longer than ``keepalive``. Every poll of a
  worker waits the same ``poll_timeout`` and every rest lasts the same
  ``keepalive``, so each queue in arrival order is in deadline order.

The answers are the records' own (``Parked.look`` and ``Parked.expired``):
this module only knows sockets and time.
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import Any

import gevent
from gevent.event import Event
from gevent.hub import Waiter, get_hub
from gevent.monkey import get_original
from gunicorn import util
from werkzeug.http import HTTP_STATUS_CODES

log = logging.getLogger(__name__)

# The stdlib's close, not gevent's: gevent (25.8 and later) patches os.close
# to close at the end of the event loop's next turn, which an idle worker may
# not reach for a second, and the client of a poll answered with
# "Connection: close" waited that long for its end of file. A descriptor
# closed here has no watcher left.
_close = get_original("os", "close")

# How long the answering greenlet runs before it lets the others run: SLICE
# seconds, or SHARE times as long as the others ran in the last pause while
# they are busy, up to LONGEST (see Lot._in_slices).
SLICE = 0.002
SHARE = 4
LONGEST = 0.015
GC_HOLD = 1.0  # seconds of answering the cyclic garbage collector waits, at most


def _pause() -> None:
    """Let the event loop go round once: every socket that is ready and
    every greenlet it wakes run, then this greenlet goes on.

    Not ``gevent.sleep(0)``: that only queues this greenlet behind the
    loop's callbacks, which gevent runs for up to 50 in a row before it
    polls sockets again; a greenlet that pauses every 2 ms would then keep
    kazoo's connection (and the renews waiting on it) out for 100 ms and
    more. Nor a short ``gevent.sleep``: the loop's poll waits at least 1 ms.
    An active idle watcher makes the poll return at once, and a check
    watcher resumes this greenlet after the events that poll found.
    """
    loop = get_hub().loop
    waiter = Waiter()
    idle, check = loop.idle(), loop.check()
    idle.start(waiter.switch, None)
    check.start(waiter.switch, None)
    try:
        waiter.get()
    finally:
        idle.close()
        check.close()


_gc_holds = [0, True]  # [greenlets holding the cyclic collector back, whether it was enabled before]


def _hold_gc() -> None:
    """Hold the cyclic garbage collector back until as many ``_release_gc``.

    Counted: the sweeper answers expired polls while the answering greenlet
    is paused, and must not let the collector run in the middle of a wake.
    """
    if _gc_holds[0] == 0:
        _gc_holds[1] = gc.isenabled()
        gc.disable()
    _gc_holds[0] += 1


def _release_gc() -> None:
    _gc_holds[0] -= 1
    if _gc_holds[0] == 0 and _gc_holds[1]:
        gc.enable()


class Parked:
    """A request waiting without a greenlet: its descriptor and where it came from.

    Subclasses add what they wait for and say what their answer is.
    """

    __slots__ = ("fd", "listener", "addr", "keepalive", "deadline", "lot")

    def __init__(self, timeout: float) -> None:
        self.fd = -1  # the client socket's, once parked; -1 again once answered
        self.listener: Any = None
        self.addr: Any = None
        self.keepalive = False  # the worker says, when it parks it
        self.deadline = time.monotonic() + timeout
        self.lot: Lot | None = None

    def wake(self) -> None:
        """Something it waits for changed (called by zk.changes.Changes)."""
        if self.lot is not None and self.fd >= 0:
            self.lot.due(self)

    def file(self) -> None:
        """Start being woken by changes."""
        raise NotImplementedError

    def unfile(self) -> None:
        """Stop being woken; called once, when answered."""
        raise NotImplementedError

    def look(self, keepalive: bool) -> bytes | None:
        """The whole HTTP answer when there is one, else None to keep waiting."""
        raise NotImplementedError

    def expired(self, keepalive: bool) -> bytes:
        """The whole HTTP answer when its time is up."""
        raise NotImplementedError


class _Resting:
    """A keep-alive connection between an answer and the client's next request."""

    __slots__ = ("fd", "listener", "addr", "deadline", "watcher")

    def __init__(self, fd: int, listener: Any, addr: Any, deadline: float) -> None:
        self.fd, self.listener, self.addr, self.deadline = fd, listener, addr, deadline
        self.watcher: Any = None


class Lot:
    """The parked requests of one worker process, and the connections
    resting after their answer.

    A request answered before its deadline (woken) stays in its queue until
    the sweep reaches it; so does a rest that ended when its client sent the
    next request. Under changes every second 18,000 polls would leave
    hundreds of thousands of them behind, so a queue holding more than
    twice its live entries (and SLACK more) is rebuilt without the others
    as it grows: a copy now and then, in deadline order still.
    """

    SLACK = 4096

    def __init__(
        self,
        resume: Callable[[int, Any, Any], None],
        keepalive: float,
        batch: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ) -> None:
        self._resume = resume  # (fd, listener, addr): serve the connection's next request
        self.keepalive = keepalive
        self._batch = batch  # around each slice of answers: the metrics count them together
        self.count = 0  # parked
        self.resting = 0
        self.closing = False
        self._queue: deque[Parked] = deque()  # parking order, which is deadline order
        self._rests: deque[_Resting] = deque()  # the same
        self._due: deque[Parked] = deque()
        self._queued = Event()  # a queue that was empty is not any more
        self._answering: gevent.Greenlet | None = None
        self._loop = gevent.get_hub().loop
        self._sweeper = gevent.spawn(self._sweep)

    def park(self, record: Parked, sock: Any, listener: Any, addr: Any) -> None:
        """Take ``sock``'s descriptor (the caller's greenlet ends without
        closing it) and wait for ``record``'s answer."""
        record.listener, record.addr, record.lot = listener, addr, self
        record.fd = sock.detach()
        self.count += 1
        record.file()
        answer = record.look(self._keepalive(record))  # a change between the app's look and file()
        if answer is not None:
            self._answer(record, answer)
            return
        if not self._queue:
            self._queued.set()
        elif len(self._queue) > 2 * self.count + self.SLACK:
            self._queue = deque(queued for queued in self._queue if queued.fd >= 0)
        self._queue.append(record)

    def due(self, record: Parked) -> None:
        """Queue ``record`` to be looked at again, by the answering greenlet."""
        self._due.append(record)
        if self._answering is None:
            self._answering = gevent.spawn(self._answer_due)

    def close(self) -> None:
        """Answer every parked request now, as if its time were up, and close
        its connection (the worker is stopping)."""
        self.closing = True
        self._sweeper.kill(block=False)
        while self._queue:
            record = self._queue.popleft()
            if record.fd >= 0:
                self._answer(record, record.expired(False))
        while self._rests:
            self._end_rest(self._rests.popleft())

    def _keepalive(self, record: Parked) -> bool:
        return record.keepalive and not self.closing

    def _answer_due(self) -> None:
        try:
            self._in_slices(self._next_due, lambda record: record.look(self._keepalive(record)))
        finally:
            self._answering = None

    def _next_due(self) -> Parked | None:
        while self._due:
            record = self._due.popleft()
            if record.fd >= 0:  # else answered already (woken twice)
                return record
        return None

    def _next_expired(self, now: float) -> Parked | None:
        queue = self._queue
        while queue and (queue[0].fd < 0 or queue[0].deadline <= now):
            record = queue.popleft()
            if record.fd >= 0:
                return record
        return None

    def _in_slices(self, take: Callable[[], Parked | None], answer: Callable[[Parked], bytes | None]) -> None:
        """Answer the records ``take()`` gives until it gives None, a slice
        at a time. Between slices the other greenlets run (``_pause``).

        The cyclic garbage collector waits until the answers are done (or
        GC_HOLD seconds): during a slice it would stop every few dozen
        answers to walk the young objects, a third more time per answer, and
        in a pause a full collection (40 to 60 ms with 18,000 polls parked)
        would hold up every renew in flight.

        A slice lasts SLICE seconds, or SHARE times as long as the others
        ran in the pause before it, up to LONGEST: answering gets four
        fifths of the worker while other requests are busy. With slices of
        a fixed 2 ms, renews in a closed loop took a third of the worker
        while 18,000 polls were woken, and the last poll heard of the
        change 1.1 to 1.4 s after it instead of 0.6 to 0.9 s. A renew
        waits for a few pauses (its request, kazoo's send, the reply), so
        with slices of 15 ms its p99 stays under 100 ms (42 to 62 ms
        measured; 10 ms gave 33 to 42 ms and a wake slower by a tenth)."""
        length, collected = SLICE, time.monotonic()
        _hold_gc()
        try:
            while True:
                with self._batch():
                    end = time.monotonic() + length
                    while time.monotonic() < end:
                        record = take()
                        if record is None:
                            return
                        try:
                            reply = answer(record)
                            if reply is not None:
                                self._answer(record, reply)
                        except Exception:  # noqa: BLE001 - one bad answer must not stop the others
                            log.exception("could not answer a parked request")
                paused = time.monotonic()
                if paused - collected >= GC_HOLD:  # the collector's turn, in this pause
                    collected = paused
                    _release_gc()
                    try:
                        _pause()
                    finally:
                        _hold_gc()
                else:
                    _pause()
                length = min(LONGEST, max(SLICE, SHARE * (time.monotonic() - paused)))
        finally:
            _release_gc()

    def _sweep(self) -> None:
        while True:
            self._queued.clear()
            now = time.monotonic()
            self._in_slices(partial(self._next_expired, now), lambda record: record.expired(self._keepalive(record)))
            while self._rests and (self._rests[0].fd < 0 or self._rests[0].deadline <= now):
                self._end_rest(self._rests.popleft())
            deadlines = [queue[0].deadline for queue in (self._queue, self._rests) if queue]
            self._queued.wait(min(deadlines) - time.monotonic() if deadlines else None)

    def _rest(self, fd: int, listener: Any, addr: Any) -> None:
        """Keep a keep-alive connection open, without a greenlet, until the
        client sends its next request (or leaves)."""
        resting = _Resting(fd, listener, addr, time.monotonic() + self.keepalive)
        resting.watcher = self._loop.io(fd, 1)  # readable: a request, or the client's close
        resting.watcher.start(self._readable, resting)
        self.resting += 1
        if not self._rests:
            self._queued.set()
        elif len(self._rests) > 2 * self.resting + self.SLACK:
            self._rests = deque(rest for rest in self._rests if rest.fd >= 0)
        self._rests.append(resting)

    def _readable(self, resting: _Resting) -> None:
        fd = self._unrest(resting)
        if fd >= 0:
            self._resume(fd, resting.listener, resting.addr)

    def _end_rest(self, resting: _Resting) -> None:
        fd = self._unrest(resting)
        if fd >= 0:
            _close(fd)

    def _unrest(self, resting: _Resting) -> int:
        fd, resting.fd = resting.fd, -1
        if fd >= 0:
            resting.watcher.stop()
            resting.watcher.close()
            resting.watcher = None
            self.resting -= 1
        return fd

    def _answer(self, record: Parked, answer: bytes) -> None:
        fd, record.fd = record.fd, -1
        self.count -= 1
        record.unfile()
        keepalive = self._keepalive(record)
        try:
            sent = os.write(fd, answer)
        except BlockingIOError:
            sent = 0
        except OSError as error:  # the client left
            if error.errno not in (errno.EPIPE, errno.ECONNRESET):
                log.warning("could not answer a parked request: %s", error)
            _close(fd)
            return
        if sent < len(answer):  # the socket's buffer is full: a greenlet sends the rest
            gevent.spawn(self._send_rest, fd, answer[sent:], record.listener, record.addr, keepalive)
        elif keepalive:
            self._rest(fd, record.listener, record.addr)
        else:
            _close(fd)

    def _send_rest(self, fd: int, rest: bytes, listener: Any, addr: Any, keepalive: bool) -> None:
        from gevent import socket

        sock = socket.socket(fileno=fd)
        try:
            sock.sendall(rest)
        except OSError:
            sock.close()
            return
        if keepalive:
            self._rest(sock.detach(), listener, addr)
        else:
            sock.close()


def response(status: int, headers: list[tuple[str, str]], body: bytes, keepalive: bool) -> bytes:
    """A whole HTTP/1.1 answer, framed as gunicorn's workers frame theirs."""
    lines = [
        "HTTP/1.1 %d %s" % (status, HTTP_STATUS_CODES[status]),
        "Server: gunicorn",
        "Date: " + util.http_date(),  # through the module: the worker's cached one (gateway/worker.py)
        "Connection: keep-alive" if keepalive else "Connection: close",
    ]
    lines += ["%s: %s" % header for header in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
