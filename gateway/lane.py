"""Hot paths answered before Flask.

A few requests make up nearly all of a registry's traffic: Polaris SDKs
polling ``/v1/Discover`` with the revision they hold, discovery SDKs parked
in long polls and all woken at once by a change. Their answers are prepared
bytes from the cache, and Flask's contexts, URL matching, hooks and response
objects cost more than the rest of such a request. A Lane is WSGI middleware
that answers one endpoint itself when the request is ordinary, with the
view's own functions for parsing, keys and answers, and counts it in the
metrics and the access log like any other request. ``answer(environ)``
returns None for anything else, and any error makes it None too: the Flask
view then answers, and stays the one place where errors are answered.
"""
import time

from werkzeug.http import HTTP_STATUS_CODES

from . import logs


class Lane:
    method = "POST"
    paths = {}  # path -> endpoint name, as the view's metrics know it
    dialect = ""

    def __init__(self, app, wsgi_app):
        self.wsgi_app = wsgi_app  # Flask's (or the next lane's)
        self.gateway = app.extensions["soa"]

    def __call__(self, environ, start_response):
        endpoint = self.paths.get(environ.get("PATH_INFO"))
        if endpoint is None or environ.get("REQUEST_METHOD") != self.method:
            return self.wsgi_app(environ, start_response)
        started = time.monotonic()
        try:
            found = self.answer(environ, endpoint)
        except Exception:  # noqa: BLE001 - errors are the view's to answer
            found = None
        if found is None:
            return self.wsgi_app(environ, start_response)
        key, catalog, status, body = found
        request_id = logs.request_id_in(environ)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("X-Request-Id", request_id)]
        if catalog.stale:
            headers.append(("X-Soa-Stale", "true"))
        start_response("%d %s" % (status, HTTP_STATUS_CODES[status]), headers)
        done = logs.Finished(request_id, self.method, environ["PATH_INFO"], status, self.dialect, endpoint, key,
                             catalog.name, [], time.monotonic() - started, None, [])
        self.gateway.metrics.observe(done)
        logs.finish(done, self.gateway.config.access_log)
        return [body]

    def answer(self, environ, endpoint):
        """(key name, catalog, HTTP status, body bytes), or None for the view to answer."""
        raise NotImplementedError
