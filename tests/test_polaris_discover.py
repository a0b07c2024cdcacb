"""Polaris client discover: POST /v1/Discover against a real ZooKeeper."""

import hashlib
import json

import pytest

from gateway import create_app
from tests.conftest import OPS, eventually
from tests.polaris_helpers import IP2CITY, READER, create, discover, headers, member, update


def add_server(client, service, host, port):
    answer = client.post(
        "/addserver", data={"destName": service, "serverHost": host, "serverPort": str(port), "key": OPS}
    )
    assert answer.json["code"] == 1
    return answer.json["key"]


def revision(client, name, namespace="default"):
    answer = discover(client, 1, name, namespace)
    assert answer.json["code"] == 200000, answer.json
    return answer.json["service"]["revision"]


def changes_from(client, name, before, namespace="default"):
    """Wait for the type 1 revision to move away from ``before``; returns the new one."""
    eventually(lambda: revision(client, name, namespace) != before)
    return revision(client, name, namespace)


@pytest.fixture
def shop(client, zk, services_path):
    """Service ``shop`` in namespace Test with members from every kind of writer."""
    create(client, {"name": "shop", "namespace": "Test", "business": "ee", "metadata": {"owner": "me"}})
    add_server(client, "shop", "10.0.0.1", 80)
    path = "%s/shop/member_" % services_path
    zk.create(
        path,
        member(
            "10.0.0.2",
            8080,
            metadata={"weight": "7", "protocol": "grpc"},
            instance={"version": "2.1", "zone": "sh", "priority": 2},
        ),
        sequence=True,
    )
    zk.create(path, member("10.0.0.3", 8080, "STOPPED", instance={"id": "given-id", "weight": 30}), sequence=True)
    zk.create(path, member("10.0.0.4", 8080, "DEAD"), sequence=True)
    eventually(lambda: len(discover(client, 1, "shop", "Test").json.get("instances", [])) == 4)


def test_type_1_answers_every_member_in_polaris_shape(client, shop):
    answer = discover(client, 1, "shop", "Test")
    assert answer.status_code == 200
    body = answer.json
    assert (body["code"], body["info"], body["type"]) == (200000, "execute success", "INSTANCE")
    service = body["service"]
    assert (service["name"], service["namespace"], service["business"], service["metadata"]) == (
        "shop",
        "Test",
        "ee",
        {"owner": "me"},
    )
    assert len(service["revision"]) == 40
    by_host = {i["host"]: i for i in body["instances"]}
    admin = by_host["10.0.0.1"]
    assert admin["id"] == hashlib.sha1(b"Test##shop##10.0.0.1##80").hexdigest()
    assert (admin["service"], admin["namespace"], admin["port"]) == ("shop", "Test", 80)
    assert (admin["weight"], admin["priority"], admin["healthy"], admin["isolate"]) == (100, 0, True, False)
    assert admin["protocol"] == "" and admin["version"] == "" and admin["enableHealthCheck"] is False
    assert admin["mtime"] and admin["revision"] and "location" not in admin
    outside = by_host["10.0.0.2"]
    assert (outside["weight"], outside["protocol"], outside["version"], outside["priority"]) == (7, "grpc", "2.1", 2)
    assert outside["location"] == {"region": "", "zone": "sh", "campus": ""}
    assert outside["metadata"] == {"weight": "7", "protocol": "grpc"}
    stopped = by_host["10.0.0.3"]
    assert (stopped["id"], stopped["weight"], stopped["healthy"], stopped["isolate"]) == ("given-id", 30, True, True)
    dead = by_host["10.0.0.4"]
    assert (dead["healthy"], dead["isolate"]) == (False, False)


def test_type_1_unchanged_revision_answers_200001_with_only_the_service(client, shop):
    current = revision(client, "shop", "Test")
    again = discover(client, 1, "shop", "Test", revision=current)
    assert again.status_code == 200
    assert again.json == {
        "code": 200001,
        "info": "discover data is no change",
        "type": "INSTANCE",
        "service": {"name": "shop", "namespace": "Test", "revision": current},
    }
    stale = discover(client, 1, "shop", "Test", revision="something-else")
    assert stale.json["code"] == 200000 and len(stale.json["instances"]) == 4


