"""Keys, across every mutating endpoint of every dialect, against a real
gateway process: no key, an unknown key, a key without the right, a key for
another zkidc and a key for other services are all refused in the dialect's
own envelope, and nothing is written (the znode trees of every zkidc are
the same, byte for byte and version for version, before and after)."""

import pytest

from tests.conftest import KEYS, OPS
from tests.fault_helpers import call
from tests.fault_helpers import registry_state as state

READER = KEYS["reader"]["secret"]
WRITER = KEYS["writer"]["secret"]  # read and write, not delete
QAONLY = KEYS["qaonly"]["secret"]  # every right, zkidc qa only
IP2CITY = KEYS["ip2city"]["secret"]  # every right, services ip2city* only


@pytest.fixture(scope="module")
def gw(own_gateway):
    return own_gateway[0]


@pytest.fixture(scope="module")
def prefix(own_gateway):
    return own_gateway[1]


# -- how each dialect carries a key and a zkidc, and what a refusal looks like ----------


def send(gw, dialect, method, path, payload, key, zkidc):
    headers = {"X-Zkidc": zkidc}
    if dialect in ("admin", "discovery"):
        params = dict(payload)
        if key:
            params["key"] = key
        if dialect == "admin":
            return call(gw.url, method, path, params=params, headers=headers)
        return call(gw.url, method, path, form=params, headers=headers)
    if key:
        headers["X-Polaris-Token" if dialect == "polaris" else "X-Api-Key"] = key
    return call(gw.url, method, path, body=payload, headers=headers)


def refused(dialect, answer, status):
    """The answer is a refusal with HTTP-ish ``status`` (401 or 403) in the dialect's envelope."""
    if dialect == "admin":
        assert (answer.status, answer.content_type) == (status, "application/json")
        assert answer.json["code"] == 0 and answer.json["reason"]
    elif dialect == "discovery":
        assert (answer.status, answer.content_type) == (200, "application/json")
        assert answer.json["code"] == -status and answer.json["message"]
    elif dialect == "polaris":
        assert (answer.status, answer.content_type) == (status, "application/json")
        doc = answer.json
        assert doc["code"] // 1000 == status and doc["info"]
        for item in doc.get("responses", []):
            assert item["code"] // 1000 == status
    else:
        assert (answer.status, answer.content_type) == (status, "text/plain")
        assert answer.text.strip()
    assert b"Traceback" not in answer.body


# -- what is there before: every target of a write exists, on qa and yz ------------------


def seed(gw, zkidc):
    h = {"X-Zkidc": zkidc}
    admin = {"destName": "demo.svc", "key": OPS}
    assert call(gw.url, "POST", "/addservice", params=admin, headers=h).json["code"] == 1
    added = call(gw.url, "POST", "/addserver", params={**admin, "serverHost": "10.0.0.1", "serverPort": 80}, headers=h)
    server_key = added.json["key"]
    form = {
        "zone": "z1",
        "env": "uat",
        "appid": "demo.svc",
        "hostname": "h1",
        "addrs": "http://10.0.0.2:80",
        "status": 1,
        "key": OPS,
    }
    assert call(gw.url, "POST", "/discovery/register", form=form, headers=h).json["code"] == 0
    p = {**h, "X-Polaris-Token": OPS}
    assert (
        call(
            gw.url, "POST", "/naming/v1/services", body=[{"name": "polaris.svc"}, {"name": "polaris.other"}], headers=p
        ).json["code"]
        == 200000
    )
    for path, rule in (
        ("routings", {"service": "polaris.svc"}),
        ("circuitbreakers", {"service": "polaris.svc", "name": "cb"}),
        (
            "ratelimits",
            {
                "service": "polaris.svc",
                "name": "rl",
                "type": "LOCAL",
                "amounts": [{"maxAmount": 10, "validDuration": "1s"}],
            },
        ),
    ):
        answer = call(gw.url, "POST", "/naming/v1/" + path, body=[rule], headers=p)
        assert answer.json["code"] == 200000, answer.json
    limits = call(gw.url, "GET", "/naming/v1/ratelimits", params={"service": "polaris.svc"}, headers=p).json
    rate_limit_id = limits["rateLimits"][0]["id"]
    instance = {"serviceName": "demo.svc", "ip": "10.0.0.3", "port": 8080}
    answer = call(gw.url, "POST", "/api/instance", body=instance, headers={**h, "X-Api-Key": OPS})
    assert (answer.status, answer.text) == (200, "success")
    return server_key, rate_limit_id


@pytest.fixture(scope="module")
def targets(gw):
    seed(gw, "yz")  # the same targets on the zkidc the qa-only key may not touch
    return seed(gw, "qa")


