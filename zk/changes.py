"""Waiting, cheaply, until groups of a watch cache change.

Long polls park here. A waiter is anything with a ``wake()`` method, filed
under the groups it waits for; the tree's listener wakes the waiters of the
groups a published batch changed, each once. Two kinds exist:

* ``Waiter`` (below): a greenlet or thread blocked on an Event. Under
  gunicorn's gevent workers ``threading`` is patched, so the Event is a
  gevent primitive.
* a poll parked outside any greenlet (gateway/parking.py): its wake() only
  queues it for the worker to answer.

Use::

    with changes.waiter(["app.a", "app.b"]) as waiter:
        while True:
            waiter.arm()          # before looking, so no change slips by
            if look():
                return answer
            if not waiter.wait(remaining):
                return timed_out
"""

import threading
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .tree import WatchedTree


class Wakeable(Protocol):
    def wake(self) -> None: ...


class Changes:
    def __init__(self, tree: "WatchedTree[Any]") -> None:
        self._waiters: dict[str, set[Wakeable]] = {}  # group name -> its waiters
        self._count = 0
        self._lock = threading.Lock()
        tree.subscribe(self._changed)

    def waiter(self, names: Iterable[str]) -> "Waiter":
        return Waiter(self, names)

    @property
    def waiting(self) -> int:
        """How many waiters are filed (for tests and metrics)."""
        return self._count

    def add(self, names: Iterable[str], waiter: Wakeable) -> None:
        """File ``waiter`` under each of ``names`` (distinct names, once)."""
        with self._lock:
            for name in names:
                self._waiters.setdefault(name, set()).add(waiter)
            self._count += 1

    def remove(self, names: Iterable[str], waiter: Wakeable) -> None:
        """Take back what add() filed, with the same names."""
        with self._lock:
            for name in names:
                waiters = self._waiters.get(name)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._waiters[name]
            self._count -= 1

    def _changed(self, names: Iterable[str]) -> None:
        with self._lock:
            woken: set[Wakeable] = set()
            for name in names:
                woken.update(self._waiters.get(name, ()))
        for waiter in woken:
            waiter.wake()


class Waiter:
    def __init__(self, changes: Changes, names: Iterable[str]) -> None:
        self._changes = changes
        self._names = tuple(dict.fromkeys(names))
        self._event = threading.Event()

    def __enter__(self) -> "Waiter":
        self._changes.add(self._names, self)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._changes.remove(self._names, self)

    def wake(self) -> None:
        self._event.set()

    def arm(self) -> None:
        """Forget earlier wake-ups; call it before checking the state."""
        self._event.clear()

    def wait(self, timeout: float) -> bool:
        """True when one of the groups changed since arm(), False on timeout."""
        return self._event.wait(max(0.0, timeout))
