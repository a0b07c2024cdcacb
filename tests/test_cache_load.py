"""Loading a large tree: never bound by op_timeout, never abandoned, visible
while it runs, and a reconnect re-reads only what changed."""

import collections
import json
import socket

import pytest

from gateway import create_app
from tests.conftest import OPS, eventually, make_config
from tests.discovery_helpers import register
from zk import tree as tree_module
from zk.errors import Unavailable


def member(n):
    host = "10.0.%d.%d" % (n // 250, n % 250 + 1)
    return json.dumps(
        {"serviceEndpoint": {"host": host, "port": 8080}, "additionalEndpoints": {}, "status": "ALIVE"}
    ).encode()


def fill(zk, services_path, services, members):
    """services x members, pipelined like any bulk writer."""
    names = ["svc%04d" % i for i in range(services)]
    for result in [zk.create_async("%s/%s" % (services_path, name), b"") for name in names]:
        result.get(timeout=30)
    pending = [
        zk.create_async("%s/%s/member_" % (services_path, name), member(m), sequence=True)
        for name in names
        for m in range(members)
    ]
    for result in pending:
        result.get(timeout=30)
    return names


def slow_reads(mocker, seconds):
    """Each step of a load takes ``seconds`` longer, as on a slow ensemble."""
    read = tree_module.WatchedTree._read_groups

    def slowed(self, names, known, reuse_data):
        groups = read(self, names, known, reuse_data)
        if len(names) > 1:
            self.cluster.handler.sleep_func(seconds)
        return groups

    mocker.patch.object(tree_module.WatchedTree, "_read_groups", slowed)


def test_a_load_longer_than_op_timeout_finishes_and_shows_its_progress(zk, zk_server, chroot, services_path, mocker):
    """op_timeout bounds what one HTTP request waits, not a bulk load: with
    an op_timeout far below one read of the tree, the load still finishes;
    meanwhile /readyz says loading with its progress, and every dialect
    answers its 503-class error saying so, never an empty list."""
    names = fill(zk, services_path, 1200, 2)
    mocker.patch.object(tree_module, "CHUNK", 100)
    slow_reads(mocker, 0.3)
    app = create_app(make_config(zk_server.hosts, chroot, gateway={"op_timeout": 0.01}))
    try:
        client = app.test_client()

        def loading():
            qa = client.get("/readyz").json["zkidcs"]["qa"]
            return qa["cache"] == "loading" and qa.get("load", {}).get("services", 0) > 0 and qa

        qa = eventually(loading, timeout=20)
        assert qa["load"]["total"] == 1200 and qa["load"]["services"] < 1200
        assert client.get("/readyz").status_code == 503
        other = client.get(
            "/servicelist", query_string={"key": OPS, "zkidc": "yz"}
        )  # one zkidc loading starves no other
        assert other.status_code == 200 and other.json["services"] == []

        admin = client.get("/servicelist", query_string={"key": OPS})
        assert admin.status_code == 503 and "loading" in admin.json["reason"] and "services" not in admin.json
        serverlist = client.get("/serverlist", query_string={"destName": names[0], "key": OPS})
        assert serverlist.status_code == 503 and "loading" in serverlist.json["reason"]
        discovery = client.get(
            "/discovery/fetch", query_string={"appid": names[0], "env": "prod", "status": 3, "key": OPS}
        ).json
        assert discovery["code"] == -500 and "loading" in discovery["message"] and "data" not in discovery
        polaris = client.post(
            "/v1/Discover",
            json={"type": 1, "service": {"name": names[0], "namespace": "default"}},
            headers={"X-Polaris-Token": OPS},
        )
        assert polaris.status_code >= 500 and "loading" in polaris.json["info"] and not polaris.json.get("instances")
        instance = client.get("/api/instance/list", query_string={"serviceName": names[0], "key": OPS})
        assert instance.status_code == 503 and "loading" in instance.get_data(as_text=True)

        ready = eventually(lambda: client.get("/readyz").status_code == 200 and client.get("/readyz").json, timeout=60)
        assert ready["zkidcs"]["qa"]["cache"] == "fresh" and ready["zkidcs"]["qa"]["last_load_seconds"] > 0.3
        listed = client.get("/servicelist", query_string={"key": OPS}).json["services"]
        assert len(listed) == 1200
        servers = client.get("/serverlist", query_string={"destName": names[-1], "key": OPS}).json["servers"]
        assert len(servers) == 2
    finally:
        app.extensions["soa"].registry.stop()


def test_a_failed_load_is_tried_again_until_it_succeeds(zk, zk_server, chroot, services_path, mocker, caplog):
    """ZooKeeper failing the first loads (timeouts, a dropped connection)
    delays readiness; it never leaves the replica not ready for good."""
    fill(zk, services_path, 20, 2)
    read = tree_module.WatchedTree._read_groups
    failures = []

    def flaky(self, names, known, reuse_data):
        if self.root.endswith("/soa/services") and len(failures) < 3:
            failures.append(names)
            raise Unavailable("ZooKeeper zkidc qa did not answer within 1.5 s")
        return read(self, names, known, reuse_data)

    mocker.patch.object(tree_module.WatchedTree, "_read_groups", flaky)
    app = create_app(make_config(zk_server.hosts, chroot))
    try:
        client = app.test_client()
        eventually(lambda: client.get("/readyz").status_code == 200, timeout=20)
        assert len(failures) == 3
        assert len(client.get("/servicelist", query_string={"key": OPS}).json["services"]) == 20
        assert "trying again" in caplog.text
    finally:
        app.extensions["soa"].registry.stop()


class Deaf(collections.deque):
    """An inbox that loses the recursive watch's events."""

    def append(self, event):
        pass


def drop_connection(cluster):
    """A network blip: the TCP connection dies, the session lives on."""
    cluster.client._connection._socket.shutdown(socket.SHUT_RDWR)


@pytest.mark.parametrize("services", [3000])
def test_a_reconnect_rereads_only_what_changed(zk, zk_server, chroot, services_path, mocker, services):
    names = fill(zk, services_path, services, 2)
    app = create_app(make_config(zk_server.hosts, chroot))
    try:
        client = app.test_client()
        catalog = app.extensions["soa"].registry.get("qa")

        def ready():
            answer = client.get("/readyz")
            assert answer.status_code == 200, (answer.json, catalog.tree.progress, catalog.tree.last_load)
            return True

        eventually(ready, timeout=60)
        assert catalog.tree.last_load.kind == "load" and catalog.tree.last_load.read == services
        submitted = mocker.spy(catalog.cluster, "submit")

        inbox, catalog.tree._inbox = catalog.tree._inbox, Deaf()  # as if disconnected meanwhile
        zk.create(services_path + "/" + names[0] + "/member_", member(9), sequence=True)
        zk.delete(services_path + "/" + names[2], recursive=True)
        drop_connection(catalog.cluster)
        catalog.tree._inbox = inbox
        eventually(lambda: catalog.tree.last_load.kind == "resync" and not catalog.tree.stale, timeout=30)

        under = [call.args for call in submitted.call_args_list if call.args[1].startswith(catalog.tree.root + "/")]
        reads = [args for args in under if args[0] in ("get", "get_children")]
        assert len([args for args in under if args[0] == "exists"]) <= services
        assert len(reads) <= 20, reads  # a full reload would be 3 a service, 9,000 here
        assert catalog.tree.last_load.read == 1  # names[0]; names[2] is gone from the root's list

        servers = eventually(
            lambda: client.get("/serverlist", query_string={"destName": names[0], "key": OPS}).json["servers"]
        )
        assert len(servers) == 3
        assert client.get("/serverlist", query_string={"destName": names[2], "key": OPS}).status_code == 404
        assert len(client.get("/servicelist", query_string={"key": OPS}).json["services"]) == services - 1
    finally:
        app.extensions["soa"].registry.stop()


def test_no_eviction_for_a_renew_the_lease_view_has_not_seen(client, app, zk, chroot, mocker):
    """After a resync that skipped a lease group, the view may miss renews
    made meanwhile: an eviction asks ZooKeeper first and is called off."""
    assert register(client, appid="lease.app")["code"] == 0
    catalog = app.extensions["soa"].registry.get("qa")
    instances = catalog.instances
    group = eventually(lambda: catalog.tree.group("lease.app"))
    leaf = next(iter(group.leaves.values()))
    lease = chroot + "/qa" + instances.lease_path("lease.app", leaf.value.instance["lease"])
    path = chroot + "/qa" + catalog.layout.member("lease.app", leaf.name)
    eventually(lambda: instances.leases.group("lease.app") is not None)
    frozen = mocker.patch.object(instances.leases, "_apply")  # the view stops following ZooKeeper
    zk.set(lease, b"")  # a renew through another replica, unseen here
    assert instances.evict("lease.app", leaf) is False
    assert zk.exists(path) is not None
    mocker.stop(frozen)
    assert eventually(lambda: instances.evict("lease.app", catalog.tree.group("lease.app").leaves[leaf.name]))
    assert zk.exists(path) is None
