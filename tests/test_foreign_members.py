"""Members written straight into ZooKeeper by someone else: every dialect
routes to exactly the members that ServerSet readers (Finagle, twitter.common)
route to, and shows the others as they are."""

import json

import pytest

from tests.conftest import OPS, eventually
from tests.discovery_helpers import fetch
from tests.polaris_helpers import discover

SERVICE = "demo.account"


def _member(host, port, instance=None, **fields):
    doc = {"serviceEndpoint": {"host": host, "port": port}, "additionalEndpoints": {}, **fields}
    doc["instance"] = {"env": "uat", "zone": "sh001", "hostname": host, **(instance or {})}
    return json.dumps(doc).encode()


# host -> (data, raw status the admin API shows, receives traffic)
WRITTEN = {
    "10.0.0.1": (_member("10.0.0.1", 81), None, False),  # no status
    "10.0.0.2": (_member("10.0.0.2", 82, status="UP"), "UP", False),  # not a ServerSet status
    "10.0.0.3": (_member("10.0.0.3", 83, status="alive"), "alive", False),  # Finagle matches case
    "10.0.0.4": (_member("10.0.0.4", "84", status="ALIVE"), "ALIVE", False),  # port is a string
    "10.0.0.5": (b"10.0.0.5:85", None, False),  # not ServerSet JSON at all
    "10.0.0.6": (_member("10.0.0.6", 86, status=7), "7", False),  # not even a string
    "10.0.0.9": (_member("10.0.0.9", 89, status="ALIVE"), "ALIVE", True),  # the one to route to
}
ROUTED = sorted(host for host, (_, _, routed) in WRITTEN.items() if routed)


@pytest.fixture
def foreign(zk, services_path, client):
    path = "%s/%s" % (services_path, SERVICE)
    zk.create(path)
    for data, _, _ in WRITTEN.values():
        zk.create(path + "/member_", data, sequence=True)

    def loaded():
        answer = client.get("/serverlist", query_string={"destName": SERVICE, "key": OPS}).json
        return answer.get("code") == 1 and len(answer["servers"]) == len(WRITTEN) and answer["servers"]

    return eventually(loaded, timeout=15)


def test_admin_serverlist_shows_the_raw_status(foreign):
    shown = {s["host"]: s["status"] for s in foreign}
    assert shown == {host: raw for host, (_, raw, _) in WRITTEN.items()}


def test_discovery_fetch_routes_only_to_serverset_alive_members(client, foreign):
    up = fetch(client, appid=SERVICE, status=1)
    assert up["code"] == 0, up
    assert sorted(i["hostname"] for i in up["data"]["instances"]["sh001"]) == ROUTED
    every = fetch(client, appid=SERVICE, status=3)
    statuses = {i["hostname"]: i["status"] for i in every["data"]["instances"]["sh001"]}
    # the plain-text member carries no discovery fields, so discovery never lists it
    assert statuses == {host: 1 if routed else 2 for host, (_, _, routed) in WRITTEN.items() if host != "10.0.0.5"}


def test_discovery_poll_lists_only_serverset_alive_members(client, foreign):
    answer = client.get("/discovery/poll", query_string={"appid": SERVICE, "env": "uat", "key": OPS}).json
    assert answer["code"] == 0, answer
    assert sorted(i["hostname"] for i in answer["data"]["instances"]["sh001"]) == ROUTED


def test_polaris_marks_only_serverset_alive_members_healthy(client, foreign):
    answer = discover(client, 1, SERVICE).json
    assert answer["code"] == 200000, answer
    healthy = sorted(i["host"] for i in answer["instances"] if i["healthy"] and not i["isolate"])
    assert healthy == ROUTED
    assert len(answer["instances"]) == len(WRITTEN)


def test_instance_api_lists_only_serverset_alive_members_as_healthy(client, foreign):
    answer = client.get(
        "/api/instance/list", query_string={"serviceName": SERVICE, "healthy": "true"}, headers={"X-Api-Key": OPS}
    )
    assert answer.status_code == 200, answer.data
    assert sorted(i["ip"] for i in answer.json["instances"]) == ROUTED
