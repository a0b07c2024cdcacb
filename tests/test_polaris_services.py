"""Polaris service management: /naming/v1/services against a real ZooKeeper."""

import json

import pytest

from tests.conftest import OPS, eventually
from tests.polaris_helpers import (
    IP2CITY,
    READER,
    WRITER,
    codes,
    counts,
    create,
    delete,
    headers,
    member,
    query,
    update,
)


def stored(zk, services_path, name):
    data, _ = zk.get("%s/%s" % (services_path, name))
    return json.loads(data) if data else {}


def names(answer):
    return [s["name"] for s in answer.json["services"]]


# -- create --------------------------------------------------------------------


def test_create_writes_attributes_into_the_service_node(client, zk, services_path):
    answer = create(
        client,
        {
            "name": "orders",
            "namespace": "Production",
            "business": "shop",
            "department": "sales",
            "comment": "order book",
            "ports": "80,443",
            "metadata": {"team": "a"},
        },
    )
    assert answer.status_code == 200
    assert answer.json["code"] == 200000 and answer.json["size"] == 1
    assert answer.json["responses"] == [
        {"code": 200000, "info": "execute success", "service": {"name": "orders", "namespace": "Production"}}
    ]
    node = stored(zk, services_path, "orders")
    assert {k: node[k] for k in ("namespace", "business", "department", "comment", "ports", "metadata")} == {
        "namespace": "Production",
        "business": "shop",
        "department": "sales",
        "comment": "order book",
        "ports": "80,443",
        "metadata": {"team": "a"},
    }
    assert node["ctime"] == node["mtime"] and len(node["revision"]) == 32
    assert zk.get_children("%s/orders" % services_path) == []  # nothing else under the service


def test_create_without_namespace_means_default_and_unused_polaris_fields_are_ignored(client, zk, services_path):
    answer = create(client, {"name": "a", "user_ids": ["u1"], "token": "t"}, {"name": "b", "namespace": ""})
    assert codes(answer) == (200000, [200000, 200000])
    assert stored(zk, services_path, "a")["namespace"] == "default"
    assert stored(zk, services_path, "b")["namespace"] == "default"
    assert "user_ids" not in stored(zk, services_path, "a") and "token" not in stored(zk, services_path, "a")


def test_create_existing_service_is_400201_and_names_are_unique_per_zkidc(client, zk, services_path):
    assert create(client, {"name": "a", "namespace": "one"}).json["code"] == 200000
    answer = create(client, {"name": "a", "namespace": "two"})
    assert answer.status_code == 400
    assert codes(answer) == (400201, [400201])
    assert "namespace one" in answer.json["responses"][0]["info"]
    assert stored(zk, services_path, "a")["namespace"] == "one"


def test_batch_of_new_and_existing_applies_the_new_one(client, zk, services_path):
    create(client, {"name": "old"})
    answer = create(client, {"name": "old"}, {"name": "new"})
    assert answer.status_code == 400
    assert codes(answer) == (400000, [400201, 200000])
    assert zk.exists("%s/new" % services_path)


LONG = "x" * 129


@pytest.mark.parametrize(
    "item, code",
    [
        ({"namespace": "default"}, 400120),  # no name
        ({"name": ""}, 400120),
        ({"name": "bad name"}, 400120),
        ({"name": "a/b"}, 400120),
        ({"name": ".."}, 400120),
        ({"name": LONG}, 400120),
        ({"name": 42}, 400120),
        ({"name": "ok", "namespace": "bad ns"}, 400110),
        ({"name": "ok", "namespace": "n" * 65}, 400110),
        ({"name": "ok", "ports": "1" * 8193}, 400124),
        ({"name": "ok", "ports": 80}, 400124),
        ({"name": "ok", "business": "b" * 129}, 400125),
        ({"name": "ok", "department": "d" * 1025}, 400126),
        ({"name": "ok", "comment": "c" * 1025}, 400128),
        ({"name": "ok", "metadata": {"k%d" % i: "v" for i in range(65)}}, 400150),
        ({"name": "ok", "metadata": {"k" * 129: "v"}}, 400150),
        ({"name": "ok", "metadata": {"k": "v" * 4097}}, 400150),
        ({"name": "ok", "metadata": {"k": 1}}, 400150),
        ({"name": "ok", "metadata": ["k"]}, 400150),
    ],
)
def test_create_validation_codes_and_nothing_written(client, zk, services_path, item, code):
    answer = create(client, item)
    assert answer.status_code == 400
    assert codes(answer) == (code, [code])
    assert zk.get_children(services_path) == []


