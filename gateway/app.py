"""The application factory: one Gateway per process, one record per dialect
(gateway/dialect.py), one pipeline for every request (gateway/pipeline.py)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from flask import Flask, Response, g, request
from flask.json.provider import DefaultJSONProvider
from flask.sessions import NullSession, SessionInterface

from zk.registry import Registry

from . import admin, discovery, health, instance, logs, metrics, openapi, pipeline, polaris, ui
from .config import Config
from .context import EXTENSION
from .dialect import Dialect, Dialects
from .errors import describe
from .keys import Keys
from .metrics import Metrics
from .params import MAX_BODY

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

log = logging.getLogger(__name__)

# Every dialect, in the order their blueprints are registered.
DIALECTS = (
    health.DIALECT,
    metrics.DIALECT,
    openapi.DIALECT,
    discovery.DIALECT,
    polaris.DIALECT,
    instance.DIALECT,
    ui.DIALECT,
    admin.DIALECT,
)


class Gateway:
    """What every request needs: the config, the zkidcs, the keys and each
    dialect's state (reached with ``gateway.context.current()``)."""

    def __init__(self, config: Config, dialects: tuple[Dialect, ...] = DIALECTS) -> None:
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
        self.openapi: dict | None = None
        self.dialects = Dialects(dialects)
        self._states = {d.name: d.state(config) for d in self.dialects if d.state is not None}

    def state(self, dialect: str) -> Any:
        """The per-app state of ``dialect`` (made by its record's ``state``)."""
        return self._states[dialect]


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


def create_app(config: Config, start: bool = True) -> App:
    """Build the WSGI app for ``config`` (a gateway.config.Config)."""
    app = App("gateway")
    app.session_interface = NoSessions()
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    cast(DefaultJSONProvider, app.json).sort_keys = False  # answers keep their fields' order
    gateway = Gateway(config)
    app.extensions[EXTENSION] = gateway

    for dialect in gateway.dialects:
        app.register_blueprint(dialect.blueprint)
    for dialect in gateway.dialects:
        for lane in dialect.lanes:  # hot paths answered before Flask (gateway/lane.py)
            app.wsgi_app = lane(app, app.wsgi_app, gateway)  # type: ignore[method-assign]

    @app.before_request
    def _begin() -> None:
        pipeline.begin(request.environ, config.op_timeout)

    @app.errorhandler(Exception)
    def _error(error: Exception) -> ResponseReturnValue:
        g.problem = describe(error)
        return gateway.dialects.of(request.path).render(g.problem)

    @app.after_request
    def _end(response: Response) -> Response:
        catalog = g.get("catalog")
        stale = catalog is not None and catalog.stale
        for name, value in pipeline.finish(gateway, logs.Finished.of(response), stale):
            response.headers[name] = value
        return response

    @app.teardown_request
    def _end_budget(_error: BaseException | None) -> None:
        pipeline.end()

    if start:
        for name in config.zkidcs:
            gateway.registry.get(name)
    return app
