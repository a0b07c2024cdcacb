"""The application factory: one Gateway per process, one blueprint per dialect."""
import logging

from flask import Flask, current_app, g, request

from zk.cluster import end_request, request_budget
from zk.registry import Registry

from . import logs
from .errors import describe
from .keys import Keys
from .metrics import Metrics

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20


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


def current():
    return current_app.extensions["soa"]


def create_app(config, start=True):
    """Build the WSGI app for ``config`` (a gateway.config.Config)."""
    from . import admin, discovery, health, instance, metrics, openapi, polaris

    app = Flask("gateway")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.json.sort_keys = False
    gateway = Gateway(config)
    app.extensions["soa"] = gateway

    for dialect in (health, metrics, openapi, discovery, polaris, instance, admin):
        app.register_blueprint(dialect.blueprint)
        gateway.dialects.extend((prefix, dialect.render) for prefix in dialect.PREFIXES)
    gateway.dialects.sort(key=lambda d: len(d[0]), reverse=True)  # "/" (admin) comes last

    @app.before_request
    def _begin():
        # However many ZooKeeper calls a request makes, it waits at most
        # op_timeout in all for an unreachable ZooKeeper.
        request_budget(config.op_timeout)
        logs.start()

    @app.errorhandler(Exception)
    def _error(error):
        g.problem = describe(error)
        return gateway.render_for(request.path)(g.problem)

    @app.after_request
    def _end(response):
        done = logs.Finished.of(response)
        gateway.metrics.observe(done)
        logs.finish(response, done, config.access_log)
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
