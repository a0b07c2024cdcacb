"""Hot paths answered before Flask.

A few requests make up nearly all of a registry's traffic: Polaris SDKs
polling ``/v1/Discover`` with the revision they hold, discovery SDKs parked
in long polls and all woken at once by a change. Their answers are prepared
bytes from the cache, and Flask's contexts, URL matching, hooks and response
objects cost more than the rest of such a request. A Lane is WSGI middleware
that answers one endpoint itself when the request is ordinary.

Its requests go through the same begin and finish as Flask's
(gateway/pipeline.py). A lane's work comes in two steps:

* ``prepare(environ, endpoint)`` parses and checks the key, with the view's
  own functions, and does nothing else. It returns None, or raises, for
  anything unusual: Flask then answers the request, as if the lane were not
  there (the request stays begun once).
* ``Prepared.run()`` does the work, which may wait (a long poll parks).
  Once it has started the request is the lane's: an error is answered here,
  in the dialect's envelope (the same ``render(describe(error))`` as
  Flask's error handler), never run again in Flask.

Under the gateway's worker a request that has to wait can leave its
greenlet instead: ``run()`` returns a ``ParkedRequest`` and the lane hands
it to the connection (gateway/parking.py). Its answer, when it comes, is
finished as every other (metrics, access line, headers).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from werkzeug.http import HTTP_STATUS_CODES

from . import logs, pipeline
from .errors import Problem, describe
from .parking import Parked, response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask, Response

    from zk.catalog import Catalog

    from .app import Gateway


class Answer(NamedTuple):
    status: int  # HTTP
    body: bytes  # JSON


@dataclass(slots=True)
class Prepared:
    """A request a lane will answer: who asks, on which zkidc, and the work."""

    key: str | None  # the key's name
    catalog: Catalog
    run: Callable[[], Answer | ParkedRequest]
    services: list[str] = field(default_factory=list)  # asked for, for the audit trail
    envelope: Callable[[], None] | None = None  # what the dialect's error envelope needs (in Flask's contexts)


class Lane:
    method: ClassVar[str] = "POST"
    paths: ClassVar[dict[str, str]] = {}  # path -> endpoint name, as the view's metrics know it
    dialect: ClassVar[str] = ""

    def __init__(self, app: Flask, wsgi_app: WSGIApplication, gateway: Gateway) -> None:
        self.app = app
        self.wsgi_app = wsgi_app  # Flask's (or the next lane's)
        self.gateway = gateway
        self.render = gateway.dialects[self.dialect].render
        self._paths_of = {name: path for path, name in self.paths.items()}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        endpoint = self.paths.get(environ.get("PATH_INFO", ""))
        if endpoint is None or environ.get("REQUEST_METHOD") != self.method:
            return self.wsgi_app(environ, start_response)
        try:
            begun = pipeline.begin(environ, self.gateway.config.op_timeout)
            prepared = self.prepare(environ, endpoint)
        except Exception:  # noqa: BLE001 - nothing done yet: Flask answers, errors included
            prepared = None
        if prepared is None:
            return self.wsgi_app(environ, start_response)
        try:
            try:
                answer, problem = prepared.run(), None
            except Exception as error:  # noqa: BLE001 - the work started: answered here, never run again
                return self._failed(environ, start_response, begun, endpoint, prepared, error)
            if isinstance(answer, ParkedRequest):  # answered later, by the worker (gateway/parking.py)
                return environ["gunicorn.socket"].park(answer)
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(answer.body)))]
            done = self._finished(environ["PATH_INFO"], begun, endpoint, prepared, answer.status, problem)
            headers += pipeline.finish(self.gateway, done, prepared.catalog.stale)
            start_response("%d %s" % (answer.status, HTTP_STATUS_CODES[answer.status]), headers)
            return [answer.body]
        finally:
            pipeline.end()

    def prepare(self, environ: WSGIEnvironment, endpoint: str) -> Prepared | None:
        """The request's work, or None (or an exception) for Flask to answer it."""
        raise NotImplementedError

    def path_of(self, endpoint: str) -> str:
        return self._paths_of[endpoint]

    @staticmethod
    def can_park(environ: WSGIEnvironment) -> bool:
        """Whether the connection of ``environ`` can park a request (see ParkedRequest)."""
        return getattr(environ.get("gunicorn.socket"), "can_park", False)

    def _failed(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        begun: logs.Begun,
        endpoint: str,
        prepared: Prepared,
        error: Exception,
    ) -> Iterable[bytes]:
        """The dialect's answer to an error met once the work started."""
        context = self.app.request_context(environ)  # what the envelopes and describe() read
        problem, response = self.error_response(context, error, prepared.envelope)
        done = self._finished(environ["PATH_INFO"], begun, endpoint, prepared, problem.status, problem)
        for name, value in pipeline.finish(self.gateway, done, prepared.catalog.stale):
            response.headers[name] = value
        return response(environ, start_response)

    def error_response(
        self, context: Any, error: Exception, envelope: Callable[[], None] | None = None
    ) -> tuple[Problem, Response]:
        """``error`` as a Problem and the dialect's response to it, made in
        ``context`` (a Flask request context: the envelopes read it)."""
        with context:
            if envelope is not None:
                envelope()
            problem = describe(error)
            return problem, self.app.make_response(self.render(problem))

    def _finished(
        self,
        path: str,
        begun: logs.Begun,
        endpoint: str,
        prepared: Prepared | ParkedRequest,
        status: int,
        problem: Problem | None,
    ) -> logs.Finished:
        return logs.Finished(
            begun.request_id,
            self.method,
            path,
            status,
            self.dialect,
            endpoint,
            prepared.key,
            prepared.catalog.name,
            prepared.services,
            time.monotonic() - begun.started,
            problem,
            begun.writes,
        )