def endpoints(server_key, rate_limit_id):
    """(dialect, method, path, payload, right) of every mutating endpoint."""
    identity = {"zone": "z1", "env": "uat", "appid": "demo.svc"}
    instance = {"serviceName": "demo.svc", "ip": "10.0.0.3", "port": 8080}
    limit = {
        "service": "polaris.svc",
        "name": "rl2",
        "type": "LOCAL",
        "amounts": [{"maxAmount": 5, "validDuration": "1s"}],
    }
    return [
        ("admin", "POST", "/addservice", {"destName": "demo.new"}, "write"),
        ("admin", "POST", "/delservice", {"destName": "demo.svc", "force": "true"}, "delete"),
        ("admin", "POST", "/addserver", {"destName": "demo.svc", "serverHost": "10.0.0.9", "serverPort": 81}, "write"),
        ("admin", "POST", "/delserver", {"destName": "demo.svc", "serverKey": server_key}, "write"),
        (
            "discovery",
            "POST",
            "/discovery/register",
            {**identity, "hostname": "h2", "addrs": "http://10.0.0.4:80", "status": 1},
            "write",
        ),
        ("discovery", "POST", "/discovery/renew", {**identity, "hostname": "h1"}, "write"),
        ("discovery", "POST", "/discovery/cancel", {**identity, "hostname": "h1"}, "write"),
        ("polaris", "POST", "/naming/v1/services", [{"name": "polaris.new"}], "write"),
        ("polaris", "PUT", "/naming/v1/services", [{"name": "polaris.svc", "comment": "changed"}], "write"),
        ("polaris", "POST", "/naming/v1/services/delete", [{"name": "polaris.other"}], "delete"),
        ("polaris", "POST", "/naming/v1/routings", [{"service": "polaris.other"}], "write"),
        ("polaris", "PUT", "/naming/v1/routings", [{"service": "polaris.svc", "inbounds": [{"a": 1}]}], "write"),
        ("polaris", "POST", "/naming/v1/routings/delete", [{"service": "polaris.svc"}], "delete"),
        ("polaris", "POST", "/naming/v1/circuitbreakers", [{"service": "polaris.other"}], "write"),
        ("polaris", "PUT", "/naming/v1/circuitbreakers", [{"service": "polaris.svc", "comment": "x"}], "write"),
        ("polaris", "POST", "/naming/v1/circuitbreakers/delete", [{"service": "polaris.svc"}], "delete"),
        ("polaris", "POST", "/naming/v1/ratelimits", [limit], "write"),
        ("polaris", "PUT", "/naming/v1/ratelimits", [{**limit, "name": "rl", "id": rate_limit_id}], "write"),
        ("polaris", "POST", "/naming/v1/ratelimits/delete", [{"id": rate_limit_id}], "delete"),
        ("instance", "POST", "/api/instance", {**instance, "port": 8081}, "write"),
        ("instance", "DELETE", "/api/instance", instance, "write"),
        ("instance", "PUT", "/api/instance/beat", instance, "write"),
        ("instance", "PUT", "/api/instance/status", {**instance, "status": "DISABLE"}, "write"),
        (
            "admin",
            "POST",
            "/setserver",
            {"destName": "demo.svc", "serverKey": server_key, "status": "STOPPED"},
            "write",
        ),
    ]


# (case, key, zkidc, expected status); "lacking" picks the key without the endpoint's right.
CASES = [
    ("no key", None, "qa", 401),
    ("unknown key", "not-a-configured-key-0001", "qa", 401),
    ("key without the right", "lacking", "qa", 403),
    ("key for another zkidc", QAONLY, "yz", 403),
    ("key for other services", IP2CITY, "qa", 403),
]
ENDPOINT_IDS = ["%s %s %s" % (e[0], e[1], e[2]) for e in endpoints("member_0000000000", "x")]


@pytest.mark.parametrize("number", range(len(ENDPOINT_IDS)), ids=ENDPOINT_IDS)
def test_every_mutating_endpoint_refuses_every_wrong_key_and_writes_nothing(gw, targets, zk, prefix, number):
    dialect, method, path, payload, right = endpoints(*targets)[number]
    before = state(zk, prefix)
    for case, key, zkidc, status in CASES:
        if key == "lacking":
            key = WRITER if right == "delete" else READER
        answer = send(gw, dialect, method, path, payload, key, zkidc)
        try:
            refused(dialect, answer, status)
        except AssertionError:
            raise AssertionError(
                "%s: %s %s answered %s %r" % (case, method, path, answer.status, answer.body[:300])
            ) from None
    assert state(zk, prefix) == before, "a refused write changed ZooKeeper"


def test_the_same_calls_with_the_right_key_do_write(gw, targets, zk, prefix):
    """The control: the table's payloads are valid, so the refusals above are the keys'."""
    before = state(zk, prefix)
    table = endpoints(*targets)
    for dialect, method, path, payload, _ in [table[0], table[4], table[7], table[19]]:  # one create per dialect
        answer = send(gw, dialect, method, path, payload, OPS, "qa")
        assert answer.status == 200 and b"Traceback" not in answer.body, (path, answer.body)
    assert state(zk, prefix) != before


def test_a_service_scoped_key_may_write_its_own_services(gw, zk, prefix):
    form = {
        "zone": "z1",
        "env": "uat",
        "appid": "ip2city.http",
        "hostname": "h1",
        "addrs": "http://10.0.0.5:80",
        "status": 1,
    }
    assert send(gw, "discovery", "POST", "/discovery/register", form, IP2CITY, "qa").json["code"] == 0
    assert send(gw, "admin", "POST", "/addservice", {"destName": "ip2city.rpc"}, IP2CITY, "qa").json["code"] == 1
    answer = send(
        gw,
        "instance",
        "POST",
        "/api/instance",
        {"serviceName": "ip2city.grpc", "ip": "10.0.0.6", "port": 9000},
        IP2CITY,
        "qa",
    )
    assert (answer.status, answer.text) == (200, "success")
    assert (
        send(gw, "polaris", "POST", "/naming/v1/services", [{"name": "ip2city.api"}], IP2CITY, "qa").json["code"]
        == 200000
    )
    names = set(zk.get_children("%s/qa/soa/services" % prefix))
    assert {"ip2city.http", "ip2city.rpc", "ip2city.grpc", "ip2city.api"} <= names


def test_a_batch_with_one_foreign_service_writes_none_of_it(gw, zk, prefix):
    before = state(zk, prefix)
    answer = send(
        gw, "polaris", "POST", "/naming/v1/services", [{"name": "ip2city.ok"}, {"name": "demo.foreign"}], IP2CITY, "qa"
    )
    assert answer.status in (400, 403) and [r["code"] for r in answer.json["responses"]][1] == 403001
    assert state(zk, prefix) == before