def test_limits_that_are_still_accepted(client, zk, services_path):
    item = {
        "name": "n" * 128,
        "namespace": "s" * 64,
        "ports": "1" * 8192,
        "business": "b" * 128,
        "department": "d" * 1024,
        "comment": "c" * 1024,
        "metadata": {"k%d" % i: "v" * 4096 for i in range(64)},
    }
    assert create(client, item).json["code"] == 200000


def test_an_invalid_item_stops_the_whole_batch(client, zk, services_path):
    answer = create(client, {"name": "good"}, {"name": "bad name"}, {"name": "also-good"})
    assert answer.status_code == 400
    assert codes(answer) == (400000, [400000, 400120, 400000])
    assert "item 2" in answer.json["responses"][0]["info"]
    assert zk.get_children(services_path) == []


def test_batches_that_are_not_batches(client, zk, services_path):
    def post(body, **kw):
        return client.post("/naming/v1/services", data=body, content_type="application/json", headers=headers(), **kw)

    assert post("[").json["code"] == 400001
    assert post('{"name": "a"}').json["code"] == 400001
    assert post('["a"]').json["code"] == 400001
    assert post("").json["code"] == 400001
    empty = post("[]")
    assert empty.status_code == 400 and empty.json == {
        "code": 400002,
        "info": "empty request",
        "size": 0,
        "responses": [],
    }
    many = create(client, *[{"name": "s%d" % i} for i in range(101)])
    assert many.status_code == 400 and many.json["code"] == 400003
    assert zk.get_children(services_path) == []


def test_batch_of_100_is_accepted(client, zk, services_path):
    answer = create(client, *[{"name": "s%03d" % i} for i in range(100)])
    assert answer.json["code"] == 200000 and answer.json["size"] == 100
    assert len(zk.get_children(services_path)) == 100


def test_zkidc_from_query_or_header(client, zk, chroot):
    assert create(client, {"name": "a"}, zkidc="yz").json["code"] == 200000
    assert zk.exists("%s/yz/soa/services/a" % chroot) and not zk.exists("%s/qa/soa/services/a" % chroot)
    answer = client.post("/naming/v1/services", json=[{"name": "b"}], headers=headers(zkidc="g1"))
    assert answer.json["code"] == 200000 and zk.exists("%s/g1/soa/services/b" % chroot)
    unknown = create(client, {"name": "c"}, zkidc="nowhere")
    assert unknown.status_code == 400 and unknown.json["code"] == 400103 and unknown.json["responses"] == []


# -- keys ------------------------------------------------------------------------


def test_writes_need_a_key_with_the_right(client, zk, services_path):
    missing = create(client, {"name": "a"}, key=None)
    assert missing.status_code == 401 and missing.json["code"] == 401000
    wrong = create(client, {"name": "a"}, key="not-a-key-at-all")
    assert wrong.status_code == 401
    reader = create(client, {"name": "a"}, key=READER)
    assert reader.status_code == 403 and reader.json["code"] == 403001
    assert zk.get_children(services_path) == []
    assert create(client, {"name": "a"}, key=WRITER).json["code"] == 200000
    refused = delete(client, {"name": "a"}, key=WRITER)
    assert refused.status_code == 403 and zk.exists("%s/a" % services_path)


def test_a_batch_with_a_service_the_key_may_not_touch_writes_nothing(client, zk, services_path):
    answer = create(client, {"name": "ip2city-east"}, {"name": "payments"}, key=IP2CITY)
    assert answer.status_code == 403
    assert codes(answer) == (403001, [403001, 403001])
    assert "payments" in answer.json["responses"][1]["info"]
    assert "item 2" in answer.json["responses"][0]["info"]
    assert zk.get_children(services_path) == []
    assert create(client, {"name": "ip2city-east"}, key=IP2CITY).json["code"] == 200000


# -- update ------------------------------------------------------------------------