def test_revision_is_stable_while_nothing_changes(client, shop, zk, services_path):
    first = revision(client, "shop", "Test")
    assert revision(client, "shop", "Test") == first
    zk.create("%s/shop/not-a-member" % services_path, b"x")  # not part of the answer
    update(client, {"name": "shop", "namespace": "Test", "business": "ee"})  # no change
    assert discover(client, 1, "shop", "Test", revision=first).json["code"] == 200001


def test_revision_changes_with_each_kind_of_change(client, shop, zk, services_path):
    start = revision(client, "shop", "Test")
    key = add_server(client, "shop", "10.0.0.9", 80)
    after_admin = revision(client, "shop", "Test")
    assert after_admin != start
    assert "10.0.0.9" in [i["host"] for i in discover(client, 1, "shop", "Test").json["instances"]]
    outside = zk.create("%s/shop/member_" % services_path, member("10.0.0.10", 80), sequence=True)
    after_outside = changes_from(client, "shop", after_admin, "Test")
    zk.set(outside, member("10.0.0.10", 80, "DEAD"))
    after_status = changes_from(client, "shop", after_outside, "Test")
    client.post("/delserver", data={"destName": "shop", "serverKey": key, "key": OPS})
    after_delete = revision(client, "shop", "Test")
    assert after_delete != after_status
    update(client, {"name": "shop", "namespace": "Test", "comment": "new comment"})
    after_update = revision(client, "shop", "Test")
    assert after_update != after_delete
    seen = [start, after_admin, after_outside, after_status, after_delete, after_update]
    assert len(set(seen)) == len(seen)


def test_revision_is_the_same_on_two_gateways(client, shop, config):
    other = create_app(config)
    try:
        second = other.test_client()
        eventually(lambda: len(discover(second, 1, "shop", "Test").json.get("instances", [])) == 4)
        mine, theirs = discover(client, 1, "shop", "Test").json, discover(second, 1, "shop", "Test").json
        assert mine["service"]["revision"] == theirs["service"]["revision"]
        assert mine == theirs
        assert discover(second, 1, "shop", "Test", revision=mine["service"]["revision"]).json["code"] == 200001
    finally:
        other.extensions["soa"].registry.stop()


def test_service_without_members(client):
    create(client, {"name": "empty"})
    answer = discover(client, 1, "empty")
    assert answer.json["code"] == 200000 and answer.json["instances"] == []
    assert discover(client, 1, "empty", revision=answer.json["service"]["revision"]).json["code"] == 200001


def test_service_made_by_admin_is_in_namespace_default(client):
    client.post("/addservice", data={"destName": "legacy", "key": OPS})
    add_server(client, "legacy", "10.1.1.1", 81)
    answer = discover(client, 1, "legacy", "")
    assert answer.json["code"] == 200000
    assert answer.json["service"]["namespace"] == "default"
    assert [i["port"] for i in answer.json["instances"]] == [81]


def test_unknown_service_or_wrong_namespace_is_400202(client):
    create(client, {"name": "shop", "namespace": "Test"})
    missing = discover(client, 1, "nope", "Test")
    assert missing.status_code == 400
    assert missing.json["code"] == 400202
    assert missing.json["type"] == "INSTANCE" and missing.json["service"] == {"name": "nope", "namespace": "Test"}
    elsewhere = discover(client, 1, "shop", "Other")
    assert elsewhere.status_code == 400 and elsewhere.json["code"] == 400202


def test_odd_foreign_members_do_not_break_discover(client, zk, services_path):
    create(client, {"name": "odd"})
    path = "%s/odd/member_" % services_path
    zk.create(path, b"\x00\xff binary", sequence=True)
    zk.create(path, b'{"serviceEndpoint": {"host": "10.0.0.1"}}', sequence=True)  # no port
    zk.create(path, b'{"status": "ALIVE"}', sequence=True)
    zk.create(path, b"[]", sequence=True)
    zk.create(path, b"", sequence=True)
    zk.create(path, b"10.0.0.5:9090", sequence=True)  # plain host:port
    zk.create(
        path,
        json.dumps(
            {
                "serviceEndpoint": {"host": "10.0.0.6", "port": 80},
                "status": "WEIRD",
                "metadata": {"n": 1},
                "instance": {"weight": "heavy", "priority": -3, "id": 5},
            }
        ).encode(),
        sequence=True,
    )
    zk.create("%s/odd/lock-0001" % services_path, b"not a member")
    eventually(lambda: len(discover(client, 1, "odd").json.get("instances", [])) == 2)
    answer = discover(client, 1, "odd")
    assert answer.status_code == 200
    by_host = {i["host"]: i for i in answer.json["instances"]}
    # shown, but not healthy: ServerSet readers do not route to plain text
    assert by_host["10.0.0.5"]["port"] == 9090 and by_host["10.0.0.5"]["healthy"] is False
    weird = by_host["10.0.0.6"]
    assert (weird["healthy"], weird["weight"], weird["priority"], weird["metadata"]) == (False, 100, 0, {"n": "1"})
    assert weird["id"] == hashlib.sha1(b"default##odd##10.0.0.6##80").hexdigest()


