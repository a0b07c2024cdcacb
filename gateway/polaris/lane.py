"""``POST /v1/Discover`` of a service's instances, answered before Flask.

SDKs poll Discover for every service they call, every few seconds, and
nearly every poll carries the current revision and gets the short 200001
answer. This lane (see gateway/lane.py) answers a type 1 discover when
everything is ordinary: no query string, a JSON body with a Content-Length,
a key that may read the service, and a fresh cache that has the service in
the namespace asked. Everything else goes on to the view.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from ..access import allowed
from ..lane import Answer, Lane, Prepared
from ..params import parse_json, sized_body
from . import codes, schemas, service
from .envelope import expect

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment
    from flask import Flask

    from ..app import Gateway


class DiscoverLane(Lane):
    method = "POST"
    paths = {"/v1/Discover": "discover"}
    dialect = "polaris"

    def __init__(self, app: Flask, wsgi_app: WSGIApplication, gateway: Gateway) -> None:
        super().__init__(app, wsgi_app, gateway)
        self.answers = gateway.state("polaris")
        self.max_body = app.config["MAX_CONTENT_LENGTH"]

    def prepare(self, environ: WSGIEnvironment, endpoint: str) -> Prepared | None:
        raw = None if environ.get("QUERY_STRING") else sized_body(environ, self.max_body)
        if raw is None:
            return None
        environ["wsgi.input"] = io.BytesIO(raw)  # for the view, when it answers instead
        kind, wanted = schemas.discover_request(parse_json(raw))
        if kind != "INSTANCE":
            return None
        name, namespace = wanted["name"], wanted["namespace"]
        key, catalog = allowed(self.gateway, environ, "read", {}, (name,))
        if catalog.stale:  # the view says so in its answer's header
            return None
        service.in_namespace(self.answers, catalog, name, namespace)  # unknown there: the view answers

        def run() -> Answer:
            found = service.discover(self.answers, catalog, kind, wanted)
            return Answer(codes.status(found.code), found.body)

        def envelope() -> None:  # as the view's expect()
            expect(type=kind, service={"name": name, "namespace": namespace})

        return Prepared(key, catalog, run, [name], envelope)
