"""The discovery dialect (seed 000): endpoints, parameters, codes, the
published ServerSet members and latest_timestamp."""

import json
import time

import pytest

from gateway import create_app
from gateway.config import ConfigError
from tests.conftest import KEYS, OPS, eventually, make_config
from tests.discovery_helpers import APPID, cancel, fetch, hostnames, instance, members, register, renew
from tests.test_cache import own_server  # noqa: F401 - fixture

READER = KEYS["reader"]["secret"]


def test_register_publishes_a_serverset_member_a_plain_client_reads(client, zk, services_path):
    addrs = ["http://10.0.0.1:8080", "grpc://10.0.0.1:9000", "http://10.0.0.1:8081"]
    answer = register(
        client, addrs=addrs, color="red", version="1.2", metadata=json.dumps({"weight": "10", "provider": ""})
    )
    assert answer == {"code": 0, "message": "", "ttl": 1}
    [(name, doc)] = members(zk, services_path).items()
    assert name.startswith("member_")
    assert doc["serviceEndpoint"] == {"host": "10.0.0.1", "port": 8080}
    assert doc["additionalEndpoints"] == {
        "http": {"host": "10.0.0.1", "port": 8080},
        "grpc": {"host": "10.0.0.1", "port": 9000},
        "http_1": {"host": "10.0.0.1", "port": 8081},
    }
    assert doc["status"] == "ALIVE" and doc["metadata"] == {"weight": "10", "provider": ""}
    inst = doc["instance"]
    assert {k: inst[k] for k in ("zone", "env", "appid", "hostname", "addrs", "color", "version", "registeredBy")} == {
        **instance(),
        "addrs": addrs,
        "color": "red",
        "version": "1.2",
        "registeredBy": "discovery",
    }
    assert inst["reg_timestamp"] == inst["up_timestamp"] == inst["dirty_timestamp"] > 1e18
    stat = zk.exists("%s/%s/%s" % (services_path, APPID, name))
    assert stat.ephemeralOwner != 0  # the gateway's session owns it


def test_fetch_shows_the_instance_as_the_original(client):
    register(client, addrs=["http://10.0.0.1:8080", "gorpc://10.0.0.1:8089"], version="111", metadata='{"weight":"10"}')
    answer = fetch(client)
    assert answer["code"] == 0 and answer["ttl"] == 1
    data = answer["data"]
    [shown] = data["instances"]["sh001"]
    assert set(shown) == {
        "zone",
        "env",
        "appid",
        "hostname",
        "color",
        "version",
        "metadata",
        "addrs",
        "status",
        "reg_timestamp",
        "up_timestamp",
        "renew_timestamp",
        "dirty_timestamp",
        "latest_timestamp",
    }
    assert shown["addrs"] == ["http://10.0.0.1:8080", "gorpc://10.0.0.1:8089"]
    assert shown["status"] == 1 and shown["metadata"] == {"weight": "10"} and shown["version"] == "111"
    assert shown["latest_timestamp"] <= data["latest_timestamp"]
    assert abs(shown["renew_timestamp"] - time.time_ns()) < 60e9
    assert "stale" not in data


def test_register_again_replaces_in_place_keeping_reg_and_up_timestamps(client, zk, services_path):
    register(client, addrs=["http://10.0.0.1:8080"])
    first = fetch(client)["data"]["instances"]["sh001"][0]
    before = members(zk, services_path)
    register(client, addrs=["http://10.0.0.2:9090"], status=2)
    after = members(zk, services_path)
    assert len(after) == 1 and set(after) != set(before)
    [doc] = after.values()
    assert doc["serviceEndpoint"] == {"host": "10.0.0.2", "port": 9090} and doc["status"] == "STOPPED"
    second = fetch(client)["data"]["instances"]["sh001"][0]
    assert second["reg_timestamp"] == first["reg_timestamp"] and second["up_timestamp"] == first["up_timestamp"]
    assert second["dirty_timestamp"] > first["dirty_timestamp"] and second["status"] == 2
    assert zk.get_children("%s/%s/%s" % (services_path.rsplit("/", 1)[0], "leases", APPID)) != []


