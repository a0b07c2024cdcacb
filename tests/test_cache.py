"""The watch cache: outside changes show up promptly, also after a real
session expiry, and losing ZooKeeper never turns into "nobody is there".

The tests that use ``client`` run twice: with the recursive watch of
ZooKeeper 3.6+ and with the one-shot watches older servers get."""

import json
import time

import pytest
from kazoo.client import KazooClient

from gateway import create_app
from tests.conftest import OPS, eventually, make_config
from zk import connection
from zk.server import ZooKeeperServer, ensure_paths


@pytest.fixture(params=[True, False], ids=["recursive-watch", "one-shot-watches"])
def config(request, zk_server, chroot):
    return make_config(zk_server.hosts, chroot, recursive_watches=request.param)


def keys_of(client, service="svc"):
    answer = client.get("/serverlist", query_string={"destName": service, "key": OPS})
    return sorted(s["key"] for s in answer.json.get("servers", []))


def member(host, port):
    return json.dumps(
        {"serviceEndpoint": {"host": host, "port": port}, "additionalEndpoints": {}, "status": "ALIVE"}
    ).encode()


def expire(zk_server, catalog):
    """Expire the gateway's session on the server, for real."""
    session = catalog.cluster.client.client_id
    other = KazooClient(hosts=catalog.cluster.hosts, client_id=session)
    other.start(timeout=10)
    other.stop()
    other.close()
    return session[0]


def test_outside_writes_show_up_promptly(client, zk, services_path):
    zk.create(services_path + "/svc")
    assert eventually(lambda: client.get("/serverlist", query_string={"destName": "svc", "key": OPS}).json["code"] == 1)
    path = zk.create(services_path + "/svc/member_", member("10.0.0.1", 80), sequence=True)
    name = path.rsplit("/", 1)[1]
    eventually(lambda: keys_of(client) == [name])
    zk.set(path, member("10.0.0.2", 81))
    eventually(
        lambda: client.get("/serverlist", query_string={"destName": "svc", "key": OPS}).json["servers"][0]["port"] == 81
    )
    zk.delete(path)
    eventually(lambda: keys_of(client) == [])
    zk.delete(services_path + "/svc")
    eventually(lambda: client.get("/serverlist", query_string={"destName": "svc", "key": OPS}).status_code == 404)


def test_version_grows_on_an_outside_delete_as_zookeeper_counts_it(client, app, zk, services_path):
    """Group.version (discovery's latest_timestamp) is the newest zxid of
    the group: deleting the newest member still makes it grow, to the
    deletion's zxid, which every gateway learns alike."""
    first = zk.create(services_path + "/svc/member_", member("10.0.0.1", 80), sequence=True, makepath=True)
    second = zk.create(services_path + "/svc/member_", member("10.0.0.2", 80), sequence=True)
    eventually(lambda: len(keys_of(client)) == 2)
    tree = app.extensions["soa"].registry.get("qa").tree
    before = tree.group("svc").version
    assert before == zk.exists(second).mzxid
    zk.delete(second)
    eventually(lambda: len(keys_of(client)) == 1)
    assert eventually(lambda: tree.group("svc").version == zk.exists(services_path + "/svc").pzxid)
    assert tree.group("svc").version > before
    zk.set(first, member("10.0.0.1", 81))
    assert eventually(lambda: tree.group("svc").version == zk.exists(first).mzxid)


