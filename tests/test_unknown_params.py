"""One rule for parameters in every dialect, against a real gateway process:
a parameter a call does not take (a typo such as ``forse=true``) is refused
with the dialect's 400-class error naming it, in the query string or the
body, and nothing is written; what each dialect's real clients send is
accepted, even where the gateway does not use it."""

import json

import pytest

from tests.conftest import OPS
from tests.fault_helpers import call, registry_state
from tests.test_bad_input import ADMIN, INSTANCE, NEW_INSTANCE, POLARIS, REGISTER, client_error, gw, prefix  # noqa: F401

IDENTITY = {k: REGISTER[k] for k in ("zone", "env", "appid", "hostname", "key")}
RULE = {
    "service": "polaris.svc",
    "namespace": "default",
    "name": "r1",
    "type": "GLOBAL",
    "amounts": [{"maxAmount": 10, "validDuration": "1s"}],
}

# (id, dialect, method, path, call keywords, the parameter named, what the message suggests or None)
CASES = []


def case(case_id, dialect, method, path, named, hint=None, **kwargs):
    CASES.append(pytest.param(dialect, method, path, kwargs, named, hint, id=case_id))


case(
    "admin delservice forse in query",
    "admin",
    "POST",
    "/delservice",
    "forse",
    "force",
    params={**ADMIN, "destName": "demo.svc", "forse": "true"},
)
case(
    "admin addserver wieght in json",
    "admin",
    "POST",
    "/addserver",
    "wieght",
    params=ADMIN,
    body={"destName": "demo.svc", "serverHost": "10.0.0.8", "serverPort": 80, "wieght": 5},
)
case(
    "admin addservice colour in form",
    "admin",
    "POST",
    "/addservice",
    "colour",
    params=ADMIN,
    form={"destName": "new.svc", "colour": "red"},
)
case(
    "admin serverlist limt",
    "admin",
    "GET",
    "/serverlist",
    "limt",
    params={**ADMIN, "destName": "demo.svc", "limt": "5"},
)
case(
    "discovery register colour in form",
    "discovery",
    "POST",
    "/discovery/register",
    "colour",
    "color",
    form={**REGISTER, "hostname": "h7", "colour": "red"},
)
case(
    "discovery register colour in query",
    "discovery",
    "POST",
    "/discovery/register?colour=red",
    "colour",
    "color",
    form={**REGISTER, "hostname": "h7"},
)
case(
    "discovery register colour in json",
    "discovery",
    "POST",
    "/discovery/register",
    "colour",
    "color",
    body={**REGISTER, "hostname": "h7", "status": 1, "colour": "red"},
)
case(
    "discovery renew wieght",
    "discovery",
    "POST",
    "/discovery/renew",
    "wieght",
    form={**IDENTITY, "hostname": "h1", "wieght": "5"},
)
case(
    "discovery cancel forse",
    "discovery",
    "POST",
    "/discovery/cancel",
    "forse",
    form={**IDENTITY, "hostname": "h1", "forse": "1"},
)
case(
    "discovery fetch limt",
    "discovery",
    "GET",
    "/discovery/fetch",
    "limt",
    params={"appid": "demo.svc", "env": "uat", "status": 3, "key": OPS, "limt": "1"},
)
case(
    "discovery polls colour",
    "discovery",
    "GET",
    "/discovery/polls",
    "colour",
    params={"appid": "demo.svc", "env": "uat", "latest_timestamp": 0, "key": OPS, "colour": "red"},
)
case("discovery nodes limt", "discovery", "GET", "/discovery/nodes", "limt", params={"key": OPS, "limt": "1"})
case(
    "polaris create bussiness",
    "polaris",
    "POST",
    "/naming/v1/services",
    "bussiness",
    "business",
    headers=POLARIS,
    body=[{"name": "typo.svc", "bussiness": "shop"}],
)
case(
    "polaris update bussiness",
    "polaris",
    "PUT",
    "/naming/v1/services",
    "bussiness",
    "business",
    headers=POLARIS,
    body=[{"name": "polaris.svc", "bussiness": "shop"}],
)
case(
    "polaris delete forse",
    "polaris",
    "POST",
    "/naming/v1/services/delete",
    "forse",
    headers=POLARIS,
    body=[{"name": "polaris.svc", "forse": True}],
)
case(
    "polaris create forse in query",
    "polaris",
    "POST",
    "/naming/v1/services?forse=true",
    "forse",
    headers=POLARIS,
    body=[{"name": "typo.svc"}],
)
case(
    "polaris query limt",
    "polaris",
    "GET",
    "/naming/v1/services",
    "limt",
    "limit",
    headers=POLARIS,
    params={"limt": "5"},
)
case(
    "polaris rule query limt",
    "polaris",
    "GET",
    "/naming/v1/ratelimits",
    "limt",
    "limit",
    headers=POLARIS,
    params={"limt": "5"},
)
case(
    "polaris routing wieght",
    "polaris",
    "POST",
    "/naming/v1/routings",
    "wieght",
    headers=POLARIS,
    body=[{"service": "polaris.svc", "inbounds": [], "wieght": 5}],
)
case(
    "polaris rate limit amount wieght",
    "polaris",
    "POST",
    "/naming/v1/ratelimits",
    "wieght",
    headers=POLARIS,
    body=[{**RULE, "amounts": [{"maxAmount": 10, "validDuration": "1s", "wieght": 1}]}],
)
case(
    "polaris rate limit method valu",
    "polaris",
    "POST",
    "/naming/v1/ratelimits",
    "valu",
    "value",
    headers=POLARIS,
    body=[{**RULE, "method": {"type": "EXACT", "valu": "/x"}}],
)
case(
    "polaris discover colour",
    "polaris",
    "POST",
    "/v1/Discover",
    "colour",
    headers=POLARIS,
    body={"type": 1, "service": {"name": "polaris.svc", "namespace": "default"}, "colour": "red"},
)
case(
    "polaris discover service bussiness",
    "polaris",
    "POST",
    "/v1/Discover",
    "bussiness",
    "business",
    headers=POLARIS,
    body={"type": 6, "service": {"namespace": "default", "bussiness": "shop"}},
)
case(
    "polaris discover colour in query",
    "polaris",
    "POST",
    "/v1/Discover?colour=red",
    "colour",
    headers=POLARIS,
    body={"type": 1, "service": {"name": "polaris.svc", "namespace": "default"}},
)
case(
    "instance register wieght",
    "instance",
    "POST",
    "/api/instance",
    "wieght",
    "weight",
    headers=INSTANCE,
    body={**NEW_INSTANCE, "ip": "10.0.0.7", "wieght": 5},
)
case(
    "instance register forse in query",
    "instance",
    "POST",
    "/api/instance?forse=true",
    "forse",
    headers=INSTANCE,
    body={**NEW_INSTANCE, "ip": "10.0.0.7"},
)
case(
    "instance beat colour",
    "instance",
    "PUT",
    "/api/instance/beat",
    "colour",
    headers=INSTANCE,
    body={**NEW_INSTANCE, "ip": "10.0.0.3", "colour": "red"},
)
case(
    "instance status forse",
    "instance",
    "PUT",
    "/api/instance/status",
    "forse",
    headers=INSTANCE,
    body={**NEW_INSTANCE, "ip": "10.0.0.3", "status": "DISABLE", "forse": True},
)
case(
    "instance deregister forse",
    "instance",
    "DELETE",
    "/api/instance",
    "forse",
    headers=INSTANCE,
    body={**NEW_INSTANCE, "ip": "10.0.0.3", "forse": True},
)
case(
    "instance list limt",
    "instance",
    "GET",
    "/api/instance/list",
    "limt",
    headers=INSTANCE,
    params={"serviceName": "demo.svc", "limt": "5"},
)
case(
    "instance get colour",
    "instance",
    "GET",
    "/api/instance",
    "colour",
    headers=INSTANCE,
    params={"serviceName": "demo.svc", "ip": "10.0.0.3", "port": 8080, "colour": "red"},
)


