"""Side-by-side measurement on one machine.

A Stack starts, on loopback: one real ZooKeeper server (data synced to disk,
as in production), the gateway as deployed (`soa-gateway serve --config`,
gunicorn, one gevent worker) and the hello-world Flask app under the same
gunicorn settings. Load comes from `wrk`. Every figure is printed next to
its baseline measured in the same run, because these machines are shared
and noisy: compare ratios, not absolute numbers.

A benchmark module in bench/ exposes ``run(stack)`` returning a list of
``Figure``; `python -m bench` runs every module, `python -m bench polaris`
only that one.
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass

from gateway.testing import GatewayProcess
from zk.server import ZooKeeperServer, ensure_paths, free_port

KEY = "bench-key-000001"
# the gateway's own server settings (gateway/serve.py), so that only the app differs
GUNICORN = [
    "--worker-class",
    "gateway.worker.GatewayWorker",
    "--workers",
    "1",
    "--worker-connections",
    "10000",
    "--keep-alive",
    "75",
]


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None  # measured in the same run
    target: float | None = None  # minimum ratio value/baseline, or maximum value when no baseline
    lower_is_better: bool = False

    @property
    def ratio(self):
        return self.value / self.baseline if self.baseline else None

    @property
    def passed(self):
        if self.target is None:
            return None
        measured = self.ratio if self.baseline else self.value
        return measured <= self.target if self.lower_is_better else measured >= self.target


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors plus non-2xx/3xx answers
    timeouts: int = 0  # of those, requests unanswered after wrk's timeout (2 s unless given)


def _ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url, duration=5, connections=50, threads=2, method="GET", body=None, headers=None, script=None, timeout=None):
    """Run wrk against url; returns a Load. ``script``: Lua text for wrk -s;
    ``timeout``: seconds before wrk counts a request as timed out (its default: 2)."""
    lua = script
    if lua is None and (method != "GET" or body or headers):
        lines = ['wrk.method = "%s"' % method]
        if body is not None:
            lines.append("wrk.body = [==[%s]==]" % body)
        for name, value in (headers or {}).items():
            lines.append('wrk.headers["%s"] = "%s"' % (name, value))
        lua = "\n".join(lines)
    command = ["wrk", "--latency", "-t", str(threads), "-c", str(connections), "-d", "%ds" % duration]
    if timeout is not None:
        command += ["--timeout", "%gs" % timeout]
    path = None
    if lua:
        fd, path = tempfile.mkstemp(suffix=".lua")
        with os.fdopen(fd, "w") as f:
            f.write(lua)
        command += ["-s", path]
    try:
        out = subprocess.run(command + [url], capture_output=True, text=True, timeout=duration + 60).stdout
    finally:
        if path:
            os.unlink(path)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    # anchored: a "+/- Stdev" column such as "72.50%" must not pass for the 50th percentile
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    timeouts = re.search(r"timeout (\d+)", out)
    return Load(
        rps,
        p50,
        p99,
        requests,
        errors + (int(non2xx.group(1)) if non2xx else 0),
        int(timeouts.group(1)) if timeouts else 0,
    )


class Stack:
    def __init__(self, sections=None, zookeeper=None):
        self.zk = ZooKeeperServer(fsync=True, **(zookeeper or {}))
        self.sections = sections or {}
        self.gateway = None
        self.hello = None
        self.hello_port = free_port()

    @property
    def key(self):
        return KEY

    def __enter__(self):
        self.zk.start()
        ensure_paths(self.zk.hosts, ["/soa/services"])
        config = {
            "gateway": {"default_zkidc": "qa"},
            "zkidc": {"qa": {"hosts": self.zk.hosts, "session_timeout": 30.0}},
            "keys": {"bench": {"secret": KEY, "rights": ["read", "write", "delete"]}},
            **self.sections,
        }
        self.gateway = GatewayProcess(config).start()
        self.hello = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                *GUNICORN,
                "--bind",
                "127.0.0.1:%d" % self.hello_port,
                "bench.hello:app",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_http(self.hello_url)
        return self

    def __exit__(self, *exc):
        if self.hello:
            self.hello.send_signal(signal.SIGTERM)
            self.hello.wait(30)
        if self.gateway:
            self.gateway.stop()
        self.zk.cleanup()

    @property
    def url(self):
        return self.gateway.url

    @property
    def hello_url(self):
        return "http://127.0.0.1:%d/hello" % self.hello_port

    def kazoo(self):
        """A plain kazoo client on the same server (the raw baseline)."""
        from kazoo.client import KazooClient

        client = KazooClient(hosts=self.zk.hosts)
        client.start(timeout=15)
        return client

    def hello_load(self, **options):
        return wrk(self.hello_url, **options)

    def post(self, path, data=b"", content_type="application/x-www-form-urlencoded"):
        request = urllib.request.Request(
            self.url + path, data=data, method="POST", headers={"Content-Type": content_type}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.read()


def _wait_http(url, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("%s not answering" % url)


def report(title, figures):
    print("\n== %s" % title)
    for f in figures:
        if f.baseline:
            line = "%-52s %10.1f %-6s baseline %10.1f  ratio %5.2fx" % (f.name, f.value, f.unit, f.baseline, f.ratio)
        else:
            line = "%-52s %10.1f %-6s" % (f.name, f.value, f.unit)
        if f.target is not None:
            bound = ("<= %g" if f.lower_is_better else ">= %g") % f.target
            line += "  target %s%s  %s" % (bound, "x" if f.baseline else "", "ok" if f.passed else "MISSED")
        print(line, flush=True)
