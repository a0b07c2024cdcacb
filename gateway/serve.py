"""Serving under gunicorn with gevent workers.

Long polls hold a greenlet each, not a thread; kazoo uses its gevent
handler so that watches and requests share one event loop. The app (and so
every kazoo client) is built in each worker, after the fork.

The workers share their metrics through a folder of the server's own
(gateway/metrics.py): ``run`` makes it, private and empty, in the system's
temporary folder (``$TMPDIR``, else ``/tmp``) before gunicorn starts any
worker, names it in ``PROMETHEUS_MULTIPROC_DIR`` (which prometheus_client
reads when it is imported, in each worker after the fork) and removes it
when gunicorn stops; ``child_exit`` drops the gauges of a worker that ended.
"""

import os
import shutil
import tempfile
from dataclasses import replace

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from . import logs


class GunicornLogger(Logger):
    """gunicorn's logger without its access lines. The app writes its own
    (``access_log``); with a log config set, gunicorn would otherwise gather
    every request's fields for a logger that then drops them."""

    def _compute_access_log_enabled(self):
        return False


class GatewayServer(BaseApplication):
    def __init__(self, config, options=None):
        self.gateway_config = replace(config, handler="gevent")
        self.options = {
            "bind": config.bind,
            "workers": config.workers,
            "worker_class": "gateway.worker.GatewayWorker",
            "worker_connections": 20000,  # parked long polls included (gateway/worker.py)
            "timeout": 60,
            "graceful_timeout": 35,
            "keepalive": 75,
            "accesslog": None,  # the app logs one JSON line per request itself
            "errorlog": "-",
            "loglevel": "info",
            "logconfig_dict": logs.gunicorn_logconfig(),
            "logger_class": GunicornLogger,
            # gunicorn's control socket defaults to one path per user, which two
            # replicas on one host would share; the gateway does not use it.
            "control_socket_disable": True,
            # The longest request line gunicorn takes (its default is 4094): discovery
            # clients poll many appids in one GET (appid=..&latest_timestamp=.. each).
            "limit_request_line": 8190,
        }
        self.options.update(config.section("gunicorn"))
        self.options.update(options or {})
        super().__init__()

    def run(self):
        owner = os.getpid()
        directory = tempfile.mkdtemp(prefix="soa-gateway-metrics-")  # mode 0700, empty
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory  # before any worker imports prometheus_client
        self.gateway_config = replace(self.gateway_config, metrics_dir=directory)
        try:
            super().run()
        finally:
            # gunicorn's workers are forks of this process and leave through here too
            if os.getpid() == owner:
                shutil.rmtree(directory, ignore_errors=True)

    def load_config(self):
        for name, value in self.options.items():
            if name in self.cfg.settings and value is not None:
                self.cfg.set(name, value)
        configured = self.cfg.child_exit  # gunicorn's no-op, or a [gunicorn] child_exit

        def child_exit(arbiter, worker):
            """In the arbiter, once a worker has exited or was killed: its gauges go."""
            from .metrics import forget

            forget(worker.pid, self.gateway_config.metrics_dir)
            configured(arbiter, worker)

        self.cfg.set("child_exit", child_exit)

    def load(self):
        from .app import create_app

        return create_app(self.gateway_config)
