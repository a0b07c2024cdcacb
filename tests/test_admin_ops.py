"""Admin additions for ops (issue 15): draining, delete by address, search
and counts, server details. Without the new parameters the seed's answers stay."""

import json

import pytest

from tests import discovery_helpers as discovery
from tests.conftest import OPS, eventually
from tests.test_admin import add_server, add_service, servers

SERVICE = "ip2city.http"


def setserver(client, **params):
    return client.post("/setserver", data={"destName": SERVICE, "key": OPS, **params})


def member_doc(zk, services_path, key):
    return json.loads(zk.get("%s/%s/%s" % (services_path, SERVICE, key))[0])


def test_drain_and_enable_replace_the_member_with_the_new_status(client, zk, services_path):
    add_service(client)
    key = add_server(client, "10.0.0.1", 8080).json["key"]
    before = member_doc(zk, services_path, key)
    drained = setserver(client, serverHost="10.0.0.1", serverPort="8080", status="STOPPED")
    assert drained.status_code == 200, drained.json
    new = drained.json["key"]
    assert drained.json == {"code": 1, "key": new, "status": "STOPPED", "changed": True}
    # A ServerSet reader never re-reads a member: the drained one is a new node.
    assert new != key and zk.get_children("%s/%s" % (services_path, SERVICE)) == [new]
    assert member_doc(zk, services_path, new) == {**before, "status": "STOPPED"}
    assert servers(client) == [{"host": "10.0.0.1", "port": 8080, "key": new, "status": "STOPPED"}]
    enabled = setserver(client, serverKey=new, status="ALIVE").json
    assert enabled["changed"] is True and enabled["key"] != new
    assert member_doc(zk, services_path, enabled["key"]) == before


def test_setserver_is_idempotent(client, zk, services_path):
    add_service(client)
    key = add_server(client).json["key"]
    assert setserver(client, serverKey=key, status="ALIVE").json == {
        "code": 1,
        "key": key,
        "status": "ALIVE",
        "changed": False,
    }
    stopped = setserver(client, serverKey=key, status="STOPPED").json["key"]
    again = setserver(client, serverHost="10.0.0.1", serverPort="8080", status="STOPPED").json
    assert again == {"code": 1, "key": stopped, "status": "STOPPED", "changed": False}
    assert zk.get_children("%s/%s" % (services_path, SERVICE)) == [stopped]


def test_setserver_keeps_a_foreign_members_fields(client, zk, services_path):
    add_service(client)
    doc = {
        "serviceEndpoint": {"host": "10.0.0.4", "port": 31000},
        "additionalEndpoints": {},
        "status": "ALIVE",
        "shard": 3,
        "extra": [1],
    }
    zk.create("%s/%s/member_" % (services_path, SERVICE), json.dumps(doc).encode(), sequence=True)
    eventually(lambda: servers(client))
    new = setserver(client, serverHost="10.0.0.4", serverPort="31000", status="STOPPED").json["key"]
    assert member_doc(zk, services_path, new) == {**doc, "status": "STOPPED"}


def test_setserver_refuses_application_instances_and_unreadable_members(client, zk, services_path):
    add_service(client, name=discovery.APPID)
    assert discovery.register(client)["code"] == 0
    zk.create("%s/%s/member_raw" % (services_path, discovery.APPID), b"10.0.0.9:80")
    listed = eventually(lambda: (lambda got: got if len(got) == 2 else None)(servers(client, discovery.APPID)))
    before = sorted(zk.get_children("%s/%s" % (services_path, discovery.APPID)))
    for server in listed:
        answer = client.post(
            "/setserver",
            data={"destName": discovery.APPID, "key": OPS, "serverKey": server["key"], "status": "STOPPED"},
        )
        assert answer.status_code == 409 and answer.json["code"] == 0
        assert "instance" in answer.json["reason"] or "not ServerSet JSON" in answer.json["reason"]
    assert sorted(zk.get_children("%s/%s" % (services_path, discovery.APPID))) == before


@pytest.mark.parametrize(
    "params, words",
    [
        ({"status": "STOPPED"}, "give serverKey, or serverHost and serverPort"),
        ({"serverHost": "10.0.0.1", "status": "STOPPED"}, "give serverKey, or serverHost and serverPort"),
        (
            {"serverKey": "member_0000000000", "serverHost": "10.0.0.1", "serverPort": "8080", "status": "STOPPED"},
            "give serverKey",
        ),
        ({"serverKey": "member_0000000000", "status": "DEAD"}, "status"),
        ({"serverKey": "member_0000000000"}, "status"),
        ({"serverHost": "not a host!", "serverPort": "8080", "status": "ALIVE"}, "serverHost"),
    ],
)
def test_setserver_refuses_bad_parameters_and_writes_nothing(client, zk, services_path, params, words):
    add_service(client)
    key = add_server(client).json["key"]
    answer = setserver(client, **params)
    assert answer.status_code == 400 and answer.json["code"] == 0 and words in answer.json["reason"]
    assert zk.get_children("%s/%s" % (services_path, SERVICE)) == [key]


