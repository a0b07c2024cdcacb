"""The admin API (seed 002) end to end against a real ZooKeeper."""

import json

import pytest

from tests.conftest import KEYS, OPS, eventually


def add_service(client, name="ip2city.http", **extra):
    return client.post("/addservice", query_string={"destName": name, "key": OPS, **extra})


def add_server(client, host="10.0.0.1", port=8080, service="ip2city.http"):
    return client.post(
        "/addserver", query_string={"destName": service, "key": OPS, "serverHost": host, "serverPort": port}
    )


def servers(client, service="ip2city.http"):
    answer = client.get("/serverlist", query_string={"destName": service, "key": OPS})
    assert answer.status_code == 200, answer.json
    return answer.json["servers"]


def test_service_lifecycle_with_and_without_trailing_slash(client, zk, services_path):
    assert client.get("/servicelist", query_string={"key": OPS}).json == {"code": 1, "services": [], "stale": False}
    assert add_service(client).json == {"code": 1, "service": "ip2city.http", "existed": False}
    answer = client.post("/addservice/", query_string={"destName": "idserver.thrift.http", "key": OPS})
    assert answer.json["code"] == 1
    listing = client.get("/servicelist/", query_string={"key": OPS}).json
    assert listing["services"] == [{"service": "idserver.thrift.http"}, {"service": "ip2city.http"}]
    assert sorted(zk.get_children(services_path)) == ["idserver.thrift.http", "ip2city.http"]
    assert client.post("/delservice/", query_string={"destName": "ip2city.http", "key": OPS}).json == {
        "code": 1,
        "service": "ip2city.http",
    }
    assert zk.get_children(services_path) == ["idserver.thrift.http"]


def test_addservice_twice_is_idempotent(client, zk, services_path):
    add_service(client)
    again = add_service(client)
    assert again.status_code == 200
    assert again.json == {"code": 1, "service": "ip2city.http", "existed": True}
    assert zk.get_children(services_path) == ["ip2city.http"]


@pytest.mark.parametrize("source", ["query", "form", "json"])
@pytest.mark.parametrize("key_name", ["key", "keys"])
def test_parameters_from_every_source_and_both_key_spellings(client, zk, services_path, source, key_name):
    params = {"destName": "hello", key_name: OPS, "zkidc": "qa"}
    if source == "query":
        answer = client.post("/addservice", query_string=params)
    elif source == "form":
        answer = client.post("/addservice", data=params)
    else:
        answer = client.post("/addservice", json=params)
    assert answer.json == {"code": 1, "service": "hello", "existed": False}
    assert zk.exists(services_path + "/hello")


def test_server_lifecycle_writes_serverset_members(client, zk, services_path):
    add_service(client)
    answer = add_server(client, "192.168.1.1", 8080)
    assert answer.json["code"] == 1 and answer.json["existed"] is False
    key = answer.json["key"]
    assert key.startswith("member_") and len(key) == len("member_0000000000")
    # What an outside ServerSet reader (Finagle zk2!, Aurora) sees:
    data, stat = zk.get("%s/ip2city.http/%s" % (services_path, key))
    doc = json.loads(data)
    assert doc["serviceEndpoint"] == {"host": "192.168.1.1", "port": 8080}
    assert doc["status"] == "ALIVE" and doc["additionalEndpoints"] == {}
    assert stat.ephemeralOwner == 0  # admin servers stay until delserver
    assert servers(client) == [{"host": "192.168.1.1", "port": 8080, "key": key, "status": "ALIVE"}]
    gone = client.post("/delserver", data={"destName": "ip2city.http", "key": OPS, "serverKey": key})
    assert gone.json == {"code": 1, "key": key}
    assert servers(client) == []
    assert zk.get_children(services_path + "/ip2city.http") == []


def test_addserver_of_existing_host_port_is_idempotent(client, zk, services_path):
    add_service(client)
    first = add_server(client, "10.0.0.1", 80).json
    again = add_server(client, "10.0.0.1", "80").json
    assert again == {"code": 1, "key": first["key"], "existed": True}
    assert len(zk.get_children(services_path + "/ip2city.http")) == 1
    other_port = add_server(client, "10.0.0.1", 81).json
    assert other_port["existed"] is False and other_port["key"] != first["key"]


