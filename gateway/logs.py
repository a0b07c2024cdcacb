"""Structured JSON logs, request ids and the audit trail.

Every log line is one JSON object. Each request gets an id (the client's
``X-Request-Id`` when it sends a sane one) that is echoed back and stamped on
every line logged while serving it. Every change to ZooKeeper made by a
request, and every write refused for its key, gets one ``soa.audit`` line:
who (the key's name, never the key), zkidc and services targeted, dialect,
action, znode paths (inside the zkidc, without its chroot), the members
created with their host:port, result. Heartbeats are not changes and are
not audited.
"""

import json
import logging
import random
import re
import time
from dataclasses import dataclass, field

from flask import g, has_request_context, request

from zk import codec
from zk.paths import is_member

from .history import recent

audit_log = logging.getLogger("soa.audit")
access_log = logging.getLogger("soa.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# A key in a query string: gunicorn logs the URI of a request that failed in the app.
_QUERY_KEY = re.compile(r"([?&](?:key|keys)=)[^&#\s'\"]+", re.IGNORECASE)


def redact(text):
    """``text`` with the value of every ``key=``/``keys=`` query parameter hidden."""
    return _QUERY_KEY.sub(r"\1<redacted>", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line.

    Fields passed as ``extra={"fields": {...}}`` are merged in as they are;
    any other ``extra`` attribute is too (third-party loggers). Keys in a
    query string of the message or the traceback are redacted.
    """

    _standard = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "fields"}
    _second = (0, "")

    def format(self, record):
        second = int(record.created)
        if second != self._second[0]:
            self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        doc = {
            "ts": "%s.%03dZ" % (self._second[1], record.msecs),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,  # which gunicorn worker (or the arbiter) wrote it
            "msg": redact(record.getMessage()),
        }
        begun = _begun()
        if begun is not None:
            doc["request_id"] = begun.request_id
        fields = record.__dict__.get("fields")
        if fields:
            doc.update(fields)
        elif len(record.__dict__) > len(self._standard) - 2:
            for name, value in record.__dict__.items():
                if name not in self._standard and not name.startswith("_"):
                    doc[name] = value
        if record.exc_info:
            doc["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(doc, default=str, ensure_ascii=False)


def configure(level=logging.INFO):
    """JSON lines on stderr for the gateway, kazoo and gunicorn alike."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def gunicorn_logconfig():
    """gunicorn's logconfig_dict: its own lines in the same JSON shape."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {
            "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


@dataclass(slots=True)
class Begun:
    """A request's id, clock and writes, from its start (see start())."""

    request_id: str
    started: float
    writes: list[tuple] = field(default_factory=list)  # (op, path, heartbeat, data), see note_write()


BEGUN = "soa.begun"  # the request's Begun, in its WSGI environ


@dataclass(slots=True)
class Finished:
    """What one request did, gathered once for the access line, the audit
    trail and the metrics."""

    request_id: str
    method: str
    path: str
    status: int
    dialect: str
    endpoint: str
    key: str | None
    zkidc: str | None
    services: list
    seconds: float
    problem: object  # gateway.errors.Problem or None
    writes: list

    @classmethod
    def of(cls, response):
        """What a request answered in Flask did (its Flask contexts are still there)."""
        ctx = g._get_current_object()
        req = request._get_current_object()
        begun = req.environ.get(BEGUN) or start(req.environ)
        problem = getattr(ctx, "problem", None)
        catalog = getattr(ctx, "catalog", None)
        key = getattr(ctx, "key_name", None) or (getattr(problem.error, "key_name", None) if problem else None)
        return cls(
            begun.request_id,
            req.method,
            req.path,
            problem.status if problem else response.status_code,
            req.blueprint.split(".", 1)[0] if req.blueprint else "none",  # a dialect's blueprints nest in its own
            (req.endpoint or "unmatched").rsplit(".", 1)[-1].removesuffix("_slash"),
            key,
            catalog.name if catalog is not None else getattr(ctx, "zkidc_asked", None),  # asked, even when refused
            getattr(ctx, "services", []),
            time.monotonic() - begun.started,
            problem,
            begun.writes,
        )


def request_id_in(environ):
    """The client's ``X-Request-Id`` when it is sane, else a new id."""
    sent = environ.get("HTTP_X_REQUEST_ID", "")
    return sent if _REQUEST_ID.fullmatch(sent) else "%032x" % random.getrandbits(128)


def start(environ: dict) -> Begun:
    """Before a request (gateway/pipeline.py begin()): its id and its clock,
    kept in its environ for whoever answers it, a lane or Flask."""
    begun = environ[BEGUN] = Begun(request_id_in(environ), time.monotonic())
    return begun


def _begun() -> Begun | None:
    """The Begun of the Flask request being handled, or None."""
    return request.environ.get(BEGUN) if has_request_context() else None


def finish(done, access="errors"):
    """After a request: an access line, an audit line on changes.

    ``access``: "all" logs every request; "errors" (the default) only those
    that ended in an error, which keeps the hot path free of a log line per
    request (about a fifth of a small request's CPU) while every failure is
    still logged with its request id; "off" logs none.
    """
    if (access == "all" or (access == "errors" and done.problem is not None)) and access_log.isEnabledFor(logging.INFO):
        access_log.info(
            "%s %s %s",
            done.method,
            done.path,  # never the query string: keys travel there
            done.status,
            extra={
                "fields": {
                    "request_id": done.request_id,
                    "method": done.method,
                    "path": done.path,
                    "status": done.status,
                    "dialect": done.dialect,
                    "endpoint": done.endpoint,
                    "key": done.key,
                    "zkidc": done.zkidc,
                    "duration_ms": round(done.seconds * 1000, 2),
                    "error": done.problem.message if done.problem else None,
                }
            },
        )
    _audit(done)


def _audit(done):
    writes = [w for w in done.writes if not w[2]]  # leave out heartbeats
    refused = done.status in (401, 403) and done.method != "GET"  # a Polaris batch answers 403 itself
    if not writes and not refused:
        return
    members = _members(writes)
    fields = {
        "request_id": done.request_id,
        "audit": True,
        "key": done.key,
        "zkidc": done.zkidc,
        "services": done.services,
        "dialect": done.dialect,
        "action": done.endpoint,
        "paths": sorted({path for _, path, _, _ in writes}),
        "operations": [op for op, _, _, _ in writes],
        "members": members,
        "result": done.problem.message if done.problem else "refused" if refused else "ok",
        "status": done.status,
    }
    if writes:
        recent.note(fields)
    audit_log.info(
        "%s %s by %s on %s%s%s",
        done.endpoint,
        "refused" if refused else "done",
        done.key or "anonymous",
        done.zkidc,
        " service %s" % ", ".join(done.services) if done.services else "",
        "".join(" %s %s" % member for member in members.items()),
        extra={"fields": fields},
    )


def _members(writes):
    """member name -> host:port of each member created (what its data publishes)."""
    found = {}
    for op, path, _, data in writes:
        name = path.rsplit("/", 1)[-1]
        if op == "create" and is_member(name):
            member = codec.decode(data)
            found[name] = (
                "%s:%d" % ("[%s]" % member.host if ":" in member.host else member.host, member.port) if member else None
            )
    return found


def note_write(op, path, heartbeat, data=None):
    """zk.Cluster's write listener: remember what this request changed.

    Writes made outside any request (eviction, re-creation after a session
    expiry) are the gateway's own and are audited at once.
    """
    if has_request_context():
        begun = _begun()
        if begun is not None:
            begun.writes.append((op, path, heartbeat, data))
    elif not heartbeat:
        members = _members([(op, path, heartbeat, data)])
        audit_log.info(
            "%s %s%s by the gateway",
            op,
            path,
            "".join(" %s" % endpoint for endpoint in members.values()),
            extra={
                "fields": {
                    "audit": True,
                    "key": None,
                    "actor": "gateway",
                    "operations": [op],
                    "paths": [path],
                    "members": members,
                    "result": "ok",
                }
            },
        )
