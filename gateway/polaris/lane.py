"""The Polaris clients' hot path: ``POST /v1/Discover`` of a service's
instances, answered from the cache before Flask.

SDKs poll Discover for every service they call, every few seconds, and
nearly every poll carries the current revision and gets the short 200001
answer. That answer is prepared bytes; Flask's contexts, URL matching,
hooks and response object cost more than everything else about it. So this
WSGI middleware answers a type 1 discover itself when everything is
ordinary: no query string, a JSON body with a Content-Length, a key that
may read the service, and a fresh cache that has the service in the
namespace asked. It parses, checks and answers with the view's own
functions, and counts the request in the metrics and the access log like
any other. Everything else, every error included, goes on to the Flask view,
which stays the one place that answers errors.
"""
import io
import time

from .. import logs
from ..access import zkidc_in
from ..keys import secret_in
from ..params import parse_json
from . import codes, schemas

PATH = "/v1/Discover"


class DiscoverLane:
    def __init__(self, app, wsgi_app):
        self.wsgi_app = wsgi_app  # Flask's, for everything this does not answer
        self.gateway = app.extensions["soa"]
        self.answers = app.extensions["polaris"]
        self.max_body = app.config["MAX_CONTENT_LENGTH"]

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST" or environ.get("QUERY_STRING"):
            return self.wsgi_app(environ, start_response)
        length = environ.get("CONTENT_LENGTH") or ""
        if not length.isdigit() or int(length) > self.max_body:
            return self.wsgi_app(environ, start_response)
        started = time.monotonic()
        raw = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(raw)  # for the view, when it answers instead
        try:
            found = self._answer(environ, raw)
        except Exception:  # noqa: BLE001 - errors are the view's to answer
            found = None
        if found is None:
            return self.wsgi_app(environ, start_response)
        key, catalog, code, body = found
        request_id = logs.request_id_in(environ)
        start_response("%d OK" % codes.status(code), [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("X-Request-Id", request_id),
        ])
        done = logs.Finished(request_id, "POST", PATH, codes.status(code), "polaris", "discover", key, catalog.name,
                             time.monotonic() - started, None, [])
        self.gateway.metrics.observe(done)
        logs.finish(done, self.gateway.config.access_log)
        return [body]

    def _answer(self, environ, raw):
        """(key name, catalog, code, body), or None for the view to answer."""
        kind, wanted = schemas.discover_request(parse_json(raw))
        if kind != "INSTANCE":
            return None
        gateway = self.gateway
        zkidc = zkidc_in(environ, {}, gateway.config.default_zkidc)
        key = gateway.keys.check(secret_in(environ), "read", zkidc, wanted["name"])
        catalog = gateway.registry.get(zkidc)
        if catalog.stale:  # the view says so in a header
            return None
        view = self.answers.in_namespace(catalog, wanted["name"], wanted["namespace"])
        code, body = view.answer(wanted["revision"])
        return key, catalog, code, body
