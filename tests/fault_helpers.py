"""Shared by the fault, bad-input and key tests: real gateway processes on
their own ZooKeeper (a 3-node ensemble for the fault tests), plain HTTP
calls that time themselves, and znode tree snapshots."""

import contextlib
import http.client
import itertools
import json
import os
import time
import urllib.parse
from dataclasses import dataclass

from kazoo.client import KazooClient

from tests.conftest import OPS, ZKIDCS, config_doc

_counter = itertools.count()


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes
    elapsed: float

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    @property
    def content_type(self):
        return self.headers.get("content-type", "").split(";")[0].strip()


def call(base, method, path, params=None, form=None, body=None, headers=None, timeout=40):
    """One HTTP call to a real gateway process (``base`` = http://host:port).

    ``params``: query string (dict of scalars or lists); ``form``: a form body;
    ``body``: a JSON body (any JSON value) or raw bytes. Never raises for an
    HTTP status; an unreachable gateway raises OSError.
    """
    parts = urllib.parse.urlsplit(base)
    url = path
    if params:
        url += ("&" if "?" in path else "?") + urllib.parse.urlencode(params, doseq=True)
    headers = dict(headers or {})
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form, doseq=True).encode()
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    started = time.monotonic()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(method, url, body=data, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        return Answer(
            response.status, {k.lower(): v for k, v in response.getheaders()}, payload, time.monotonic() - started
        )
    finally:
        connection.close()


def plain_client(hosts, timeout=30):
    client = KazooClient(hosts=hosts, timeout=10)
    client.start(timeout=timeout)
    return client


def new_prefix(zk):
    """A fresh chroot prefix (zkidcs qa, yz, g1 under it) on ``zk``'s ensemble."""
    prefix = "/f%d-%d" % (os.getpid(), next(_counter))
    for name in ZKIDCS:
        zk.ensure_path("%s/%s/soa/services" % (prefix, name))
    return prefix


def snapshot(zk, path):
    """Every znode under ``path`` with its data and version: path -> (data, version).

    Compared before and after a refused request, it shows nothing was written.
    """
    found = {}

    def walk(node):
        try:
            data, stat = zk.get(node)
            children = zk.get_children(node)
        except Exception:  # noqa: BLE001 - gone meanwhile
            return
        found[node] = (data, stat.version, stat.cversion)
        for child in children:
            walk(node.rstrip("/") + "/" + child)

    walk(path)
    return found


def registry_state(zk, prefix, zkidcs=("qa", "yz", "g1"), trees=("services", "leases", "rules")):
    """snapshot() of the services, leases and rules trees of every zkidc under ``prefix``."""
    found = {}
    for zkidc in zkidcs:
        for tree in trees:
            found.update(snapshot(zk, "%s/%s/soa/%s" % (prefix, zkidc, tree)))
    return found


class Gateways:
    """Start real gateway processes on one prefix; kill them all at the end.

    Their configs (key secrets) and logs go under ``directory``, a pytest tmp folder.
    """

    def __init__(self, hosts, prefix, directory):
        self.hosts = hosts
        self.prefix = prefix
        self.directory = directory
        self.started = []

    def start(self, gateway=None, sections=None, workers=1, **zkidc_options):
        from gateway.testing import GatewayProcess

        doc = config_doc(self.hosts, self.prefix, gateway, sections, **zkidc_options)
        process = GatewayProcess(doc, workers=workers, directory=self.directory).start(timeout=60)
        self.started.append(process)
        return process

    def stop(self):
        for process in self.started:
            process.stop(kill=True)


# Nothing lapses by itself while a test compares trees before and after.
QUIET = {"discovery": {"ttl": 3600}, "instance": {"unhealthy_after": 3600, "remove_after": 7200}}


@contextlib.contextmanager
def gateway_on_own_prefix(zk, zk_server, directory, sections=QUIET):
    """(a real gateway process, its prefix) on the test server; both gone afterwards."""
    prefix = new_prefix(zk)
    started = Gateways(zk_server.hosts, prefix, directory)
    try:
        yield started.start(sections=sections), prefix
    finally:
        started.stop()
        zk.delete(prefix, recursive=True)


# -- the discovery calls the fault tests make ------------------------------------

APPID = "fault.demo"


def identity(hostname, zone="sh001", env="uat", appid=APPID):
    return {"zone": zone, "env": env, "appid": appid, "hostname": hostname}


def register(base, hostname, n=1, status=1, key=OPS, **extra):
    form = {
        **identity(hostname, **extra),
        "addrs": "http://10.1.%d.%d:8080" % (n // 250, n % 250 + 1),
        "status": status,
        "key": key,
    }
    return call(base, "POST", "/discovery/register", form=form, timeout=15)


def renew(base, hostname, key=OPS, **extra):
    return call(base, "POST", "/discovery/renew", form={**identity(hostname, **extra), "key": key}, timeout=15)


def fetch(base, appid=APPID, env="uat", key=OPS):
    return call(
        base, "GET", "/discovery/fetch", params={"appid": appid, "env": env, "status": 3, "key": key}, timeout=15
    )


def fetched_hostnames(answer):
    doc = answer.json
    if doc.get("code") != 0:
        return None
    return sorted(i["hostname"] for zone in doc["data"]["instances"].values() for i in zone)


def zk_members(zk, prefix, appid=APPID, zkidc="qa"):
    """What a plain kazoo client sees: member name -> (parsed data, ephemeral owner)."""
    path = "%s/%s/soa/services/%s" % (prefix, zkidc, appid)
    found = {}
    if not zk.exists(path):
        return found
    for child in zk.get_children(path):
        if child.startswith("member_"):
            try:
                data, stat = zk.get("%s/%s" % (path, child))
            except Exception:  # noqa: BLE001 - deleted between the two calls
                continue
            found[child] = (json.loads(data), stat.ephemeralOwner)
    return found


def zk_hostnames(zk, prefix, appid=APPID):
    """Hostnames of the discovery members in ZooKeeper, with repeats (duplicates show)."""
    return sorted(doc["instance"]["hostname"] for doc, _ in zk_members(zk, prefix, appid).values())
