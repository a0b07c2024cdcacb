"""Waiting, cheaply, until groups of a watch cache change.

Long polls park here. A waiter is one Event filed under the groups it waits
for; the tree's listener sets the Events of the groups a published batch
changed. No thread or greenlet is spent per waiter beyond the request's
own: under gunicorn's gevent workers ``threading`` is patched, so the Event
is a gevent primitive and thousands of waiters cost little memory.

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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .tree import WatchedTree


class Changes:
    def __init__(self, tree: "WatchedTree[Any]") -> None:
        self._waiters: dict[str, set[threading.Event]] = {}  # group name -> set of Events
        self._lock = threading.Lock()
        tree.subscribe(self._changed)

    def waiter(self, names: Iterable[str]) -> "Waiter":
        return Waiter(self, names)

    @property
    def waiting(self) -> int:
        """How many waiters are parked (for tests and metrics)."""
        with self._lock:
            return len({id(e) for events in self._waiters.values() for e in events})

    def _add(self, names: Iterable[str], event: threading.Event) -> None:
        with self._lock:
            for name in names:
                self._waiters.setdefault(name, set()).add(event)

    def _remove(self, names: Iterable[str], event: threading.Event) -> None:
        with self._lock:
            for name in names:
                events = self._waiters.get(name)
                if events is not None:
                    events.discard(event)
                    if not events:
                        del self._waiters[name]

    def _changed(self, names: Iterable[str]) -> None:
        with self._lock:
            woken: set[threading.Event] = set()
            for name in names:
                woken.update(self._waiters.get(name, ()))
        for event in woken:
            event.set()


class Waiter:
    def __init__(self, changes: Changes, names: Iterable[str]) -> None:
        self._changes = changes
        self._names = tuple(dict.fromkeys(names))
        self._event = threading.Event()

    def __enter__(self) -> "Waiter":
        self._changes._add(self._names, self._event)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._changes._remove(self._names, self._event)

    def arm(self) -> None:
        """Forget earlier wake-ups; call it before checking the state."""
        self._event.clear()

    def wait(self, timeout: float) -> bool:
        """True when one of the groups changed since arm(), False on timeout."""
        return self._event.wait(max(0.0, timeout))
