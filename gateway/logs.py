"""Structured JSON logs, request ids and the audit trail.

Every log line is one JSON object. Each request gets an id (the client's
``X-Request-Id`` when it sends a sane one) that is echoed back and stamped on
every line logged while serving it. Every change to ZooKeeper made by a
request, and every write refused for its key, gets one ``soa.audit`` line:
who (the key's name, never the key), zkidc, dialect, action, znode paths,
result. Heartbeats are not changes and are not audited.
"""
import json
import logging
import re
import time
import uuid

from flask import g, has_request_context, request

audit_log = logging.getLogger("soa.audit")
access_log = logging.getLogger("soa.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class JsonFormatter(logging.Formatter):
    _standard = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record):
        doc = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + ".%03dZ" % record.msecs,
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if has_request_context() and "request_id" in g:
            doc["request_id"] = g.request_id
        for name, value in vars(record).items():
            if name not in self._standard and not name.startswith("_"):
                doc[name] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
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


def install(app):
    """Request ids, an access line per request and audit lines on changes."""

    @app.before_request
    def _start():
        sent = request.headers.get("X-Request-Id", "")
        g.request_id = sent if _REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        g.started = time.monotonic()
        g.writes = []

    @app.after_request
    def _finish(response):
        response.headers["X-Request-Id"] = g.get("request_id", "")
        problem = g.get("problem")
        catalog = g.get("catalog")
        access_log.info(
            "%s %s %s",
            request.method,
            request.path,  # never the query string: keys travel there
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "dialect": dialect_of(),
                "endpoint": endpoint_of(),
                "key": g.get("key_name"),
                "zkidc": catalog.name if catalog is not None else None,
                "duration_ms": round((time.monotonic() - g.get("started", time.monotonic())) * 1000, 2),
                "error": problem.message if problem else None,
            },
        )
        _audit(response, problem, catalog)
        return response


def _audit(response, problem, catalog):
    writes = [w for w in g.get("writes", ()) if not w[2]]  # leave out heartbeats
    refused = problem is not None and problem.status in (401, 403) and request.method != "GET"
    if not writes and not refused:
        return
    who = g.get("key_name") or (getattr(problem.error, "key_name", None) if problem else None)
    audit_log.info(
        "%s %s by %s",
        endpoint_of(),
        "refused" if refused else "done",
        who or "anonymous",
        extra={
            "audit": True,
            "key": who,
            "zkidc": catalog.name if catalog is not None else None,
            "dialect": dialect_of(),
            "action": endpoint_of(),
            "paths": sorted({path for _, path, _ in writes}),
            "operations": [op for op, _, _ in writes],
            "result": "ok" if problem is None else problem.message,
            "status": response.status_code,
        },
    )


def note_write(op, path, heartbeat):
    """zk.Cluster's write listener: remember what this request changed.

    Writes made outside any request (eviction, re-creation after a session
    expiry) are the gateway's own and are audited at once.
    """
    if has_request_context():
        if "writes" in g:
            g.writes.append((op, path, heartbeat))
    elif not heartbeat:
        audit_log.info("%s %s by the gateway", op, path, extra={"audit": True, "key": None, "actor": "gateway", "operations": [op], "paths": [path], "result": "ok"})


def dialect_of():
    return request.blueprint or "none"


def endpoint_of():
    endpoint = request.endpoint or "unmatched"
    return endpoint.split(".", 1)[-1].removesuffix("_slash")
