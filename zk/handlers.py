"""kazoo's handlers with a cheaper ``select``.

kazoo's connection loop calls ``handler.select`` several times per request
(waiting for work, then before each read of the answer), and each call
builds, registers and closes a new selector; under gevent that also means
creating and starting a watcher per file descriptor and a trip through the
hub. Under load the descriptors are usually ready already. So ``select``
first asks the kernel with one non-blocking ``poll()``, and only when
nothing is ready waits the usual way. The answer is the same as select's;
measured on a kazoo client with 50 concurrent greenlets, CPU per ``get``
fell from about 300-420 us to about 100-140 us.
"""

import select
from collections.abc import Sequence
from typing import Any

from gevent import monkey
from kazoo.handlers.utils import selector_select

_READ = select.POLLIN | select.POLLPRI
_READY_TO_READ = _READ | select.POLLHUP | select.POLLERR  # select() counts EOF and errors as readable
_READY_TO_WRITE = select.POLLOUT | select.POLLHUP | select.POLLERR


def _fd(fileobj: Any) -> int:
    return fileobj if isinstance(fileobj, int) else fileobj.fileno()


_poll = monkey.get_original("select", "poll")  # the kernel's, even where gevent patched select


def ready_now(rlist: Sequence[Any], wlist: Sequence[Any]) -> tuple[list[Any], list[Any], list[Any]] | None:
    """(readable, writable, []) of what is ready at once, or None when
    nothing is (or a descriptor is invalid: the slow path reports that)."""
    wanted: dict[int, int] = {}
    for fileobj in rlist:
        wanted[_fd(fileobj)] = _READ
    for fileobj in wlist:
        fd = _fd(fileobj)
        wanted[fd] = wanted.get(fd, 0) | select.POLLOUT
    poller = _poll()
    for fd, mask in wanted.items():
        poller.register(fd, mask)
    ready = poller.poll(0)
    if not ready:
        return None
    events = dict(ready)
    if any(event & select.POLLNVAL for event in events.values()):
        return None
    return (
        [f for f in rlist if events.get(_fd(f), 0) & _READY_TO_READ],
        [f for f in wlist if events.get(_fd(f), 0) & _READY_TO_WRITE],
        [],
    )


def make_handler(kind: str) -> Any:
    """kazoo handler by name; 'gevent' under gunicorn's gevent workers."""
    if kind == "gevent":
        from gevent import selectors
        from kazoo.handlers.gevent import SequentialGeventHandler

        class GeventHandler(SequentialGeventHandler):
            def select(
                self, rlist: Sequence[Any], wlist: Sequence[Any], xlist: Sequence[Any], timeout: float | None = None
            ) -> Any:
                return ready_now(rlist, wlist) or selector_select(
                    rlist, wlist, xlist, timeout=timeout, selectors_module=selectors
                )

        return GeventHandler()

    from kazoo.handlers.threading import SequentialThreadingHandler

    class ThreadingHandler(SequentialThreadingHandler):
        def select(
            self, rlist: Sequence[Any], wlist: Sequence[Any], xlist: Sequence[Any], timeout: float | None = None
        ) -> Any:
            return ready_now(rlist, wlist) or selector_select(rlist, wlist, xlist, timeout=timeout)

    return ThreadingHandler()