def test_identity_is_appid_env_zone_hostname(client, zk, services_path):
    register(client)
    register(client, hostname="host-2")
    register(client, zone="sh002")
    register(client, env="prod")
    assert len(members(zk, services_path)) == 4
    assert hostnames(fetch(client)) == ["host-1", "host-1", "host-2"]
    assert sorted(fetch(client)["data"]["instances"]) == ["sh001", "sh002"]
    assert hostnames(fetch(client, env="prod")) == ["host-1"]


def test_status_mask_and_zone_filter(client):
    register(client, hostname="up")
    register(client, hostname="down", status=2)
    register(client, hostname="far", zone="sh002")
    assert hostnames(fetch(client, status=1)) == ["far", "up"]
    assert hostnames(fetch(client, status=2)) == ["down"]
    assert hostnames(fetch(client, status=3)) == ["down", "far", "up"]
    only = fetch(client, zone="sh002")
    assert list(only["data"]["instances"]) == ["sh002"] and hostnames(only) == ["far"]
    assert fetch(client, zone="nowhere")["code"] == -404
    # a zone whose instances are all filtered out is listed empty, as in the original
    assert fetch(client, zone="sh002", status=2)["data"]["instances"] == {"sh002": []}


def test_metadata_non_strings_become_json_text_and_bad_json_is_400(client):
    register(client, metadata=json.dumps({"weight": 10, "on": True, "tags": ["a"], "name": "x"}))
    shown = fetch(client)["data"]["instances"]["sh001"][0]
    assert shown["metadata"] == {"weight": "10", "on": "true", "tags": '["a"]', "name": "x"}
    for bad in ("{weight: 10}", "[1, 2]", '"text"'):
        answer = register(client, metadata=bad)
        assert answer["code"] == -400 and "metadata" in answer["message"]


def test_renew_keeps_the_lease_without_touching_the_services_tree(client, zk, services_path):
    register(client)
    before = zk.exists("%s/%s" % (services_path, APPID))
    stamp = fetch(client)["data"]["latest_timestamp"]
    lease = "%s/leases/%s" % (services_path.rsplit("/", 1)[0], APPID)
    [key] = zk.get_children(lease)
    version = zk.exists("%s/%s" % (lease, key)).version
    assert renew(client) == {"code": 0, "message": "", "ttl": 1}
    assert zk.exists("%s/%s" % (lease, key)).version == version + 1
    after = zk.exists("%s/%s" % (services_path, APPID))
    assert (after.pzxid, after.mzxid, after.cversion) == (before.pzxid, before.mzxid, before.cversion)
    assert eventually(lambda: fetch(client)["data"]["latest_timestamp"] == stamp)


def test_a_renew_shows_in_renew_timestamp_within_the_lag_not_at_each_fetch(app, client):
    """Renews of a large app come many times a second; its view is rendered
    again for them at most once per lease_lag (1 s), not per fetch."""
    register(client)
    catalog = app.extensions["soa"].registry.get("qa")
    views = app.extensions["soa"].state("discovery").views(catalog)
    now = [100.0]
    views.clock = lambda: now[0]

    def shown():
        view = views.get(APPID, "uat", "", 3)
        return view, json.loads(view.body)["instances"]["sh001"][0]["renew_timestamp"]

    def lease():
        group = catalog.instances.leases.groups().get(APPID)
        return next(iter(group.leaves.values()), None) if group is not None else None

    before = eventually(lease)  # the lease cache has seen the lease itself, not only its group
    first, renewed = shown()
    time.sleep(0.01)  # ZooKeeper's mtime has millisecond resolution
    assert renew(client)["code"] == 0
    eventually(lambda: lease().stat.mzxid != before.stat.mzxid)
    now[0] += 0.5
    assert shown()[0] is first  # within the lag: the same rendering
    now[0] += 0.6
    later, renewed_later = shown()
    assert later is not first and renewed_later > renewed and later.latest == first.latest


def test_renew_and_cancel_of_unknown_instances_are_404(client):
    assert renew(client)["code"] == -404
    assert cancel(client)["code"] == -404
    register(client)
    assert renew(client, hostname="other")["code"] == -404
    assert renew(client, env="prod")["code"] == -404