def test_a_view_never_shows_half_a_transaction(app, zk, services_path):
    """A member replaced in one transaction (create the new, delete the old)
    is never published as two members, nor as none. (Replaced again before
    the cache could read the new one, it would be gone when read: each
    replacement here waits until the view shows the one before, as a
    client that reads its own registration would.)"""
    tree = app.extensions["soa"].registry.get("qa").tree
    path = zk.create(services_path + "/svc/member_", member("10.0.0.1", 80), sequence=True, makepath=True)
    eventually(lambda: tree.group("svc") is not None and len(tree.group("svc").leaves) == 1)
    seen = []
    tree.subscribe(lambda changed: seen.append(len(tree.group("svc").leaves)) if "svc" in changed else None)
    for n in range(50):
        txn = zk.transaction()
        txn.create(services_path + "/svc/member_", member("10.0.0.1", 81 + n), sequence=True)
        txn.delete(path)
        path = txn.commit()[0]
        eventually(lambda path=path: path.rsplit("/", 1)[1] in tree.group("svc").leaves)
    eventually(lambda: set(tree.group("svc").leaves) == {path.rsplit("/", 1)[1]})
    assert seen and set(seen) == {1}


def test_an_ensemble_without_recursive_watches_gets_one_shot_watches(
    zk_server, chroot, zk, services_path, monkeypatch, caplog
):
    """A server before 3.6 answers addWatch with UNIMPLEMENTED and drops the
    connection. Here the real server is sent an opcode it does not know,
    which it answers the same way."""
    monkeypatch.setattr(connection.AddWatch, "type", 999)
    app = create_app(make_config(zk_server.hosts, chroot))
    try:
        client = app.test_client()
        zk.create(services_path + "/svc")
        cluster = app.extensions["soa"].registry.get("qa").cluster
        assert eventually(
            lambda: client.get("/serverlist", query_string={"destName": "svc", "key": OPS}).json["code"] == 1,
            timeout=10,
        )
        assert cluster.recursive_watches is False
        assert "no persistent watches" in caplog.text
        path = zk.create(services_path + "/svc/member_", member("10.0.0.1", 80), sequence=True)
        eventually(lambda: keys_of(client) == [path.rsplit("/", 1)[1]])
        zk.set(path, member("10.0.0.1", 81))
        eventually(
            lambda: (
                client.get("/serverlist", query_string={"destName": "svc", "key": OPS}).json["servers"][0]["port"] == 81
            )
        )
        zk.delete(path)
        eventually(lambda: keys_of(client) == [])
    finally:
        app.extensions["soa"].registry.stop()


def test_reads_come_from_memory_not_zookeeper(client, app, zk, services_path, mocker):
    zk.create(services_path + "/svc/member_", member("10.0.0.1", 80), sequence=True, makepath=True)
    eventually(lambda: len(keys_of(client)) == 1)
    cluster = app.extensions["soa"].registry.get("qa").cluster
    calls = mocker.spy(cluster, "submit")
    for _ in range(20):
        assert len(keys_of(client)) == 1
        client.get("/servicelist", query_string={"key": OPS})
    assert calls.call_count == 0


def test_cache_follows_changes_after_a_real_session_expiry(zk_server, client, app, zk, services_path):
    catalog = app.extensions["soa"].registry.get("qa")
    zk.create(services_path + "/svc/member_", member("10.0.0.1", 80), sequence=True, makepath=True)
    eventually(lambda: len(keys_of(client)) == 1)
    old_session = expire(zk_server, catalog)
    eventually(lambda: catalog.cluster.connected and catalog.cluster.session_id != old_session, timeout=15)
    # Changes made after the expiry are seen: watches were set again on the new session.
    path = zk.create(services_path + "/svc/member_", member("10.0.0.2", 80), sequence=True)
    eventually(lambda: len(keys_of(client)) == 2)
    zk.delete(path)
    eventually(lambda: len(keys_of(client)) == 1)
    zk.create(services_path + "/svc2")
    eventually(lambda: {"service": "svc2"} in client.get("/servicelist", query_string={"key": OPS}).json["services"])


@pytest.fixture
def own_server(tmp_path):
    """A ZooKeeper server this test may stop and start again."""
    server = ZooKeeperServer(data_dir=str(tmp_path), fsync=False).start()
    ensure_paths(server.hosts, ["/%s/soa/services" % z for z in ("qa", "yz", "g1")])
    yield server
    server.cleanup()


