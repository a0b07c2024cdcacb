"""Answers memoised per catalog snapshot: one rule for every render cache.

The watch cache publishes immutable snapshots and replaces whatever
changes (a Group when anything in its service does, the whole name ->
Group mapping when any service does), so an answer rendered from some
snapshot objects stays right for as long as they are the very objects
current now: thousands of pollers woken by one change share one rendering.
A ``Memo`` keeps such answers by key, each with the snapshot object it was
made from, compared by identity (``is``), never by value (comparing two
Groups would cost more than the rendering it saves).

One bound and one clearing rule: a memo holds at most ``limit`` answers
and is emptied when full (answers of snapshots that are gone then go too;
the current ones are made again on their next use).
"""

import time
from collections.abc import Callable, Hashable
from typing import Any

LIMIT = 4096


class _Entry:
    __slots__ = ("snapshot", "flag", "lagging", "answer", "made")

    def __init__(self, snapshot, flag, lagging, answer, made):
        self.snapshot = snapshot  # the snapshot object the answer was made from
        self.flag = flag  # a plain value it was made for (stale or not)
        self.lagging = lagging  # a source it may lag behind (see Memo.get)
        self.answer = answer
        self.made = made  # the clock's time when it was made


class Memo:
    """key -> answer, made again when the snapshot it was made from is no
    longer the current one."""

    def __init__(self, limit: int = LIMIT):
        self.limit = limit
        self._entries: dict = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(
        self,
        key: Hashable,
        snapshot: Any,
        make: Callable[[], Any],
        flag: Any = None,
        lagging: Any = None,
        lag: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> Any:
        """The answer for ``key``: ``make()`` unless the last one was made from
        this very ``snapshot`` object for an equal ``flag`` (a plain value the
        answer shows, such as whether the view is stale).

        ``lagging`` is a further snapshot the answer may be behind for up to
        ``lag`` seconds of ``clock``: the last answer also holds while it is
        younger than that (a view re-rendered at most once a second for its
        leases).
        """
        entry = self._entries.get(key)
        if (
            entry is not None
            and entry.snapshot is snapshot
            and entry.flag == flag
            and (entry.lagging is lagging or clock() - entry.made < lag)
        ):
            return entry.answer
        answer = make()
        if len(self._entries) >= self.limit:
            self._entries.clear()
        self._entries[key] = _Entry(snapshot, flag, lagging, answer, clock())
        return answer
