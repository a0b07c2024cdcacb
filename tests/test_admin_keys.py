"""Keys on the admin API: every refusal leaves ZooKeeper untouched."""

import pytest

from tests.conftest import KEYS, OPS

WRITES = [
    ("addservice", {"destName": "ip2city.http"}),
    ("delservice", {"destName": "ip2city.http", "force": "true"}),
    ("addserver", {"destName": "ip2city.http", "serverHost": "10.0.0.9", "serverPort": "80"}),
    ("delserver", {"destName": "ip2city.http", "serverKey": "member_0000000000"}),
]


@pytest.fixture
def seeded(client, zk, services_path):
    client.post("/addservice", query_string={"destName": "ip2city.http", "key": OPS})
    client.post(
        "/addserver", query_string={"destName": "ip2city.http", "key": OPS, "serverHost": "10.0.0.1", "serverPort": 80}
    )
    client.post("/addservice", query_string={"destName": "other", "key": OPS, "zkidc": "yz"})

    def snapshot():
        return sorted(
            (path, tuple(sorted(zk.get_children(path)))) for path in (services_path, services_path + "/ip2city.http")
        )

    return snapshot


def secret(name):
    return KEYS[name]["secret"]


@pytest.mark.parametrize("endpoint, params", WRITES)
@pytest.mark.parametrize(
    "who, status, words",
    [
        (None, 401, "a valid key is required"),
        ("wrong-key-000000", 401, "unknown key"),
        ("reader", 403, "may not write"),
        ("qaonly@yz", 403, "may not use zkidc yz"),
        ("ip2city@other", 403, "may not touch service other"),
    ],
)
def test_refused_writes_change_nothing(client, seeded, endpoint, params, who, status, words):
    before = seeded()
    params = dict(params)
    if who == "reader":
        params["key"] = secret("reader")
    elif who == "qaonly@yz":
        params.update(key=secret("qaonly"), zkidc="yz")
    elif who == "ip2city@other":
        params.update(key=secret("ip2city"), destName="other")
    elif who:
        params["key"] = who
    answer = client.post("/" + endpoint, query_string=params)
    if endpoint == "delservice" and who == "reader":
        words = "may not delete"
    assert answer.status_code == status, answer.json
    assert answer.json["code"] == 0 and words in answer.json["reason"]
    assert seeded() == before


def test_delservice_needs_the_delete_right(client, seeded, zk, services_path):
    answer = client.post(
        "/delservice", query_string={"destName": "ip2city.http", "force": "true", "key": secret("writer")}
    )
    assert answer.status_code == 403 and "may not delete" in answer.json["reason"]
    assert zk.exists(services_path + "/ip2city.http")


def test_service_glob_allows_matching_services(client, seeded, zk, services_path):
    key = secret("ip2city")
    assert client.post("/addservice", query_string={"destName": "ip2city.grpc", "key": key}).json["code"] == 1
    assert client.get("/serverlist", query_string={"destName": "ip2city.http", "key": key}).json["code"] == 1
    assert client.get("/serverlist", query_string={"destName": "other", "key": key, "zkidc": "yz"}).status_code == 403


@pytest.mark.parametrize("header", ["X-Api-Key", "Authorization"])
def test_key_in_a_header(client, seeded, header):
    value = OPS if header == "X-Api-Key" else "Bearer " + OPS
    answer = client.get("/servicelist", headers={header: value})
    assert answer.json["code"] == 1


def test_reads_need_a_key_unless_anonymous_reads_are_allowed(zk_server, chroot, seeded):
    from gateway import create_app
    from tests.conftest import make_config

    closed = create_app(make_config(zk_server.hosts, chroot))
    opened = create_app(make_config(zk_server.hosts, chroot, gateway={"anonymous_read": True}))
    try:
        assert closed.test_client().get("/servicelist").status_code == 401
        anonymous = opened.test_client()
        assert anonymous.get("/servicelist").json["services"] == [{"service": "ip2city.http"}]
        assert anonymous.post("/addservice", query_string={"destName": "x"}).status_code == 401
    finally:
        for app in (closed, opened):
            app.extensions["soa"].registry.stop()