@pytest.mark.parametrize("dialect, method, path, kwargs, named, hint", CASES)
def test_an_unknown_parameter_is_refused_by_name_and_writes_nothing(
    gw, zk, prefix, dialect, method, path, kwargs, named, hint
):
    before = registry_state(zk, prefix)
    message = client_error(dialect, call(gw.url, method, path, **kwargs))
    assert named in message and "unknown" in message
    if hint:
        assert "did you mean %s?" % hint in message
    assert registry_state(zk, prefix) == before


def test_the_bilibili_sdk_registers_renews_polls_and_cancels_with_all_its_parameters(gw):
    """What bilibili/discovery's Go SDK (naming/client.go) sends: ``region``
    on every write, the registration as a form, polls with ``hostname``;
    and what the original's nodes send each other (``replication`` ...)."""
    sdk = {"region": "china", "zone": "sh001", "env": "prod", "hostname": "sdk-host-1", "key": OPS}
    register = {
        **sdk,
        "appid": "sdk.app",
        "addrs": ["grpc://10.1.0.1:9000", "http://10.1.0.1:8000"],
        "version": "v1.2",
        "status": "1",
        "metadata": json.dumps({"weight": "10", "cluster": "c1"}),
    }
    assert call(gw.url, "POST", "/discovery/register", form=register).json == {"code": 0, "message": "", "ttl": 1}
    peer = {
        "replication": "true",
        "from_zone": "false",
        "dirty_timestamp": "1525948301848680000",
        "latest_timestamp": "1525948301833084700",
    }
    assert call(gw.url, "POST", "/discovery/register", form={**register, **peer}).json["code"] == 0
    assert call(gw.url, "POST", "/discovery/renew", form={**sdk, "appid": "sdk.app"}).json["code"] == 0
    polls = {"env": "prod", "hostname": "sdk-host-1", "appid": "sdk.app", "latest_timestamp": "0", "key": OPS}
    answer = call(gw.url, "GET", "/discovery/polls", params=polls).json
    assert answer["code"] == 0
    (instance,) = answer["data"]["sdk.app"]["instances"]["sh001"]
    assert instance["version"] == "v1.2" and instance["metadata"] == {"weight": "10", "cluster": "c1"}
    assert call(gw.url, "POST", "/discovery/cancel", form={**sdk, "appid": "sdk.app", **peer}).json["code"] == 0


