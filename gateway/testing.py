"""Real gateway processes for tests and benchmarks.

``GatewayProcess`` writes a config file and runs ``soa-gateway serve
--config`` (gunicorn, gevent workers) on a free loopback port, exactly as a
deployment would, so tests can run several replicas against one ensemble.
The config holds key secrets: it and the log are readable by their owner
only, in a folder of their own that goes when the process stops (or inside
a folder the caller cleans up, such as pytest's ``tmp_path``); so do its
temporary files (``TMPDIR``).
"""

import json
import os
import shutil
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


def private_file(path, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    """A file descriptor on ``path`` with mode 0600, whatever the umask or its old mode."""
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return fd


class GatewayProcess:
    def __init__(self, config, port=None, env=None, workers=1, directory=None):
        """``directory``: where its own folder goes; without one, the system's temporary
        folder, and stop() removes it (start() writes it again: a stopped gateway restarts)."""
        self.port = port or free_port()
        self._port_chosen = port is None  # by us: another may be chosen if it is taken (start)
        self._own_dir = directory is None
        self.dir = tempfile.mkdtemp(prefix="gateway-%d-" % self.port, dir=directory)
        self._doc = json.loads(json.dumps(config))
        self._doc.setdefault("gateway", {}).setdefault("workers", workers)
        self.config_path = os.path.join(self.dir, "gateway.toml")
        self._write_config()
        # its temporary files too (the workers' metrics folder, gateway/serve.py): a gateway
        # killed outright (stop(kill=True)) leaves nothing behind once its folder goes
        self.env = {**os.environ, "TMPDIR": self.dir, **(env or {})}
        self.process = None
        self.log_path = os.path.join(self.dir, "gateway.log")

    def _write_config(self):
        """The folder and its config (key secrets: mode 0700 and 0600)."""
        self._doc["gateway"]["bind"] = "127.0.0.1:%d" % self.port
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        with open(private_file(self.config_path), "w") as f:
            f.write(to_toml(self._doc))

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=30.0, attempts=3):
        """Start it and wait until it is ready. A port chosen here may be taken
        before gunicorn binds it (a busy machine's outgoing connections use the
        same range): then it starts again on another, ``attempts`` times in all."""
        if not os.path.exists(self.config_path):  # removed by stop()
            self._write_config()
        for attempt in range(1, attempts + 1):
            log = open(private_file(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab")
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--config", self.config_path],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,  # its own process group: kill() reaches the workers too
            )
            log.close()
            try:
                self._wait_ready(timeout)
                return self
            except Exception:
                said = self.log()  # by soa-gateway's own check, or by gunicorn if taken after it
                taken = "127.0.0.1:%d is already in use" % self.port in said
                taken = taken or "Connection in use: ('127.0.0.1', %d)" % self.port in said
                if not (taken and self._port_chosen and attempt < attempts):
                    self.stop(kill=True)  # nothing left running, nor its folder, by a failed start
                    raise
            self.process.wait()
            self.port = free_port()
            self._write_config()
        return self

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gateway exited with %s:\n%s" % (self.process.returncode, self.log()))
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as answer:
                    if answer.status == 200:
                        return
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
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
