"""Routing, rate-limit and circuit-breaker rules: management paths and discover types 3, 4, 5."""

import json

import pytest

from gateway import create_app
from tests.conftest import eventually
from tests.polaris_helpers import READER, WRITER, codes, create, delete, discover, headers, rules

ROUTING = {
    "service": "shop",
    "namespace": "Test",
    "inbounds": [
        {
            "sources": [{"service": "*", "namespace": "*", "metadata": {"env": {"type": "EXACT", "value": "gray"}}}],
            "destinations": [{"metadata": {"version": {"value": "2.0"}}, "weight": 100, "priority": 0}],
        }
    ],
    "outbounds": [],
}
LIMIT = {
    "service": "shop",
    "namespace": "Test",
    "name": "per-second",
    "type": "LOCAL",
    "amounts": [{"maxAmount": 100, "validDuration": "1s"}],
    "method": {"type": "EXACT", "value": "/buy"},
}
BREAKER = {
    "service": "shop",
    "namespace": "Test",
    "name": "cb",
    "inbounds": [
        {
            "sources": [{"service": "*"}],
            "destinations": [{"resource": "INSTANCE", "policy": {"errorRate": {"errorRateToOpen": 10}}}],
        }
    ],
}


@pytest.fixture
def shop(client):
    assert create(client, {"name": "shop", "namespace": "Test"}).json["code"] == 200000


def rules_path(chroot, service, kind):
    return "%s/qa/soa/rules/%s/%s" % (chroot, service, kind)


# -- routing -------------------------------------------------------------------------


def test_routing_lifecycle(client, shop, zk, chroot, services_path):
    empty = discover(client, 3, "shop", "Test")
    assert empty.status_code == 200 and empty.json["code"] == 200000
    assert empty.json["routing"] == {
        "service": "shop",
        "namespace": "Test",
        "inbounds": [],
        "outbounds": [],
        "revision": "",
    }

    made = rules(client, "routings", "post", [ROUTING])
    assert made.status_code == 200
    assert made.json["responses"] == [
        {"code": 200000, "info": "execute success", "routing": {"service": "shop", "namespace": "Test"}}
    ]
    stored = json.loads(zk.get(rules_path(chroot, "shop", "routing"))[0])
    assert stored["rules"][0]["inbounds"] == ROUTING["inbounds"]
    assert zk.get_children("%s/shop" % services_path) == []  # nothing under the service node

    answer = discover(client, 3, "shop", "Test")
    assert answer.json["code"] == 200000 and answer.json["type"] == "ROUTING"
    routing = answer.json["routing"]
    assert routing["inbounds"] == ROUTING["inbounds"] and routing["service"] == "shop"
    current = answer.json["service"]["revision"]
    assert current and routing["revision"] == current
    same = discover(client, 3, "shop", "Test", revision=current)
    assert same.json == {
        "code": 200001,
        "info": "discover data is no change",
        "type": "ROUTING",
        "service": {"name": "shop", "namespace": "Test", "revision": current},
    }

    unchanged = rules(client, "routings", "put", [ROUTING])
    assert codes(unchanged) == (200002, [200002])
    assert discover(client, 3, "shop", "Test", revision=current).json["code"] == 200001

    changed = dict(ROUTING, outbounds=[{"sources": [], "destinations": [{"service": "pay"}]}])
    assert codes(rules(client, "routings", "put", [changed])) == (200000, [200000])
    moved = discover(client, 3, "shop", "Test", revision=current)
    assert moved.json["code"] == 200000 and moved.json["routing"]["outbounds"] == changed["outbounds"]

    assert codes(rules(client, "routings", "delete", [{"service": "shop", "namespace": "Test"}])) == (200000, [200000])
    assert not zk.exists(rules_path(chroot, "shop", "routing"))
    after = discover(client, 3, "shop", "Test", revision=moved.json["service"]["revision"])
    assert after.json["code"] == 200000 and after.json["routing"]["inbounds"] == []


