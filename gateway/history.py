"""The last audited changes per zkidc, in this process's memory only.

The ops console shows a service's recent changes from here. Nothing is
shared between workers or replicas and nothing survives a restart: the
audit log (``soa.audit``) stays the record.
"""

import collections
import threading
import time
from dataclasses import dataclass

KEEP = 1000  # lines per zkidc


@dataclass(frozen=True)
class Change:
    at: float  # epoch seconds
    key: str | None
    action: str
    result: str
    operations: tuple
    paths: tuple


class Recent:
    def __init__(self, keep=KEEP):
        self._lines = collections.defaultdict(lambda: collections.deque(maxlen=keep))
        self._lock = threading.Lock()

    def note(self, fields):
        """Remember one audit line (its ``fields``); lines without a zkidc are skipped."""
        if not fields.get("zkidc"):
            return
        change = Change(
            time.time(),
            fields.get("key"),
            fields.get("action", ""),
            fields.get("result", ""),
            tuple(fields.get("operations", ())),
            tuple(fields.get("paths", ())),
        )
        with self._lock:
            self._lines[fields["zkidc"]].append(change)

    def under(self, zkidc, path, limit=20):
        """The newest ``limit`` changes on zkidc touching ``path`` or below it, newest first."""
        with self._lock:
            lines = list(self._lines.get(zkidc, ()))
        prefix = path.rstrip("/") + "/"
        found = [c for c in reversed(lines) if any(p == path or p.startswith(prefix) for p in c.paths)]
        return found[:limit]


recent = Recent()
