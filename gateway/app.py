"""The application factory: one Gateway per process, one blueprint per dialect."""
import logging

from flask import Flask, current_app, g, request
from flask.sessions import NullSession, SessionInterface
from werkzeug.exceptions import RequestEntityTooLarge

from zk.cluster import end_request, request_budget
from zk.registry import Registry

from . import logs
from .errors import describe
from .keys import Keys
from .metrics import Metrics
from .params import MAX_BODY, REFUSED

log = logging.getLogger(__name__)


class Gateway:
    """What every request needs: the config, the zkidcs and the keys."""

    def __init__(self, config):
        self.config = config
        self.registry = Registry(
            {name: z.settings() for name, z in config.zkidcs.items()},
            root=config.root,
            handler=config.handler,
            op_timeout=config.op_timeout,
            eviction=config.eviction(),
            replica=config.replica,
            zone=config.zone or None,
        )
        self.registry.write_listener = logs.note_write
        self.keys = Keys(config.keys, config.anonymous_read)
        self.metrics = Metrics(self)
        self.openapi = None
        self.dialects = []  # (url prefix, render(Problem) -> response), longest first

    def render_for(self, path):
        for prefix, render in self.dialects:
            if path.startswith(prefix):
                return render
        return self.dialects[-1][1]


class App(Flask):
    """Flask, checking each view and hook for a coroutine once instead of on
    every request (Flask's ensure_sync inspects the function each time it
    runs it, about 5 us a call and four calls a request)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sync = {}

    def ensure_sync(self, func):
        sync = self._sync.get(func)
        if sync is None:
            sync = self._sync[func] = super().ensure_sync(func)
        return sync


class NoSessions(SessionInterface):
    """The gateway keeps no sessions: every request gets the same empty,
    read-only one instead of Flask looking for a cookie and a secret key."""

    _none = NullSession()

    def open_session(self, app, request):
        return self._none

    def save_session(self, app, session, response):
        pass


def current():
    return current_app.extensions["soa"]


def create_app(config, start=True):
    """Build the WSGI app for ``config`` (a gateway.config.Config)."""
    from . import admin, discovery, health, instance, metrics, openapi, polaris, ui

    app = App("gateway")
    app.session_interface = NoSessions()
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.json.sort_keys = False
    gateway = Gateway(config)
    app.extensions["soa"] = gateway

    for dialect in (health, metrics, openapi, discovery, polaris, instance, ui, admin):
        app.register_blueprint(dialect.blueprint)
        gateway.dialects.extend((prefix, dialect.render) for prefix in dialect.PREFIXES)
    gateway.dialects.sort(key=lambda d: len(d[0]), reverse=True)  # "/" (admin) comes last
    for lane in (polaris.DiscoverLane, discovery.PollLane):  # hot paths answered before Flask (gateway/lane.py)
        app.wsgi_app = lane(app, app.wsgi_app)

    @app.before_request
    def _begin():
        # However many ZooKeeper calls a request makes, it waits at most
        # op_timeout in all for an unreachable ZooKeeper.
        request_budget(config.op_timeout)
        logs.start()
        refused = request.environ.get(REFUSED)
        if refused is not None:
            raise refused
        if (request.content_length or 0) > MAX_BODY:  # answered unread (the worker closes the connection)
            raise RequestEntityTooLarge()

    @app.errorhandler(Exception)
    def _error(error):
        g.problem = describe(error)
        return gateway.render_for(request.path)(g.problem)

    @app.after_request
    def _end(response):
        done = logs.Finished.of(response)
        gateway.metrics.observe(done)
        response.headers["X-Request-Id"] = done.request_id
        logs.finish(done, config.access_log)
        catalog = g.get("catalog")
        if catalog is not None and catalog.stale:
            response.headers["X-Soa-Stale"] = "true"
        return response

    @app.teardown_request
    def _end_budget(_error):
        end_request()

    if start:
        for name in config.zkidcs:
            gateway.registry.get(name)
    return app
