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
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, NamedTuple

from werkzeug.http import HTTP_STATUS_CODES

from . import logs, pipeline
from .errors import Problem, describe

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask

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
    run: Callable[[], Answer]
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
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(answer.body)))]
            done = self._finished(environ, begun, endpoint, prepared, answer.status, problem)
            headers += pipeline.finish(self.gateway, done, prepared.catalog.stale)
            start_response("%d %s" % (answer.status, HTTP_STATUS_CODES[answer.status]), headers)
            return [answer.body]
        finally:
            pipeline.end()

    def prepare(self, environ: WSGIEnvironment, endpoint: str) -> Prepared | None:
        """The request's work, or None (or an exception) for Flask to answer it."""
        raise NotImplementedError

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
        with self.app.request_context(environ):  # what the envelopes and describe() read
            if prepared.envelope is not None:
                prepared.envelope()
            problem = describe(error)
            response = self.app.make_response(self.render(problem))
        done = self._finished(environ, begun, endpoint, prepared, problem.status, problem)
        for name, value in pipeline.finish(self.gateway, done, prepared.catalog.stale):
            response.headers[name] = value
        return response(environ, start_response)

    def _finished(
        self,
        environ: WSGIEnvironment,
        begun: logs.Begun,
        endpoint: str,
        prepared: Prepared,
        status: int,
        problem: Problem | None,
    ) -> logs.Finished:
        return logs.Finished(
            begun.request_id,
            self.method,
            environ["PATH_INFO"],
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
