"""Real ZooKeeper for every test: one server per session, one chroot per test."""

import itertools
import os
import threading

import pytest
from kazoo.client import KazooClient

from gateway import create_app
from gateway.config import from_dict
from zk.server import ZooKeeperServer

KEYS = {
    "ops": {"secret": "ops-secret-00001", "rights": ["read", "write", "delete"]},
    "reader": {"secret": "reader-secret-01", "rights": ["read"]},
    "writer": {"secret": "writer-secret-01", "rights": ["read", "write"]},
    "qaonly": {"secret": "qaonly-secret-01", "rights": ["read", "write", "delete"], "zkidcs": ["qa"]},
    "ip2city": {"secret": "ip2city-secret-1", "rights": ["read", "write", "delete"], "services": ["ip2city*"]},
}
OPS = KEYS["ops"]["secret"]
ZKIDCS = ("qa", "yz", "g1")
_counter = itertools.count()


@pytest.fixture(scope="session")
def zk_server(tmp_path_factory):
    server = ZooKeeperServer(data_dir=str(tmp_path_factory.mktemp("zk")), fsync=False)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def zk(zk_server):
    """A plain kazoo client: the outside consumer that never calls the gateway."""
    client = KazooClient(hosts=zk_server.hosts)
    client.start(timeout=15)
    yield client
    client.stop()
    client.close()


@pytest.fixture
def chroot(zk):
    """A fresh prefix per test; zkidc qa lives at <prefix>/qa and so on."""
    prefix = "/t%d-%d" % (os.getpid(), next(_counter))
    for name in ZKIDCS:
        zk.ensure_path("%s/%s/soa/services" % (prefix, name))
    yield prefix
    if zk.exists(prefix):
        zk.delete(prefix, recursive=True)


def make_config(hosts, prefix, gateway=None, sections=None, **zkidc_options):
    return from_dict(config_doc(hosts, prefix, gateway, sections, **zkidc_options), environ={})


@pytest.fixture
def config(zk_server, chroot):
    return make_config(zk_server.hosts, chroot)


@pytest.fixture
def app(config):
    app = create_app(config)
    yield app
    app.extensions["soa"].registry.stop()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def services_path(chroot):
    """Where the outside consumer finds zkidc qa's services."""
    return "%s/qa/soa/services" % chroot


def config_doc(hosts, prefix, gateway=None, sections=None, **zkidc_options):
    """The config file a real gateway process gets (same shape as make_config)."""
    return {
        "gateway": {"default_zkidc": "qa", **(gateway or {})},
        "zkidc": {
            name: {"hosts": "%s%s/%s" % (hosts, prefix, name), "session_timeout": 4.0, **zkidc_options}
            for name in ZKIDCS
        },
        "keys": KEYS,
        **(sections or {}),
    }


@pytest.fixture(scope="module")
def own_gateway(zk, zk_server, tmp_path_factory):
    """(a real gateway process, its ZooKeeper prefix) shared by a test module."""
    from tests.fault_helpers import gateway_on_own_prefix

    with gateway_on_own_prefix(zk, zk_server, tmp_path_factory.mktemp("gateway")) as found:
        yield found


@pytest.fixture
def gateway_process(zk_server, chroot, tmp_path):
    """Factory: start real `soa-gateway serve --config` processes on this test's chroot."""
    from gateway.testing import GatewayProcess

    started = []

    def start(gateway=None, sections=None, **options):
        process = GatewayProcess(
            config_doc(zk_server.hosts, chroot, gateway, sections), directory=tmp_path, **options
        ).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop(kill=True)


def eventually(check, timeout=15.0, interval=0.05):
    """Retry ``check`` until it returns a truthy value; at the deadline, fail with its last error.

    Any exception means "not yet", not only AssertionError: a replica whose cache has not
    caught up answers HTTP 404 (urllib raises), a node not there yet raises NoNodeError, a
    log line being written is not JSON yet. The deadline is generous because the machine
    may be busy; a condition that holds returns at once.
    """
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except Exception:
            if time.monotonic() > deadline:
                raise
        else:
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError("condition not met within %.1f s" % timeout)
        time.sleep(interval)


class Loop:
    """Run ``step(n)`` over and over on a thread until stopped."""

    def __init__(self, step, pause=0.02):
        self.step = step
        self.pause = pause
        self.errors = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        n = 0
        while not self._stop.is_set():
            try:
                self.step(n)
            except Exception as exc:  # noqa: BLE001 - collected and asserted on
                self.errors.append(repr(exc))
            n += 1
            self._stop.wait(self.pause)

    def stop(self):
        self._stop.set()
        self.thread.join(30)