def test_routing_errors(client, shop):
    assert codes(rules(client, "routings", "post", [dict(ROUTING, service="nope")])) == (400301, [400301])
    assert codes(rules(client, "routings", "post", [dict(ROUTING, namespace="Other")])) == (400301, [400301])
    rules(client, "routings", "post", [ROUTING])
    assert codes(rules(client, "routings", "post", [ROUTING])) == (400201, [400201])
    create(client, {"name": "bare", "namespace": "Test"})
    assert codes(rules(client, "routings", "put", [dict(ROUTING, service="bare")])) == (400202, [400202])
    assert codes(rules(client, "routings", "post", [dict(ROUTING, inbounds="all")])) == (400103, [400103])
    assert codes(rules(client, "routings", "post", [dict(ROUTING, inbounds=["x"])])) == (400103, [400103])
    assert codes(rules(client, "routings", "post", [dict(ROUTING, service="a b")])) == (400120, [400120])
    assert codes(rules(client, "routings", "post", [dict(ROUTING, namespace="a b")])) == (400110, [400110])
    assert codes(rules(client, "routings", "delete", [{"service": "bare", "namespace": "Test"}])) == (200000, [200000])
    assert rules(client, "routings", "post", []).json["code"] == 400002


def test_routing_query(client, shop):
    create(client, {"name": "pay", "namespace": "Test"})
    rules(client, "routings", "post", [ROUTING, dict(ROUTING, service="pay")])
    everything = client.get("/naming/v1/routings", headers=headers()).json
    assert everything["code"] == 200000 and everything["amount"] == 2
    assert {r["service"] for r in everything["routings"]} == {"shop", "pay"}
    one = client.get(
        "/naming/v1/routings", query_string={"service": "pay", "namespace": "Test"}, headers=headers()
    ).json
    assert [r["service"] for r in one["routings"]] == ["pay"] and one["routings"][0]["ctime"]
    page = client.get("/naming/v1/routings", query_string={"limit": 1}, headers=headers()).json
    assert page["amount"] == 2 and page["size"] == 1
    bad = client.get("/naming/v1/routings", query_string={"colour": "red"}, headers=headers())
    assert bad.status_code == 400 and bad.json["code"] == 400103 and bad.json["routings"] == []


# -- rate limits --------------------------------------------------------------------------


def test_rate_limit_lifecycle(client, shop, zk, chroot):
    made = rules(
        client,
        "ratelimits",
        "post",
        [
            LIMIT,
            dict(LIMIT, name="per-minute", type=0, resource=1, amounts=[{"maxAmount": 1000, "validDuration": "1m"}]),
        ],
    )
    assert codes(made) == (200000, [200000, 200000])
    ids = [r["rateLimit"]["id"] for r in made.json["responses"]]
    assert len(set(ids)) == 2 and all(ids)
    assert made.json["responses"][0]["rateLimit"] == {
        "id": ids[0],
        "service": "shop",
        "namespace": "Test",
        "name": "per-second",
    }

    answer = discover(client, 4, "shop", "Test")
    assert answer.json["code"] == 200000 and answer.json["type"] == "RATE_LIMIT"
    limits = {r["name"]: r for r in answer.json["rateLimit"]["rules"]}
    assert (
        limits["per-minute"]["type"] == "GLOBAL" and limits["per-minute"]["resource"] == "CONCURRENCY"
    )  # enums as names
    second = limits["per-second"]
    assert (second["type"], second["resource"], second["action"], second["disable"]) == (
        "LOCAL",
        "QPS",
        "REJECT",
        False,
    )
    assert second["amounts"] == [{"maxAmount": 100, "validDuration": "1s"}] and second["method"]["value"] == "/buy"
    current = answer.json["rateLimit"]["revision"]
    assert current == answer.json["service"]["revision"] and current
    assert discover(client, 4, "shop", "Test", revision=current).json["code"] == 200001

    assert codes(rules(client, "ratelimits", "put", [dict(LIMIT, id=ids[0])])) == (200002, [200002])
    assert codes(rules(client, "ratelimits", "put", [dict(LIMIT, id=ids[0], disable=True)])) == (200000, [200000])
    updated = discover(client, 4, "shop", "Test", revision=current).json
    assert updated["code"] == 200000
    assert {r["name"]: r["disable"] for r in updated["rateLimit"]["rules"]} == {"per-second": True, "per-minute": False}
    assert {r["id"] for r in updated["rateLimit"]["rules"]} == set(ids)

    gone = rules(client, "ratelimits", "delete", [{"id": ids[0]}, {"id": "no-such-rule"}])
    assert codes(gone) == (200000, [200000, 200000])
    left = discover(client, 4, "shop", "Test").json["rateLimit"]["rules"]
    assert [r["id"] for r in left] == [ids[1]]
    rules(client, "ratelimits", "delete", [{"id": ids[1], "service": "shop"}])
    assert not zk.exists(rules_path(chroot, "shop", "ratelimit"))
    assert discover(client, 4, "shop", "Test").json["rateLimit"] == {"rules": [], "revision": ""}