def test_cancel_removes_at_once_and_the_last_one_removes_the_app(client, zk, services_path):
    register(client)
    register(client, hostname="host-2")
    assert cancel(client) == {"code": 0, "message": "", "ttl": 1}
    assert [d["instance"]["hostname"] for d in members(zk, services_path).values()] == ["host-2"]
    assert hostnames(fetch(client)) == ["host-2"]
    cancel(client, hostname="host-2")
    assert members(zk, services_path) == {}
    assert fetch(client)["code"] == -404
    assert cancel(client, hostname="host-2")["code"] == -404
    assert renew(client, hostname="host-2")["code"] == -404


def test_latest_timestamp_grows_with_every_change_and_only_then(client):
    register(client)
    stamps = [fetch(client)["data"]["latest_timestamp"]]
    assert 1e18 < stamps[0] < 1e19  # nanoseconds since the epoch
    register(client, hostname="host-2")
    stamps.append(fetch(client)["data"]["latest_timestamp"])
    register(client, hostname="host-2", status=2)  # a re-register is a change too
    stamps.append(fetch(client)["data"]["latest_timestamp"])
    renew(client)
    renew(client, hostname="host-2")
    stamps.append(fetch(client)["data"]["latest_timestamp"])
    cancel(client, hostname="host-2")
    stamps.append(fetch(client)["data"]["latest_timestamp"])
    assert stamps[0] < stamps[1] < stamps[2] == stamps[3] < stamps[4]


def test_fetchs_answers_known_appids_and_skips_unknown_ones(client):
    register(client)
    register(client, appid="demo.billing", hostname="b1")
    answer = client.get(
        "/discovery/fetchs?appid=%s&appid=demo.billing&appid=demo.none&env=uat&status=1&key=%s" % (APPID, OPS)
    ).json
    assert answer["code"] == 0 and sorted(answer["data"]) == [APPID, "demo.billing"]
    assert answer["data"]["demo.billing"]["instances"]["sh001"][0]["hostname"] == "b1"
    assert answer["data"][APPID]["latest_timestamp"] == fetch(client)["data"]["latest_timestamp"]
    none = client.get(
        "/discovery/fetchs", query_string={"appid": "demo.none", "env": "uat", "status": 1, "key": OPS}
    ).json
    assert none == {"code": 0, "message": "", "ttl": 1, "data": {}}


@pytest.mark.parametrize(
    "path, params, word",
    [
        (
            "register",
            {"env": "uat", "appid": APPID, "hostname": "h", "addrs": "http://1.1.1.1:80", "status": 1},
            "zone",
        ),
        ("register", {**instance(), "status": 1}, "addrs"),
        ("register", {**instance(), "addrs": "http://1.1.1.1:80"}, "status"),
        ("register", {**instance(), "addrs": "http://1.1.1.1:80", "status": 3}, "status"),
        ("register", {**instance(), "addrs": "http://1.1.1.1:80", "status": "up"}, "status"),
        ("register", {**instance(), "addrs": "1.1.1.1:80", "status": 1}, "addrs"),
        ("register", {**instance(), "addrs": "http://1.1.1.1", "status": 1}, "port"),
        ("register", {**instance(), "addrs": "http://1.1.1.1:0", "status": 1}, "port"),
        ("register", {**instance(appid="bad/app"), "addrs": "http://1.1.1.1:80", "status": 1}, "appid"),
        ("renew", {"zone": "sh001", "env": "uat", "appid": APPID}, "hostname"),
        ("cancel", {"zone": "sh001", "appid": APPID, "hostname": "h"}, "env"),
        ("fetch", {"appid": APPID, "env": "uat"}, "status"),
        ("fetch", {"appid": APPID, "env": "uat", "status": 4}, "status"),
        ("fetch", {"env": "uat", "status": 1}, "appid"),
        ("fetchs", {"env": "uat", "status": 1}, "appid"),
        ("poll", {"appid": APPID}, "env"),
        ("poll", {"appid": APPID, "env": "uat", "latest_timestamp": "soon"}, "latest_timestamp"),
        ("polls", {"appid": [APPID, "b"], "env": "uat", "latest_timestamp": 0}, "latest_timestamp"),
        ("polls", {"appid": [APPID], "env": "uat"}, "latest_timestamp"),
    ],
)
def test_bad_parameters_are_400_and_write_nothing(client, zk, services_path, path, params, word):
    method = client.post if path in ("register", "renew", "cancel") else client.get
    answer = method("/discovery/" + path, query_string={**params, "key": OPS}).json
    assert answer["code"] == -400 and word in answer["message"] and answer["ttl"] == 1
    assert zk.get_children(services_path) == []