def test_the_nacos_client_parameters_are_accepted(gw):
    """What Nacos's own clients send to its instance API (namespaceId, groupName,
    clusterName, weight, enable, healthy, ephemeral, metadata, beat ...)."""
    nacos = {
        "namespaceId": "public",
        "groupName": "DEFAULT_GROUP",
        "clusterName": "DEFAULT",
        "weight": 1.0,
        "enable": True,
        "enabled": True,
        "healthy": True,
        "ephemeral": True,
        "metadata": '{"k":"v"}',
    }
    body = {**NEW_INSTANCE, "ip": "10.0.0.5", **nacos}
    assert call(gw.url, "POST", "/api/instance", headers=INSTANCE, body=body).text == "success"
    beat = json.dumps({"ip": "10.0.0.5", "port": 8080, "serviceName": "demo.svc", "cluster": "DEFAULT", "weight": 1.0})
    assert call(gw.url, "PUT", "/api/instance/beat", headers=INSTANCE, body={**body, "beat": beat}).text == "success"
    listing = {
        "serviceName": "demo.svc",
        "namespaceId": "public",
        "groupName": "DEFAULT_GROUP",
        "clusters": "",
        "clientIP": "10.0.0.9",
        "udpPort": "0",
        "healthyOnly": "false",
        "app": "demo",
    }
    answer = call(gw.url, "GET", "/api/instance/list", headers=INSTANCE, params=listing)
    assert answer.status == 200 and "10.0.0.5" in [i["ip"] for i in answer.json["instances"]]
    assert call(gw.url, "DELETE", "/api/instance?zkidc=qa", headers=INSTANCE, body=body).text == "success"


# Every field of Polaris's Service message (polarismesh/specification
# service.proto), as the console and SDKs send it.
FULL_SERVICE = {
    "name": "full.svc",
    "namespace": "default",
    "metadata": {"team": "a"},
    "ports": "8080",
    "business": "shop",
    "department": "sales",
    "cmdb_mod1": "m1",
    "cmdb_mod2": "m2",
    "cmdb_mod3": "m3",
    "comment": "order book",
    "owners": "polaris",
    "token": "t0k3n",
    "ctime": "2024-01-01 00:00:00",
    "mtime": "2024-01-01 00:00:00",
    "revision": "r1",
    "platform_id": "",
    "total_instance_count": 0,
    "healthy_instance_count": 0,
    "user_ids": ["u1"],
    "group_ids": ["g1"],
    "remove_user_ids": [],
    "remove_group_ids": [],
    "id": "abc",
    "editable": True,
    "export_to": ["*"],
    "sync_to_global_registry": False,
    "isolate_instance_count": 0,
    "service_status": "NORMAL",
    "deleteable": True,
    "service_type": "SERVICE_TYPE_MICROSERVICE",
    "extended_metadata": [],
}


def test_a_full_polaris_service_and_discover_request_are_accepted(gw):
    answer = call(gw.url, "POST", "/naming/v1/services", headers=POLARIS, body=[FULL_SERVICE])
    assert answer.json["code"] == 200000, answer.json
    (listed,) = call(gw.url, "GET", "/naming/v1/services", headers=POLARIS, params={"name": "full.svc"}).json[
        "services"
    ]
    assert (listed["business"], listed["comment"], listed["metadata"]) == ("shop", "order book", {"team": "a"})
    discover = {
        "type": "INSTANCE",
        "service": {**FULL_SERVICE, "revision": ""},
        "Filter": {"OnlyHealthyInstance": True},
        "Direction": "Caller",
    }
    answer = call(gw.url, "POST", "/v1/Discover", headers=POLARIS, body=discover)
    assert answer.json["code"] == 200000 and answer.json["service"]["name"] == "full.svc"
    rule = {
        **RULE,
        "service": "full.svc",
        "amountMode": "GLOBAL_TOTAL",
        "regex_combine": False,
        "report": {},
        "adjuster": {},
        "service_token": "t",
        "editable": True,
        "amounts": [{"maxAmount": 10, "validDuration": "1s", "precision": 1, "startAmount": 0, "minAmount": 0}],
    }
    assert call(gw.url, "POST", "/naming/v1/ratelimits", headers=POLARIS, body=[rule]).json["code"] == 200000
    answer = call(gw.url, "POST", "/naming/v1/services/delete?zkidc=qa", headers=POLARIS, body=[FULL_SERVICE])
    assert answer.json["code"] == 400205  # read as a delete: refused only because it has a rate limit now


def test_an_instance_write_sent_as_a_query_string_is_told_to_use_a_body(gw):
    answer = call(gw.url, "POST", "/api/instance", headers=INSTANCE, params={**NEW_INSTANCE, "ip": "10.0.0.7"})
    assert answer.status == 400 and "body must be a JSON object" in answer.text
