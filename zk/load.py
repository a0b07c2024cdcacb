"""Bulk reads of a watched tree: pipelined reads and a load's progress.

A load (the first read of a tree, or a resync after a reconnection) reads
thousands of nodes. ``pipelined`` keeps at most ``WINDOW`` of those reads
in flight, so the connection is never flooded and other trees' requests get
through, and waits for each answer up to the cluster's ``bulk_timeout``,
not a request's ``op_timeout``. ``Progress`` is what /readyz, logs and
metrics show of the running load or the last one.
"""

import collections
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from kazoo.exceptions import NoNodeError

if TYPE_CHECKING:
    from .cluster import Cluster

WINDOW = 1000  # reads in flight at once during a load
K = TypeVar("K", bound=Hashable)  # what labels the answers of a bulk read


@dataclass
class Progress:
    """The tree's current or last load, for /readyz, logs and metrics."""

    running: bool = False
    kind: str = "load"  # "load" (nothing cached yet) or "resync"
    total: int = 0  # groups to look at
    done: int = 0
    read: int = 0  # groups actually re-read (a resync skips the unchanged)
    seconds: float | None = None  # how long the last finished one took


class Read(NamedTuple, Generic[K]):
    """One read of a bulk read: ``client.<method>_async(path, **kwargs)``,
    its answer labelled ``key``."""

    key: K
    method: str
    path: str
    kwargs: dict[str, Any] | None = None


def pipelined(cluster: "Cluster", reads: Iterable[Read[K]]) -> Iterator[tuple[K, Any]]:
    """Answers of ``reads`` as (key, answer or None when the node is gone),
    in order, with at most WINDOW of them in flight on ``cluster``."""
    pending: collections.deque[tuple[K, Any]] = collections.deque()
    timeout = cluster.bulk_timeout
    pause = cluster.handler.sleep_func
    for n, read in enumerate(reads, 1):
        pending.append((read.key, cluster.submit(read.method, read.path, **(read.kwargs or {}))))
        if len(pending) >= WINDOW:
            yield _answer(cluster, *pending.popleft(), timeout)
        if n % WINDOW == 0:
            pause(0)  # answers already in are decoded without a wait: let requests run
    while pending:
        yield _answer(cluster, *pending.popleft(), timeout)


def _answer(cluster: "Cluster", key: K, result: Any, timeout: float) -> tuple[K, Any]:
    try:
        return key, cluster.wait(result, timeout)
    except NoNodeError:
        return key, None