def test_update_changes_given_fields_and_keeps_the_rest(client, zk, services_path):
    create(client, {"name": "a", "business": "shop", "comment": "first", "metadata": {"k": "v"}})
    before = stored(zk, services_path, "a")
    answer = update(client, {"name": "a", "comment": "second", "token": "ignored"})
    assert answer.status_code == 200 and codes(answer) == (200000, [200000])
    after = stored(zk, services_path, "a")
    assert after["comment"] == "second" and after["business"] == "shop" and after["metadata"] == {"k": "v"}
    assert after["ctime"] == before["ctime"] and after["revision"] != before["revision"]
    listed = query(client, name="a").json["services"][0]
    assert listed["comment"] == "second"


def test_update_without_change_is_200002_and_writes_nothing(client, zk, services_path):
    create(client, {"name": "a", "business": "shop"})
    _, stat = zk.get("%s/a" % services_path)
    answer = update(client, {"name": "a", "business": "shop"})
    assert answer.status_code == 200 and codes(answer) == (200002, [200002])
    assert zk.get("%s/a" % services_path)[1].version == stat.version


def test_update_missing_or_in_another_namespace_is_400202(client, zk, services_path):
    create(client, {"name": "a", "namespace": "one"})
    assert codes(update(client, {"name": "nope", "comment": "x"})) == (400202, [400202])
    assert codes(update(client, {"name": "a", "namespace": "two", "comment": "x"})) == (400202, [400202])
    assert stored(zk, services_path, "a").get("comment") == ""


def test_update_batch_mixes(client, zk, services_path):
    create(client, {"name": "a"}, {"name": "b"})
    assert codes(update(client, {"name": "a", "comment": "x"}, {"name": "b"})) == (200000, [200000, 200002])
    answer = update(client, {"name": "a", "comment": "y"}, {"name": "gone", "comment": "y"})
    assert answer.status_code == 400 and codes(answer) == (400000, [200000, 400202])
    invalid = update(client, {"name": "a", "comment": "z"}, {"name": "b", "business": "b" * 200})
    assert codes(invalid) == (400000, [400000, 400125])
    assert stored(zk, services_path, "a")["comment"] == "y"


def test_update_of_a_service_made_by_someone_else_keeps_their_data(client, zk, services_path):
    zk.create("%s/legacy" % services_path, json.dumps({"owner": "ops", "sla": 3}).encode())
    assert update(client, {"name": "legacy", "business": "core"}).json["code"] == 200000
    node = stored(zk, services_path, "legacy")
    assert node["owner"] == "ops" and node["sla"] == 3 and node["business"] == "core" and node["namespace"] == "default"


def test_concurrent_writer_is_not_overwritten(client, app, zk, services_path, mocker):
    """Another gateway writes between our read and our write: both changes survive."""
    create(client, {"name": "a"})
    catalog = app.extensions["soa"].registry.get("qa")
    real = catalog.set_attributes
    raced = []

    def racing(name, attributes, version=-1):
        if not raced:
            raced.append(True)
            data, _ = zk.get("%s/a" % services_path)
            zk.set("%s/a" % services_path, json.dumps(dict(json.loads(data), department="other-writer")).encode())
        return real(name, attributes, version=version)

    mocker.patch.object(catalog, "set_attributes", side_effect=racing)
    assert update(client, {"name": "a", "comment": "ours"}).json["code"] == 200000
    node = stored(zk, services_path, "a")
    assert node["comment"] == "ours" and node["department"] == "other-writer"


# -- delete ----------------------------------------------------------------------


def test_delete_and_delete_of_missing_is_success(client, zk, services_path):
    create(client, {"name": "a"})
    answer = delete(client, {"name": "a"}, {"name": "never-was"})
    assert answer.status_code == 200 and codes(answer) == (200000, [200000, 200000])
    assert not zk.exists("%s/a" % services_path)


def test_delete_of_a_service_with_members_is_400204(client, zk, services_path):
    create(client, {"name": "a"}, {"name": "b"})
    zk.create("%s/a/member_" % services_path, member("10.0.0.1", 80), sequence=True)
    answer = delete(client, {"name": "a"}, {"name": "b"})
    assert answer.status_code == 400 and codes(answer) == (400000, [400204, 200000])
    assert zk.exists("%s/a" % services_path) and not zk.exists("%s/b" % services_path)


def test_delete_in_another_namespace_deletes_nothing(client, zk, services_path):
    create(client, {"name": "a", "namespace": "one"})
    assert codes(delete(client, {"name": "a", "namespace": "two"})) == (200000, [200000])
    assert zk.exists("%s/a" % services_path)