# -- type 6 --------------------------------------------------------------------------


def test_type_6_lists_the_services_of_a_namespace(client):
    create(
        client,
        {"name": "a", "namespace": "Test", "metadata": {"k": "v"}},
        {"name": "b", "namespace": "Test"},
        {"name": "c", "namespace": "Other"},
        {"name": "d"},
    )
    answer = discover(client, 6, namespace="Test")
    assert answer.status_code == 200 and answer.json["code"] == 200000 and answer.json["type"] == "SERVICES"
    assert [(s["name"], s["namespace"]) for s in answer.json["services"]] == [("a", "Test"), ("b", "Test")]
    assert answer.json["services"][0]["metadata"] == {"k": "v"}
    current = answer.json["service"]["revision"]
    assert current and answer.json["service"]["namespace"] == "Test"
    same = discover(client, 6, namespace="Test", revision=current)
    assert same.json == {
        "code": 200001,
        "info": "discover data is no change",
        "type": "SERVICES",
        "service": {"name": "", "namespace": "Test", "revision": current},
    }
    default = discover(client, 6, namespace="")
    assert [s["name"] for s in default.json["services"]] == ["d"]


def test_type_6_revision_follows_the_namespace_only(client):
    create(client, {"name": "a", "namespace": "Test"})
    first = discover(client, 6, namespace="Test").json["service"]["revision"]
    create(client, {"name": "elsewhere", "namespace": "Other"})
    assert discover(client, 6, namespace="Test", revision=first).json["code"] == 200001
    create(client, {"name": "b", "namespace": "Test"})
    moved = discover(client, 6, namespace="Test", revision=first)
    assert moved.json["code"] == 200000 and len(moved.json["services"]) == 2
    update(client, {"name": "a", "namespace": "Test", "metadata": {"new": "1"}})
    assert discover(client, 6, namespace="Test", revision=moved.json["service"]["revision"]).json["code"] == 200000


def test_type_6_filters(client):
    create(
        client,
        {"name": "shop-a", "namespace": "T", "business": "Retail", "metadata": {"tier": "1"}},
        {"name": "shop-b", "namespace": "T", "business": "retail", "metadata": {"tier": "2"}},
        {"name": "bank", "namespace": "T", "business": "finance", "metadata": {"tier": "1"}},
    )

    def listed(**service):
        return [s["name"] for s in discover(client, 6, namespace="T", **service).json["services"]]

    assert listed(name="shop*") == ["shop-a", "shop-b"]
    assert listed(business="RETAIL") == ["shop-a", "shop-b"]
    assert listed(metadata={"tier": "1"}) == ["bank", "shop-a"]


def test_type_6_unknown_namespace_is_success_with_nothing(client):
    create(client, {"name": "a"})
    answer = discover(client, 6, namespace="Nowhere")
    assert answer.status_code == 200 and answer.json["code"] == 200000 and answer.json["services"] == []
    assert discover(client, 6, namespace="Nowhere", revision=answer.json["service"]["revision"]).json["code"] == 200000


# -- requests ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [0, 2, 7, 13, 99, -1, "CLUSTER", "instance", None])
def test_other_types_are_400004(client, kind):
    create(client, {"name": "a"})
    doc = {"service": {"name": "a", "namespace": "default"}}
    if kind is not None:
        doc["type"] = kind
    answer = client.post("/v1/Discover", json=doc, headers=headers())
    assert answer.status_code == 400 and answer.json["code"] == 400004


