"""One begin and one finish for every request, whoever answers it.

Flask's hooks (gateway/app.py) and the lanes answered before Flask
(gateway/lane.py) both call begin() before anything else and finish() once
the answer is known, and end() when it is sent:

* begin: the request's budget of waiting on an unreachable ZooKeeper, its id
  and clock (logs.start), then what is refused before any work: a request
  the worker could not read (REFUSED) and a body over the limit.
* finish: the metrics, the access and audit lines, and the headers every
  answer carries (``X-Request-Id``, ``X-Soa-Stale``).

A request is begun once: a lane that leaves a request to Flask leaves its
Begun in the environ, and Flask's begin takes it over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_content_length

from zk.cluster import end_request, request_budget

from . import logs
from .params import MAX_BODY, REFUSED

if TYPE_CHECKING:
    from .app import Gateway

_LIMIT_DIGITS = len(str(MAX_BODY))


def begin(environ: dict, op_timeout: float) -> logs.Begun:
    """Begin the request of ``environ``; raises what it is refused for."""
    begun = environ.get(logs.BEGUN)
    if begun is None:
        # However many ZooKeeper calls a request makes, it waits at most
        # op_timeout in all for an unreachable ZooKeeper.
        request_budget(op_timeout)
        begun = logs.start(environ)
    refused = environ.get(REFUSED)
    if refused is not None:
        raise refused
    length = environ.get("CONTENT_LENGTH")
    # Answered unread (the worker closes the connection). A length of fewer
    # digits than the limit is within it: no need to parse it (hot paths).
    if length and len(length) >= _LIMIT_DIGITS and (get_content_length(environ) or 0) > MAX_BODY:
        raise RequestEntityTooLarge()
    return begun


def finish(gateway: Gateway, done: logs.Finished, stale: bool) -> list[tuple[str, str]]:
    """Count and log a finished request; the headers its answer carries."""
    gateway.metrics.observe(done)
    logs.finish(done, gateway.config.access_log)
    headers = [("X-Request-Id", done.request_id)]
    if stale:
        headers.append(("X-Soa-Stale", "true"))
    return headers


def end() -> None:
    """After the answer: the request's budget ends."""
    end_request()