def test_delete_validates_names(client, zk, services_path):
    answer = delete(client, {"name": "a b"})
    assert codes(answer) == (400120, [400120])


# -- query --------------------------------------------------------------------------


@pytest.fixture
def catalogue(client, zk, services_path):
    """Five services with attributes and members, created in this order."""
    create(
        client,
        {
            "name": "shop-api",
            "namespace": "prod",
            "business": "Online Shop",
            "department": "retail",
            "metadata": {"tier": "1", "lang": "go"},
        },
    )
    create(
        client,
        {
            "name": "shop-web",
            "namespace": "prod",
            "business": "online shop",
            "department": "retail",
            "metadata": {"tier": "2"},
        },
    )
    create(
        client,
        {
            "name": "billing",
            "namespace": "prod",
            "business": "Finance",
            "department": "money",
            "metadata": {"tier": "1"},
        },
    )
    create(client, {"name": "shop-api-test", "namespace": "test", "business": "Online Shop"})
    create(client, {"name": "web-shop", "namespace": "test"})
    for host, port, status in (("10.0.0.1", 80, "ALIVE"), ("10.0.0.2", 80, "DEAD"), ("10.0.0.3", 8080, "STOPPED")):
        zk.create("%s/shop-api/member_" % services_path, member(host, port, status), sequence=True)
    zk.create("%s/billing/member_" % services_path, member("10.0.0.2", 9000), sequence=True)
    zk.create("%s/billing/not-a-member" % services_path, b"")
    eventually(lambda: counts(client, "shop-api") == (3, 1) and counts(client, "billing") == (1, 1))


def test_query_everything_sorted_by_last_change(client, catalogue):
    answer = query(client)
    assert answer.status_code == 200 and answer.json["code"] == 200000
    assert names(answer) == ["web-shop", "shop-api-test", "billing", "shop-web", "shop-api"]
    assert answer.json["amount"] == 5 and answer.json["size"] == 5
    update(client, {"name": "shop-web", "namespace": "prod", "comment": "touched"})
    assert names(query(client))[0] == "shop-web"


def test_query_counts_come_from_the_members(client, catalogue):
    found = {s["name"]: s for s in query(client).json["services"]}
    assert (found["shop-api"]["total_instance_count"], found["shop-api"]["healthy_instance_count"]) == (3, 1)
    assert (found["billing"]["total_instance_count"], found["billing"]["healthy_instance_count"]) == (1, 1)
    assert (found["web-shop"]["total_instance_count"], found["web-shop"]["healthy_instance_count"]) == (0, 0)
    api = found["shop-api"]
    assert (
        api["namespace"] == "prod" and api["metadata"] == {"tier": "1", "lang": "go"} and api["department"] == "retail"
    )
    assert set(api) >= {"ports", "comment", "ctime", "mtime"}


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"name": "shop-api"}, {"shop-api"}),
        ({"name": "shop"}, set()),
        ({"name": "shop*"}, {"shop-api", "shop-web", "shop-api-test"}),
        ({"name": "*shop*"}, {"shop-api", "shop-web", "shop-api-test", "web-shop"}),
        ({"name": "*shop"}, {"web-shop"}),
        ({"name": "*"}, {"shop-api", "shop-web", "shop-api-test", "web-shop", "billing"}),
        ({"namespace": "test"}, {"shop-api-test", "web-shop"}),
        ({"namespace": "prod", "name": "shop*"}, {"shop-api", "shop-web"}),
        ({"business": "online"}, {"shop-api", "shop-web", "shop-api-test"}),
        ({"business": "SHOP"}, {"shop-api", "shop-web", "shop-api-test"}),
        ({"department": "retail"}, {"shop-api", "shop-web"}),
        ({"department": "retai"}, set()),
        ({"keys": "tier", "values": "1"}, {"shop-api", "billing"}),
        ({"keys": "lang", "values": "go"}, {"shop-api"}),
        ({"host": "10.0.0.2"}, {"shop-api", "billing"}),
        ({"host": "10.0.0.1,10.0.0.3"}, {"shop-api"}),
        ({"host": "10.0.0.2", "port": "9000"}, {"billing"}),
        ({"host": "10.0.0.2,10.0.0.3", "port": "80,8080"}, {"shop-api"}),
        ({"host": "10.9.9.9"}, set()),
        ({"name": ""}, {"shop-api", "shop-web", "shop-api-test", "web-shop", "billing"}),
    ],
)
def test_query_filters(client, catalogue, params, expected):
    answer = query(client, **params)
    assert answer.json["code"] == 200000
    assert set(names(answer)) == expected
    assert answer.json["amount"] == len(expected)