def test_types_by_name_and_unknown_fields(client):
    create(client, {"name": "a"})
    doc = {"type": "INSTANCE", "service": {"name": "a", "namespace": "default", "token": "t"}, "Filter": {}}
    answer = client.post("/v1/Discover", json=doc, headers=headers())
    assert answer.json["code"] == 200000 and answer.json["type"] == "INSTANCE"
    doc = {"type": "INSTANCE", "service": {"name": "a", "extra": [1]}, "flow": "x"}
    answer = client.post("/v1/Discover", json=doc, headers=headers())
    assert answer.status_code == 400 and answer.json["code"] == 400103
    assert (
        "flow: unknown parameter" in answer.json["info"] and "service.extra: unknown parameter" in answer.json["info"]
    )


@pytest.mark.parametrize(
    "body, code",
    [
        ("{", 400001),
        ("", 400001),
        ("[1]", 400001),
        ('{"type": 1, "service": []}', 400001),
        ('{"type": true, "service": {"name": "a"}}', 400001),
        ('{"type": 1.5, "service": {"name": "a"}}', 400001),
        ('{"type": 1, "service": {"name": 5}}', 400001),
        ('{"type": 1, "service": {"name": "a", "revision": 1}}', 400001),
        ('{"type": 1, "service": {"name": "a", "metadata": {"k": 1}}}', 400001),
        ('{"type": 1, "service": {"namespace": "default"}}', 400120),
        ('{"type": 1, "service": {"name": "a b"}}', 400120),
        ('{"type": 3, "service": {"name": ""}}', 400120),
        ('{"type": 1, "service": {"name": "a", "namespace": "bad ns"}}', 400110),
        ('{"type": 6, "service": {"namespace": "x y"}}', 400110),
        ('{"type": 6, "service": {"namespace": "n%s"}}' % ("s" * 64), 400110),
    ],
)
def test_bad_requests(client, body, code):
    answer = client.post("/v1/Discover", data=body, content_type="application/json", headers=headers())
    assert answer.status_code == code // 1000
    assert answer.json["code"] == code


def test_keys(client):
    create(client, {"name": "a"}, {"name": "ip2city-x"})
    assert discover(client, 1, "a", key=None).json["code"] == 401000
    assert discover(client, 1, "a", key=None).status_code == 401
    assert discover(client, 1, "a", key=READER).json["code"] == 200000
    forbidden = discover(client, 1, "a", key=IP2CITY)
    assert forbidden.status_code == 403 and forbidden.json["code"] == 403001
    assert discover(client, 1, "ip2city-x", key=IP2CITY).json["code"] == 200000


def test_zkidc_header_or_parameter(client):
    create(client, {"name": "only-in-yz"}, zkidc="yz")
    assert discover(client, 1, "only-in-yz").json["code"] == 400202
    in_yz = client.post(
        "/v1/Discover", json={"type": 1, "service": {"name": "only-in-yz"}}, headers=headers(zkidc="yz")
    )
    assert in_yz.json["code"] == 200000
    by_param = client.post(
        "/v1/Discover?zkidc=yz", json={"type": 1, "service": {"name": "only-in-yz"}}, headers=headers()
    )
    assert by_param.json["code"] == 200000
    unknown = client.post("/v1/Discover?zkidc=zz", json={"type": 1, "service": {"name": "x"}}, headers=headers())
    assert unknown.status_code == 400 and unknown.json["code"] == 400103


def test_an_unchanged_service_is_answered_without_rebuilding(client, shop, mocker):
    import gateway.polaris.shapes as shapes

    current = revision(client, "shop", "Test")
    built = mocker.spy(shapes, "instance")
    for _ in range(3):
        assert discover(client, 1, "shop", "Test", revision=current).json["code"] == 200001
        assert discover(client, 1, "shop", "Test").json["code"] == 200000
    assert built.call_count == 0


def test_zookeeper_unavailable_is_a_store_error(client, app, mocker):
    from zk.errors import Unavailable

    catalog = app.extensions["soa"].registry.get("qa")
    mocker.patch.object(catalog.tree, "group", side_effect=Unavailable("ZooKeeper zkidc qa: no view yet"))
    answer = discover(client, 1, "a")
    assert answer.status_code == 500
    assert answer.json["code"] == 500001 and answer.json["type"] == "INSTANCE"