def test_addserver_right_after_another_replica_wrote_reads_zookeeper(app, client, zk, services_path, monkeypatch):
    """Through a load balancer, addservice and addserver land on different replicas (or
    workers): the second must neither answer "no such service" nor add a second member
    for a host:port because its cache has not caught up yet."""
    client.get("/servicelist", query_string={"key": OPS})
    tree = app.extensions["soa"].registry.get("qa").tree
    eventually(lambda: tree.loaded)
    monkeypatch.setattr(tree, "_items", lambda event: ())  # fault: this cache hears no watch events
    zk.create(services_path + "/late.svc")  # another replica's addservice
    added = add_server(client, "10.0.0.1", 80, service="late.svc")
    assert added.status_code == 200 and added.json["existed"] is False
    doc = {"serviceEndpoint": {"host": "10.0.0.2", "port": 80}, "additionalEndpoints": {}, "status": "ALIVE"}
    other = zk.create(services_path + "/late.svc/member_", json.dumps(doc).encode(), sequence=True)  # and its addserver
    again = add_server(client, "10.0.0.2", 80, service="late.svc").json
    assert again == {"code": 1, "key": other.rsplit("/", 1)[1], "existed": True}
    assert len(zk.get_children(services_path + "/late.svc")) == 2


def test_addserver_accepts_hostnames_and_ipv6(client):
    add_service(client)
    assert add_server(client, "app-1.example.com", 443).json["code"] == 1
    assert add_server(client, "fe80::1", 443).json["code"] == 1
    assert {s["host"] for s in servers(client)} == {"app-1.example.com", "fe80::1"}


@pytest.mark.parametrize(
    "params, words",
    [
        ({"serverHost": "10.0.0.1", "serverPort": "0"}, "serverPort"),
        ({"serverHost": "10.0.0.1", "serverPort": "65536"}, "serverPort"),
        ({"serverHost": "10.0.0.1", "serverPort": "http"}, "serverPort"),
        ({"serverHost": "not a host!", "serverPort": "80"}, "serverHost"),
        ({"serverHost": "", "serverPort": "80"}, "serverHost"),
        ({"serverPort": "80"}, "serverHost"),
        ({"serverHost": "10.0.0.1"}, "serverPort"),
    ],
)
def test_addserver_rejects_bad_host_and_port(client, zk, services_path, params, words):
    add_service(client)
    answer = client.post("/addserver", query_string={"destName": "ip2city.http", "key": OPS, **params})
    assert answer.status_code == 400
    assert answer.json["code"] == 0 and words in answer.json["reason"]
    assert zk.get_children(services_path + "/ip2city.http") == []


@pytest.mark.parametrize("name", ["", "..", ".", "a/b", "a b", "x" * 129, "名字", "a%2Fb"])
def test_bad_service_names_are_refused_and_nothing_written(client, zk, services_path, name):
    answer = client.post("/addservice", query_string={"destName": name, "key": OPS})
    assert answer.status_code == 400
    assert answer.json["code"] == 0 and "destName" in answer.json["reason"]
    assert zk.get_children(services_path) == []


def test_missing_service_and_server_are_clear_404s(client):
    answer = client.get("/serverlist", query_string={"destName": "nope", "key": OPS})
    assert answer.status_code == 404
    assert answer.json == {"code": 0, "reason": "service nope does not exist on zkidc qa"}
    answer = add_server(client, service="nope")
    assert answer.status_code == 404 and "nope" in answer.json["reason"]
    add_service(client)
    answer = client.post(
        "/delserver", query_string={"destName": "ip2city.http", "key": OPS, "serverKey": "member_0000000999"}
    )
    assert answer.status_code == 404 and answer.json["code"] == 0 and "member_0000000999" in answer.json["reason"]
    answer = client.post("/delserver", query_string={"destName": "ip2city.http", "key": OPS, "serverKey": "../x"})
    assert answer.status_code == 400 and "serverKey" in answer.json["reason"]
    answer = client.post("/delservice", query_string={"destName": "nope", "key": OPS})
    assert answer.status_code == 404


def test_delservice_with_members_needs_force(client, zk, services_path):
    add_service(client)
    add_server(client)
    refused = client.post("/delservice", query_string={"destName": "ip2city.http", "key": OPS})
    assert refused.status_code == 409
    assert "force=true" in refused.json["reason"]
    assert zk.exists(services_path + "/ip2city.http")
    forced = client.post("/delservice", query_string={"destName": "ip2city.http", "key": OPS, "force": "true"})
    assert forced.json["code"] == 1
    assert not zk.exists(services_path + "/ip2city.http")