@pytest.mark.parametrize(
    "change, code",
    [
        ({"name": None}, 400103),
        ({"type": "SOMETIMES"}, 400103),
        ({"type": 7}, 400103),
        ({"amounts": []}, 400103),
        ({"amounts": [{"maxAmount": 1, "validDuration": "soon"}]}, 400103),
        ({"amounts": [{"maxAmount": "many", "validDuration": "1s"}]}, 400103),
        ({"method": {"type": "SIMILAR", "value": "/x"}}, 400103),
        ({"action": "DROP"}, 400103),
        ({"service": "bad name"}, 400120),
        ({"namespace": "bad ns"}, 400110),
        ({"service": "missing"}, 400301),
    ],
)
def test_rate_limit_validation(client, shop, zk, chroot, change, code):
    item = {k: v for k, v in dict(LIMIT, **change).items() if v is not None}
    answer = rules(client, "ratelimits", "post", [item])
    assert answer.status_code == 400 and codes(answer) == (code, [code])
    assert not zk.exists(rules_path(chroot, "shop", "ratelimit"))


def test_rate_limit_names_are_unique_per_service_and_updates_need_an_existing_id(client, shop):
    rules(client, "ratelimits", "post", [LIMIT])
    assert codes(rules(client, "ratelimits", "post", [LIMIT])) == (400201, [400201])
    assert codes(rules(client, "ratelimits", "put", [dict(LIMIT, id="nope")])) == (400202, [400202])
    assert codes(rules(client, "ratelimits", "put", [LIMIT])) == (400103, [400103])
    first = client.get("/naming/v1/ratelimits", headers=headers()).json["rateLimits"][0]
    mixed = rules(client, "ratelimits", "put", [dict(LIMIT, id=first["id"], disable=True), LIMIT])
    assert codes(mixed) == (400000, [400000, 400103])  # the item without an id stops the batch
    assert client.get("/naming/v1/ratelimits", headers=headers()).json["rateLimits"][0]["disable"] is False


def test_rate_limit_query(client, shop):
    create(client, {"name": "pay", "namespace": "Test"})
    made = rules(
        client,
        "ratelimits",
        "post",
        [LIMIT, dict(LIMIT, name="slow", disable=True), dict(LIMIT, service="pay", method={"value": "/refund"})],
    )
    ids = [r["rateLimit"]["id"] for r in made.json["responses"]]

    def get(**q):
        return client.get("/naming/v1/ratelimits", query_string=q, headers=headers()).json

    assert get()["amount"] == 3
    assert [r["name"] for r in get(service="shop", name="slow")["rateLimits"]] == ["slow"]
    assert [r["id"] for r in get(id=ids[2])["rateLimits"]] == [ids[2]]
    assert {r["name"] for r in get(disable="true")["rateLimits"]} == {"slow"}
    assert {r["service"] for r in get(method="refund")["rateLimits"]} == {"pay"}
    brief = get(service="pay", brief="true")["rateLimits"][0]
    assert set(brief) == {"id", "name", "service", "namespace", "disable", "ctime", "mtime"}
    assert get(offset=2, limit=5)["size"] == 1
    assert get(bogus="1")["code"] == 400103


# -- circuit breakers -----------------------------------------------------------------------


def test_circuit_breaker_lifecycle(client, shop, zk, chroot):
    assert discover(client, 5, "shop", "Test").json["circuitBreaker"]["revision"] == ""
    made = rules(client, "circuitbreakers", "post", [BREAKER])
    assert codes(made) == (200000, [200000])
    echoed = made.json["responses"][0]["circuitBreaker"]
    assert echoed["service"] == "shop" and echoed["name"] == "cb" and echoed["id"]
    answer = discover(client, 5, "shop", "Test")
    assert answer.json["code"] == 200000 and answer.json["type"] == "CIRCUIT_BREAKER"
    breaker = answer.json["circuitBreaker"]
    assert breaker["inbounds"] == BREAKER["inbounds"] and breaker["id"] == echoed["id"]
    assert breaker["revision"] == answer.json["service"]["revision"] != ""
    assert discover(client, 5, "shop", "Test", revision=breaker["revision"]).json["code"] == 200001
    assert codes(rules(client, "circuitbreakers", "post", [BREAKER])) == (400201, [400201])
    assert codes(rules(client, "circuitbreakers", "put", [dict(BREAKER, comment="tuned")])) == (200000, [200000])
    tuned = discover(client, 5, "shop", "Test", revision=breaker["revision"]).json
    assert tuned["code"] == 200000 and tuned["circuitBreaker"]["comment"] == "tuned"
    assert tuned["circuitBreaker"]["id"] == echoed["id"]
    listed = client.get("/naming/v1/circuitbreakers", query_string={"service": "shop"}, headers=headers()).json
    assert listed["amount"] == 1 and listed["circuitBreakers"][0]["comment"] == "tuned"
    assert codes(rules(client, "circuitbreakers", "delete", [{"service": "shop", "namespace": "Test"}])) == (
        200000,
        [200000],
    )
    assert not zk.exists(rules_path(chroot, "shop", "circuitbreaker"))


