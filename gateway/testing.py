"""Real gateway processes for tests and benchmarks.

``GatewayProcess`` writes a config file and runs ``soa-gateway serve
--config`` (gunicorn, gevent workers) on a free loopback port, exactly as a
deployment would, so tests can run several replicas against one ensemble.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from zk.server import free_port


def to_toml(doc):
    """A tiny TOML writer for config dicts (tables of scalars and lists)."""
    lines = []

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list | tuple):
            return "[%s]" % ", ".join(value(x) for x in v)
        return json.dumps(str(v))

    def table(prefix, section):
        scalars = {k: v for k, v in section.items() if not isinstance(v, dict)}
        if prefix and (scalars or not section):
            lines.append("[%s]" % prefix)
        for k, v in scalars.items():
            lines.append("%s = %s" % (k, value(v)))
        for k, v in section.items():
            if isinstance(v, dict):
                table("%s.%s" % (prefix, k) if prefix else k, v)

    table("", doc)
    return "\n".join(lines) + "\n"


class GatewayProcess:
    def __init__(self, config, port=None, env=None, workers=1):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="gateway-")
        doc = json.loads(json.dumps(config))
        gateway = doc.setdefault("gateway", {})
        gateway["bind"] = "127.0.0.1:%d" % self.port
        gateway.setdefault("workers", workers)
        self.config_path = os.path.join(self.dir, "gateway.toml")
        with open(self.config_path, "w") as f:
            f.write(to_toml(doc))
        self.env = {**os.environ, **(env or {})}
        self.process = None
        self.log_path = os.path.join(self.dir, "gateway.log")

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=30.0):
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", self.config_path],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,  # its own process group: kill() reaches the workers too
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gateway exited with %s:\n%s" % (self.process.returncode, self.log()))
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise TimeoutError("gateway not ready after %.0f s:\n%s" % (timeout, self.log()))

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self, kill=False):
        if self.process and self.process.poll() is None:
            if kill:  # the master and its workers at once: an orphaned worker would live on for up to 30 s
                os.killpg(self.process.pid, signal.SIGKILL)
            else:
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