@pytest.mark.parametrize("endpoint", ["addservice", "delservice", "addserver", "delserver"])
def test_mutating_endpoints_refuse_get_and_say_post(client, zk, services_path, endpoint):
    answer = client.get(
        "/" + endpoint, query_string={"destName": "ip2city", "key": OPS, "serverKey": "member_0000000001"}
    )
    assert answer.status_code == 405
    assert answer.json["code"] == 0 and "use POST" in answer.json["reason"]
    assert zk.get_children(services_path) == []


def test_errors_are_json_never_html(client):
    for answer in (
        client.get("/no-such-endpoint"),
        client.post("/addservice", data="{not json", content_type="application/json"),
        client.post("/addservice", data=b"x" * (2 << 20), content_type="application/octet-stream"),
    ):
        assert answer.is_json, answer.data[:200]
        assert answer.json["code"] == 0 and answer.json["reason"]
        assert answer.status_code in (400, 404, 413)


def test_zkidc_selects_the_cluster(client, zk, chroot):
    assert client.post("/addservice", query_string={"destName": "a", "key": OPS, "zkidc": "yz"}).json["code"] == 1
    assert client.post("/addservice", json={"destName": "b", "key": OPS, "zkidc": "g1"}).json["code"] == 1
    assert (
        client.post("/addservice", query_string={"destName": "c", "key": OPS}, headers={"X-Zkidc": "g1"}).json["code"]
        == 1
    )
    assert zk.get_children(chroot + "/yz/soa/services") == ["a"]
    assert sorted(zk.get_children(chroot + "/g1/soa/services")) == ["b", "c"]
    assert zk.get_children(chroot + "/qa/soa/services") == []
    answer = client.get("/servicelist", query_string={"key": OPS, "zkidc": "zz"})
    assert answer.status_code == 400
    assert answer.json["code"] == 0 and "unknown zkidc 'zz'" in answer.json["reason"]


def test_foreign_members_do_not_break_serverlist(client, zk, services_path):
    add_service(client)
    add_server(client, "10.0.0.1", 8080)
    base = services_path + "/ip2city.http/"
    zk.create(base + "member_garbage", b"\xff\xfe not json")
    zk.create(base + "member_partial", b'{"serviceEndpoint": {"host": "10.0.0.2"}}')
    zk.create(base + "member_plain", b"10.0.0.3:9090")
    zk.create(
        base + "member_aurora",
        json.dumps(
            {
                "serviceEndpoint": {"host": "10.0.0.4", "port": 31000},
                "additionalEndpoints": {"http": {"host": "10.0.0.4", "port": 31001}},
                "status": "ALIVE",
                "shard": 3,
            }
        ).encode(),
    )
    zk.create(base + "lock-not-a-member", b"")
    zk.create(base + "member_empty", b"")
    expected = {
        "member_0000000000",
        "member_garbage",
        "member_partial",
        "member_plain",
        "member_aurora",
        "member_empty",
    }
    listed = eventually(
        lambda: (lambda got: got if set(got) == expected else None)({s["key"]: s for s in servers(client)})
    )
    assert listed["member_aurora"]["host"] == "10.0.0.4" and listed["member_aurora"]["port"] == 31000
    assert listed["member_plain"]["port"] == 9090
    assert listed["member_garbage"]["host"] is None and "raw" in listed["member_garbage"]
    assert listed["member_partial"]["host"] is None


def test_service_node_with_odd_data_is_listed(client, zk, services_path):
    zk.create(services_path + "/odd", b"\x00\x01 definitely not json")
    zk.create(services_path + "/bad name with spaces", b"")

    def names():
        return [s["service"] for s in client.get("/servicelist", query_string={"key": OPS}).json["services"]]

    assert eventually(lambda: names() == ["odd"])


def test_keys_are_never_echoed(client):
    answer = client.post("/addservice", query_string={"destName": "a", "key": KEYS["reader"]["secret"]})
    assert answer.status_code == 403
    assert KEYS["reader"]["secret"] not in answer.get_data(as_text=True)