# -- across the dialect ------------------------------------------------------------------------


def test_rules_of_unknown_services_and_namespaces(client, shop):
    for kind in (3, 4, 5):
        assert discover(client, kind, "nope", "Test").json["code"] == 400202
        assert discover(client, kind, "shop", "Other").json["code"] == 400202


def test_a_service_with_rules_cannot_be_deleted(client, shop, zk, services_path):
    rules(client, "routings", "post", [ROUTING])
    rules(client, "ratelimits", "post", [LIMIT])
    refused = delete(client, {"name": "shop", "namespace": "Test"})
    assert refused.status_code == 400 and codes(refused) == (400205, [400205])
    assert "ratelimit and routing" in refused.json["responses"][0]["info"]
    assert zk.exists("%s/shop" % services_path)
    rules(client, "routings", "delete", [{"service": "shop", "namespace": "Test"}])
    rules(
        client,
        "ratelimits",
        "delete",
        [{"id": r["id"]} for r in discover(client, 4, "shop", "Test").json["rateLimit"]["rules"]],
    )
    assert codes(delete(client, {"name": "shop", "namespace": "Test"})) == (200000, [200000])
    assert not zk.exists("%s/shop" % services_path)


def test_rule_writes_need_keys(client, shop, zk, chroot):
    reader = rules(client, "routings", "post", [ROUTING], key=READER)
    assert reader.status_code == 403 and reader.json["code"] == 403001
    assert rules(client, "routings", "post", [ROUTING], key=WRITER).json["code"] == 200000
    cannot = rules(client, "routings", "delete", [{"service": "shop", "namespace": "Test"}], key=WRITER)
    assert cannot.status_code == 403 and zk.exists(rules_path(chroot, "shop", "routing"))
    assert client.get("/naming/v1/routings").json["code"] == 401000
    assert discover(client, 3, "shop", "Test", key=READER).json["code"] == 200000


def test_rules_are_seen_by_another_gateway_and_written_by_outsiders(client, shop, config, zk, chroot):
    rules(client, "routings", "post", [ROUTING])
    mine = discover(client, 3, "shop", "Test").json
    other = create_app(config)
    try:
        second = other.test_client()
        eventually(lambda: discover(second, 3, "shop", "Test").json.get("routing", {}).get("inbounds"))
        assert discover(second, 3, "shop", "Test").json == mine
        outside = {"rules": [dict(mine["routing"], outbounds=[{"sources": [], "destinations": [{"service": "x"}]}])]}
        zk.set(rules_path(chroot, "shop", "routing"), json.dumps(outside).encode())
        for gateway in (client, second):
            eventually(lambda gateway=gateway: discover(gateway, 3, "shop", "Test").json["routing"]["outbounds"] != [])
        assert discover(client, 3, "shop", "Test").json == discover(second, 3, "shop", "Test").json
    finally:
        other.extensions["soa"].registry.stop()


def test_an_odd_rules_document_counts_as_no_rules(client, shop, zk, chroot):
    zk.create(rules_path(chroot, "shop", "routing"), b"not json", makepath=True)
    zk.create(rules_path(chroot, "shop", "ratelimit"), b'{"rules": [1, {"name": "kept"}]}')
    eventually(lambda: discover(client, 4, "shop", "Test").json["rateLimit"]["rules"] != [])
    assert discover(client, 3, "shop", "Test").json["routing"]["inbounds"] == []
    assert [r["name"] for r in discover(client, 4, "shop", "Test").json["rateLimit"]["rules"]] == ["kept"]
    assert codes(rules(client, "routings", "post", [ROUTING])) == (200000, [200000])
    assert discover(client, 3, "shop", "Test").json["routing"]["inbounds"] == ROUTING["inbounds"]