def test_parameters_from_query_form_and_json_empty_values_dropped(client):
    query = {**instance(), "addrs": "http://10.0.0.1:80", "key": OPS}
    assert client.post("/discovery/register", query_string=query, data={"status": 1, "color": ""}).json["code"] == 0
    as_json = {
        **instance(hostname="j"),
        "addrs": ["http://10.0.0.2:80", "grpc://10.0.0.2:90"],
        "status": 1,
        "metadata": {"weight": 5},
        "key": OPS,
    }
    assert client.post("/discovery/register", json=as_json).json["code"] == 0
    # JSON only with a JSON content type
    plain = client.post("/discovery/register", data=json.dumps({**as_json, "hostname": "p"}), content_type="text/plain")
    assert plain.json["code"] == -400
    shown = {i["hostname"]: i for i in fetch(client)["data"]["instances"]["sh001"]}
    assert shown["j"]["addrs"] == ["http://10.0.0.2:80", "grpc://10.0.0.2:90"] and shown["j"]["metadata"] == {
        "weight": "5"
    }
    assert shown["host-1"]["color"] == ""
    # GET reads the query string only
    got = client.get("/discovery/fetch", query_string={"appid": APPID, "env": "uat", "key": OPS}, data={"status": 1})
    assert got.json["code"] == -400


def test_keys_and_zkidc(client, zk, services_path):
    assert register(client, key=None)["code"] == -401
    assert register(client, key="nope-nope-nope")["code"] == -401
    assert register(client, key=READER)["code"] == -403
    assert register(client, key=KEYS["ip2city"]["secret"])["code"] == -403
    assert zk.get_children(services_path) == []
    register(client)
    assert fetch(client, key=READER)["code"] == 0
    assert fetch(client, key=None)["code"] == -401
    assert fetch(client, zkidc="nowhere")["code"] == -400
    assert fetch(client, zkidc="yz")["code"] == -404
    assert (
        client.get(
            "/discovery/fetch",
            query_string={"appid": APPID, "env": "uat", "status": 1, "key": OPS},
            headers={"X-Zkidc": "yz"},
        ).json["code"]
        == -404
    )


def test_routing_errors_answer_in_the_envelope(client):
    wrong_method = client.get("/discovery/register", query_string={**instance(), "key": OPS})
    assert (
        wrong_method.status_code == 200 and wrong_method.json["code"] == -400 and "POST" in wrong_method.json["message"]
    )
    missing = client.get("/discovery/nothing")
    assert missing.status_code == 200 and missing.json["code"] == -404
    assert missing.json["message"] == "no endpoint GET /discovery/nothing"
    big = client.post("/discovery/register", data={"metadata": "x" * (2 << 20)})  # too large to take: HTTP says so too
    assert big.status_code == 413 and big.json["code"] == -413 and "1048576 bytes" in big.json["message"]


def test_nodes_lists_this_replica(zk_server, chroot):
    app = create_app(
        make_config(
            zk_server.hosts, chroot, gateway={"advertise": "10.1.1.1:7171"}, sections={"discovery": {"zone": "sh001"}}
        )
    )
    try:
        client = app.test_client()
        answer = eventually(lambda: client.get("/discovery/nodes", query_string={"key": READER}).json["data"])
        assert answer == [{"addr": "10.1.1.1:7171", "status": 0, "zone": "sh001"}]
        other = client.get("/discovery/nodes", query_string={"key": READER, "zkidc": "yz"}).json
        assert other["code"] == 0
    finally:
        app.extensions["soa"].registry.stop()


def test_discovery_section_is_checked(zk_server, chroot):
    with pytest.raises(ConfigError, match="poll_timeout"):
        make_config(zk_server.hosts, chroot, sections={"discovery": {"poll_timeout": "soon"}})
    with pytest.raises(ConfigError, match="unknown"):
        make_config(zk_server.hosts, chroot, sections={"discovery": {"tll": 3}})