@pytest.mark.parametrize(
    "params",
    [
        {"port": "80"},
        {"host": "10.0.0.1", "port": "http"},
        {"keys": "tier"},
        {"values": "1"},
        {"offset": "x"},
        {"offset": "-1"},
        {"limit": "ten"},
        {"limit": "-5"},
        {"colour": "blue"},
    ],
)
def test_query_parameter_errors_are_400103(client, catalogue, params):
    answer = query(client, **params)
    assert answer.status_code == 400
    assert answer.json["code"] == 400103
    assert answer.json["services"] == [] and answer.json["amount"] == 0


def test_query_offset_and_limit(client, catalogue):
    everything = names(query(client))
    page = query(client, offset=1, limit=2)
    assert names(page) == everything[1:3]
    assert page.json["amount"] == 5 and page.json["size"] == 2
    assert query(client, offset=10).json["size"] == 0


def test_query_limit_defaults_to_100_and_is_capped(client):
    create(client, *[{"name": "s%03d" % i} for i in range(100)])
    create(client, *[{"name": "t%03d" % i} for i in range(5)])
    assert query(client).json["size"] == 100
    capped = query(client, limit=500)
    assert capped.json["size"] == 100 and capped.json["amount"] == 105


def test_services_made_by_admin_appear_with_defaults_and_counts(client, zk, services_path):
    ops = {"key": OPS}
    client.post("/addservice", data={"destName": "legacy", **ops})
    client.post("/addserver", data={"destName": "legacy", "serverHost": "10.0.0.1", "serverPort": "80", **ops})
    client.post("/addserver", data={"destName": "legacy", "serverHost": "10.0.0.2", "serverPort": "80", **ops})
    zk.create("%s/legacy/member_" % services_path, member("10.0.0.3", 80, "DEAD"), sequence=True)
    zk.create("%s/legacy/member_" % services_path, b"\xff not json")
    eventually(lambda: counts(client, "legacy") == (3, 2))
    found = query(client, namespace="default").json["services"]
    assert len(found) == 1
    legacy = found[0]
    assert legacy["name"] == "legacy" and legacy["namespace"] == "default"
    assert (legacy["metadata"], legacy["business"], legacy["ports"]) == ({}, "", "")
    assert legacy["total_instance_count"] == 3 and legacy["healthy_instance_count"] == 2
    assert legacy["ctime"] and legacy["mtime"]


def test_service_node_with_odd_data_is_listed(client, zk, services_path):
    zk.create("%s/odd" % services_path, b"[1, 2, 3]")
    zk.create("%s/odder" % services_path, json.dumps({"namespace": 7, "metadata": {"n": 1}, "business": None}).encode())
    eventually(lambda: query(client).json["amount"] == 2)
    found = {s["name"]: s for s in query(client).json["services"]}
    assert found["odd"]["namespace"] == "default"
    assert found["odder"]["namespace"] == "7" and found["odder"]["metadata"] == {"n": "1"}


def test_query_needs_a_read_key(client, catalogue):
    assert query(client, key=None).status_code == 401
    assert query(client, key=READER).json["amount"] == 5


def test_unknown_paths_and_methods_answer_in_the_polaris_envelope(client):
    missing = client.get("/naming/v1/nothing", headers=headers())
    assert missing.status_code == 400 and missing.json["code"] == 400000
    assert "/naming/v1/nothing" in missing.json["info"]
    wrong = client.delete("/naming/v1/services", headers=headers())
    assert wrong.status_code == 400 and wrong.json["code"] == 400000 and "not allowed" in wrong.json["info"]


def test_zookeeper_down_is_a_store_error(client, app, mocker):
    from zk.errors import Unavailable

    catalog = app.extensions["soa"].registry.get("qa")
    mocker.patch.object(catalog.cluster, "call", side_effect=Unavailable("ZooKeeper zkidc qa is not reachable"))
    answer = create(client, {"name": "a"}, {"name": "b"})
    assert answer.status_code == 500
    assert codes(answer) == (500001, [500001, 500001])
    assert "not applied" in answer.json["responses"][1]["info"]