class ParkedRequest(Parked):
    """A lane's request that waits parked by the worker, without a greenlet
    (gateway/parking.py): what the lane needs to answer and finish it then.
    Subclasses say what it waits for (``file``, ``unfile``) and what its
    answer's body is (``body``, None to keep waiting, and ``expired_body``)."""

    __slots__ = ("lane", "begun", "endpoint", "key", "catalog")

    def __init__(
        self, lane: Lane, begun: logs.Begun, endpoint: str, key: str | None, catalog: Catalog, timeout: float
    ) -> None:
        super().__init__(timeout)
        self.lane, self.begun, self.endpoint, self.key, self.catalog = lane, begun, endpoint, key, catalog

    @property
    def services(self) -> list[str]:
        """What it asked for, for the audit trail."""
        return []

    def body(self) -> bytes | None:
        raise NotImplementedError

    def expired_body(self) -> bytes:
        raise NotImplementedError

    def look(self, keepalive: bool) -> bytes | None:
        try:
            body = self.body()
        except Exception as error:  # noqa: BLE001 - answered in the dialect's envelope, as by the lane
            return self._failed(error, keepalive)
        return None if body is None else self._reply(200, body, keepalive)

    def expired(self, keepalive: bool) -> bytes:
        return self._reply(200, self.expired_body(), keepalive)

    def _reply(
        self, status: int, body: bytes, keepalive: bool, problem: Problem | None = None, content_type: str = ""
    ) -> bytes:
        lane = self.lane
        done = lane._finished(lane.path_of(self.endpoint), self.begun, self.endpoint, self, status, problem)
        headers = [("Content-Type", content_type or "application/json"), ("Content-Length", str(len(body)))]
        headers += pipeline.finish(lane.gateway, done, self.catalog.stale)
        return response(status, headers, body, keepalive)

    def _failed(self, error: Exception, keepalive: bool) -> bytes:
        lane = self.lane
        context = lane.app.test_request_context(lane.path_of(self.endpoint), method=lane.method)
        problem, answer = lane.error_response(context, error)
        return self._reply(answer.status_code, answer.get_data(), keepalive, problem, answer.content_type)