def test_zookeeper_down_fetch_serves_the_last_view_stale_and_writes_fail_fast(own_server):  # noqa: F811
    app = create_app(make_config(own_server.hosts, ""))
    client = app.test_client()
    try:
        assert register(client)["code"] == 0
        stamp = fetch(client)["data"]["latest_timestamp"]
        own_server.stop()
        catalog = app.extensions["soa"].registry.get("qa")
        eventually(lambda: not catalog.cluster.connected)
        answer = client.get("/discovery/fetch", query_string={"appid": APPID, "env": "uat", "status": 1, "key": OPS})
        assert answer.headers["X-Soa-Stale"] == "true"
        data = answer.json["data"]
        assert data["stale"] is True and data["latest_timestamp"] == stamp and hostnames(answer.json) == ["host-1"]
        writes = (
            lambda: register(client, hostname="host-2"),
            lambda: register(client, appid="demo.new"),  # creates the service node first
            lambda: renew(client),
            lambda: cancel(client),
        )
        for write in writes:
            started = time.monotonic()
            failed = write()
            assert time.monotonic() - started < 2.0  # the default op_timeout (1.5 s) and a little
            assert failed["code"] == -500 and "ZooKeeper" in failed["message"]
        own_server.start()
        eventually(lambda: "stale" not in fetch(client)["data"], timeout=20)
        assert renew(client)["code"] == 0
    finally:
        app.extensions["soa"].registry.stop()


def test_members_written_by_others_are_shown_as_well_as_they_can_be(client, zk, services_path):
    """Another dialect's member with env, zone and hostname is listed; its
    addrs come from its endpoints. Members without them (admin servers,
    foreign writers) are in no env's view, and broken data breaks nothing."""
    path = "%s/%s" % (services_path, APPID)
    zk.create(
        path + "/member_",
        json.dumps(
            {
                "serviceEndpoint": {"host": "10.0.0.9", "port": 8848},
                "additionalEndpoints": {},
                "status": "DEAD",
                "instance": {"env": "uat", "zone": "DEFAULT_CLUSTER", "hostname": "10.0.0.9:8848"},
            }
        ).encode(),
        sequence=True,
        makepath=True,
    )
    zk.create(
        path + "/member_", b'{"serviceEndpoint": {"host": "10.0.0.8", "port": 80}, "status": "ALIVE"}', sequence=True
    )
    zk.create(path + "/member_", b"not json at all", sequence=True)
    shown = eventually(lambda: fetch(client).get("data"))["instances"]
    assert list(shown) == ["DEFAULT_CLUSTER"]
    [other] = shown["DEFAULT_CLUSTER"]
    assert other["addrs"] == ["http://10.0.0.9:8848"] and other["status"] == 2 and other["hostname"] == "10.0.0.9:8848"
    assert fetch(client, status=1)["data"]["instances"] == {"DEFAULT_CLUSTER": []}


@pytest.mark.parametrize("recursive", [True, False], ids=["recursive-watch", "one-shot-watches"])
def test_a_register_reads_only_what_changed(zk_server, chroot, recursive):
    """Its own watch event shows the new member. Under a recursive watch
    (ZooKeeper 3.6+) that costs one read of the new member and no listing
    of a possibly long children list; with one-shot watches, one listing."""
    app = create_app(make_config(zk_server.hosts, chroot, recursive_watches=recursive))
    try:
        client = app.test_client()
        register(client, hostname="first")
        kazoo = app.extensions["soa"].registry.get("qa").cluster.client
        calls, original = [], kazoo._call

        def counting(request, async_object):
            calls.append((type(request).__name__, getattr(request, "path", "")))
            return original(request, async_object)

        kazoo._call = counting
        for n in range(5):
            assert register(client, hostname="h%d" % n)["code"] == 0
            assert "h%d" % n in hostnames(fetch(client))  # read at once
        services = chroot + "/qa/soa/services/" + APPID
        listings = [path for kind, path in calls if kind == "GetChildren2" and path.startswith(services)]
        reads = [path for kind, path in calls if kind == "GetData" and path.startswith(services + "/")]
        assert len(listings) == (0 if recursive else 5)
        assert len(reads) == 5 and len(set(reads)) == 5  # each new member once
    finally:
        app.extensions["soa"].registry.stop()