def test_zookeeper_down_serves_last_view_marked_stale_then_recovers(own_server):
    app = create_app(make_config(own_server.hosts, "", gateway={"op_timeout": 1.0}))
    client = app.test_client()
    try:
        client.post("/addservice", query_string={"destName": "svc", "key": OPS})
        added = client.post(
            "/addserver", query_string={"destName": "svc", "key": OPS, "serverHost": "10.0.0.1", "serverPort": 80}
        )
        assert added.json["code"] == 1
        own_server.stop()
        catalog = app.extensions["soa"].registry.get("qa")
        eventually(lambda: not catalog.cluster.connected)
        answer = client.get("/serverlist", query_string={"destName": "svc", "key": OPS})
        assert answer.status_code == 200
        assert answer.json["stale"] is True and answer.headers["X-Soa-Stale"] == "true"
        assert [s["host"] for s in answer.json["servers"]] == ["10.0.0.1"]
        started = time.monotonic()
        write = client.post(
            "/addserver", query_string={"destName": "svc", "key": OPS, "serverHost": "10.0.0.2", "serverPort": 80}
        )
        assert time.monotonic() - started < 2.5
        assert write.status_code == 503 and write.json["code"] == 0 and "ZooKeeper" in write.json["reason"]
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json["zkidcs"]["qa"]["cache"] == "stale"
        own_server.start()
        eventually(lambda: client.get("/readyz").status_code == 200, timeout=20)
        again = client.post(
            "/addserver", query_string={"destName": "svc", "key": OPS, "serverHost": "10.0.0.2", "serverPort": 80}
        )
        assert again.json["code"] == 1
        fresh = client.get("/serverlist", query_string={"destName": "svc", "key": OPS}).json
        assert fresh["stale"] is False and len(fresh["servers"]) == 2
    finally:
        app.extensions["soa"].registry.stop()


def test_never_loaded_view_is_an_error_not_an_empty_list(tmp_path):
    dead = "127.0.0.1:%d" % __import__("zk.server", fromlist=["free_port"]).free_port()
    app = create_app(make_config(dead, "", gateway={"op_timeout": 0.5}))
    try:
        answer = app.test_client().get("/servicelist", query_string={"key": OPS})
        assert answer.status_code == 503
        assert answer.json["code"] == 0 and "ZooKeeper" in answer.json["reason"]
    finally:
        app.extensions["soa"].registry.stop()


def test_what_a_load_read_is_left_out_of_full_collections_and_still_freed_when_replaced(
    zk_server, chroot, zk, services_path, monkeypatch
):
    """A full collection walked the whole cache (0.3 to 0.4 s at 10,000
    services of 10 members, the worker stopped): a load leaves what it read
    out of them (gc.freeze). A group it read and a change later replaced is
    still freed, by its reference count: the cache holds no cycles."""
    import gc
    import weakref

    from zk import tree as trees

    monkeypatch.setattr(trees, "FREEZE_FROM", 1)  # production trees have 10,000 members and more
    zk.create(services_path + "/svc", makepath=True)
    path = zk.create(services_path + "/svc/member_", member("10.0.0.1", 80), sequence=True)
    frozen = gc.get_freeze_count()
    app = create_app(make_config(zk_server.hosts, chroot))
    try:
        tree = app.extensions["soa"].registry.get("qa").tree
        eventually(lambda: tree.loaded and tree.group("svc") is not None)
        assert gc.get_freeze_count() > frozen
        loaded = tree.group("svc")
        assert gc.is_tracked(loaded)
        old = weakref.ref(loaded)
        del loaded
        zk.set(path, member("10.0.0.2", 81))
        eventually(lambda: next(iter(tree.group("svc").leaves.values())).value.port == 81)
        assert eventually(lambda: old() is None)
    finally:
        app.extensions["soa"].registry.stop()
        gc.unfreeze()