def test_setserver_of_an_unknown_server_is_404(client):
    add_service(client)
    answer = setserver(client, serverHost="10.0.0.1", serverPort="8080", status="STOPPED")
    assert answer.status_code == 404
    assert answer.json == {"code": 0, "reason": "service ip2city.http has no server at 10.0.0.1:8080 on zkidc qa"}
    assert setserver(client, serverKey="member_0000000007", status="STOPPED").status_code == 404


def test_delserver_by_host_and_port(client, zk, services_path):
    add_service(client)
    key = add_server(client, "10.0.0.1", 8080).json["key"]
    other = add_server(client, "10.0.0.1", 8081).json["key"]
    gone = client.post(
        "/delserver", data={"destName": SERVICE, "key": OPS, "serverHost": "10.0.0.1", "serverPort": "8080"}
    )
    assert gone.json == {"code": 1, "key": key}
    assert zk.get_children("%s/%s" % (services_path, SERVICE)) == [other]
    again = client.post(
        "/delserver", data={"destName": SERVICE, "key": OPS, "serverHost": "10.0.0.1", "serverPort": "8080"}
    )
    assert again.status_code == 404 and "10.0.0.1:8080" in again.json["reason"]


def test_servicelist_search_offset_limit_total_and_counts(client):
    for name in ("pay.http", "pay.grpc", "Payroll", "search.http", "user.http"):
        add_service(client, name=name)
    add_server(client, "10.0.0.1", 80, service="pay.http")
    key = add_server(client, "10.0.0.2", 80, service="pay.http").json["key"]
    setserver(client, destName="pay.http", serverKey=key, status="STOPPED")

    def listing(**query):
        answer = client.get("/servicelist", query_string={"key": OPS, **query})
        assert answer.status_code == 200, answer.json
        return answer.json

    assert listing() == {
        "code": 1,
        "services": [{"service": n} for n in sorted(["pay.http", "pay.grpc", "Payroll", "search.http", "user.http"])],
        "stale": False,
    }
    assert listing(search="PAY") == {
        "code": 1,
        "services": [{"service": "Payroll"}, {"service": "pay.grpc"}, {"service": "pay.http"}],
        "total": 3,
        "stale": False,
    }
    assert listing(search="pay", offset=1, limit=1)["services"] == [{"service": "pay.grpc"}]
    assert listing(offset=4)["services"] == [{"service": "user.http"}] and listing(offset=9)["services"] == []
    assert listing(limit=0) == {"code": 1, "services": [], "total": 5, "stale": False}
    counted = listing(search="pay.", counts="true")["services"]
    assert counted == [
        {"service": "pay.grpc", "members": 0, "alive": 0},
        {"service": "pay.http", "members": 2, "alive": 1},
    ]


@pytest.mark.parametrize("query", [{"offset": "-1"}, {"limit": "x"}, {"counts": "maybe"}, {"search": "x" * 129}])
def test_servicelist_refuses_bad_paging(client, query):
    answer = client.get("/servicelist", query_string={"key": OPS, **query})
    assert answer.status_code == 400 and answer.json["code"] == 0 and next(iter(query)) in answer.json["reason"]


def test_serverlist_details_show_origin_zone_and_heartbeat(client, zk, services_path):
    add_service(client, name=discovery.APPID)
    add_server(client, "10.0.0.5", 80, service=discovery.APPID)
    assert discovery.register(client)["code"] == 0
    zk.create(
        "%s/%s/member_foreign" % (services_path, discovery.APPID),
        b'{"serviceEndpoint":{"host":"10.0.0.6","port":81},"status":"ALIVE"}',
    )

    def details():
        answer = client.get("/serverlist", query_string={"key": OPS, "destName": discovery.APPID, "details": "true"})
        assert answer.status_code == 200, answer.json
        found = {server["host"]: server for server in answer.json["servers"]}
        return found if len(found) == 3 else None

    found = eventually(details)
    assert found["10.0.0.5"]["origin"] == "admin" and found["10.0.0.5"]["heartbeat"] is None
    assert found["10.0.0.5"]["ephemeral"] is False and found["10.0.0.5"]["status"] == "ALIVE"
    assert found["10.0.0.1"]["origin"] == "discovery" and found["10.0.0.1"]["zone"] == "sh001"
    assert found["10.0.0.1"]["ephemeral"] is True and isinstance(found["10.0.0.1"]["heartbeat"], int)
    assert found["10.0.0.6"]["origin"] == "other" and found["10.0.0.6"]["zone"] is None
    plain = client.get("/serverlist", query_string={"key": OPS, "destName": discovery.APPID}).json["servers"]
    assert all(set(server) == {"host", "port", "key", "status"} for server in plain)
