"""One host rule for every dialect (zk.codec.check_host): IPv4, IPv6 or an
RFC 1123 name; digits and dots only must be IPv4. Refused hosts write nothing."""

import pytest

from tests.conftest import OPS
from tests.discovery_helpers import register as discovery_register
from tests.instance_helpers import register as instance_register
from tests.polaris_helpers import query

REFUSED = ["10.0.0.256", "1.2.3", "my_host", "-edge.example", "a..b"]
ACCEPTED = [("10.0.0.1", "10.0.0.1"), ("fe80:0::0001", "fe80::1"), ("edge-1.example.com", "edge-1.example.com")]


def _servers(client):
    answer = client.get("/serverlist", query_string={"destName": "svc", "key": OPS}).json
    return [(s["host"], s["port"]) for s in answer.get("servers", [])]


def _addserver(client, host):
    client.post("/addservice", query_string={"destName": "svc", "key": OPS})
    return client.post("/addserver", data={"destName": "svc", "key": OPS, "serverHost": host, "serverPort": 80})


@pytest.mark.parametrize("host", REFUSED)
def test_admin_addserver_refuses_a_bad_host(client, host):
    answer = _addserver(client, host)
    assert answer.status_code == 400 and answer.json["code"] == 0
    assert answer.json["reason"].startswith("serverHost: must be an ") and repr(host) in answer.json["reason"]
    assert _servers(client) == []


@pytest.mark.parametrize("host, spelled", ACCEPTED)
def test_admin_addserver_takes_ips_and_names(client, host, spelled):
    assert _addserver(client, host).json["code"] == 1
    assert _servers(client) == [(spelled, 80)]


def _url(host):
    return "http://%s:8080" % ("[%s]" % host if ":" in host else host)


@pytest.mark.parametrize("host", REFUSED)
def test_discovery_register_refuses_a_bad_host_in_addrs(client, host):
    answer = discovery_register(client, addrs=[_url(host)])
    assert answer["code"] == -400 and "must be an " in answer["message"], answer
    assert (
        client.get(
            "/discovery/fetch", query_string={"appid": "demo.account", "env": "uat", "status": 3, "key": OPS}
        ).json["code"]
        == -404
    )


@pytest.mark.parametrize("host, spelled", ACCEPTED)
def test_discovery_register_takes_ips_and_names(client, host, spelled):
    assert discovery_register(client, addrs=[_url(host)])["code"] == 0
    assert _servers_of(client, "demo.account") == [(spelled, 8080)]


def _servers_of(client, service):
    answer = client.get("/serverlist", query_string={"destName": service, "key": OPS}).json
    return [(s["host"], s["port"]) for s in answer.get("servers", [])]


@pytest.mark.parametrize("host", REFUSED)
def test_instance_api_refuses_a_bad_host(client, host):
    answer = instance_register(client, ip=host)
    assert answer.status_code == 400
    assert answer.get_data(as_text=True).startswith("Param 'ip' must be an ")
    assert _servers_of(client, "serviceTest") == []


@pytest.mark.parametrize("host, spelled", ACCEPTED)
def test_instance_api_takes_ips_and_names(client, host, spelled):
    assert instance_register(client, ip=host).status_code == 200
    assert _servers_of(client, "serviceTest") == [(spelled, 8080)]


@pytest.mark.parametrize("host", REFUSED)
def test_polaris_service_query_refuses_a_bad_host(client, host):
    answer = query(client, host="10.0.0.1," + host)
    assert answer.status_code == 400 and answer.json["code"] == 400103, answer.json
    assert "host: must be an " in answer.json["info"]


def test_polaris_service_query_takes_ips_and_names(client):
    assert query(client, host="10.0.0.1,fe80::1,edge-1.example.com").json["code"] == 200000
