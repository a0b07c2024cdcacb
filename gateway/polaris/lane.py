"""``POST /v1/Discover`` of a service's instances, answered before Flask.

SDKs poll Discover for every service they call, every few seconds, and
nearly every poll carries the current revision and gets the short 200001
answer. This lane (see gateway/lane.py) answers a type 1 discover when
everything is ordinary: no query string, a JSON body with a Content-Length,
a key that may read the service, and a fresh cache that has the service in
the namespace asked. Everything else goes on to the view.
"""
import io

from ..access import allowed
from ..lane import Lane
from ..params import parse_json, sized_body
from . import codes, schemas


class DiscoverLane(Lane):
    method = "POST"
    paths = {"/v1/Discover": "discover"}
    dialect = "polaris"

    def __init__(self, app, wsgi_app):
        super().__init__(app, wsgi_app)
        self.answers = app.extensions["polaris"]
        self.max_body = app.config["MAX_CONTENT_LENGTH"]

    def answer(self, environ, endpoint):
        raw = None if environ.get("QUERY_STRING") else sized_body(environ, self.max_body)
        if raw is None:
            return None
        environ["wsgi.input"] = io.BytesIO(raw)  # for the view, when it answers instead
        kind, wanted = schemas.discover_request(parse_json(raw))
        if kind != "INSTANCE":
            return None
        key, catalog = allowed(self.gateway, environ, "read", {}, (wanted["name"],))
        if catalog.stale:  # the view says so in its answer's header
            return None
        view = self.answers.in_namespace(catalog, wanted["name"], wanted["namespace"])
        code, body = view.answer(wanted["revision"])
        return key, catalog, codes.status(code), body
