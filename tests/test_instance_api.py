"""The instance API (seed 003): every endpoint, default, filter and error, on a real ZooKeeper."""

import json

import pytest

from gateway import create_app
from gateway.config import ConfigError
from tests.conftest import KEYS, OPS, eventually, make_config
from tests.instance_helpers import (
    INSTANCE,
    beat,
    deregister,
    get,
    headers,
    listing,
    ok,
    read_members,
    register,
    set_status,
    status,
)

SEED_INSTANCE = {
    "instanceId": "DEFAULT_CLUSTER#serviceTest@127.0.0.1:8080",
    "cluster": "DEFAULT_CLUSTER",
    "serviceName": "serviceTest",
    "ip": "127.0.0.1",
    "port": 8080,
    "status": "HEALTHY",
    "weight": 1.0,  # Nacos's default; what a registration gives is kept (see below)
    "enabled": True,
    "metadata": {},
}


def members(zk, services_path, service="serviceTest"):
    return read_members(zk, "%s/%s" % (services_path, service))


# -- the seed's examples ----------------------------------------------------------


def test_seed_examples_register_get_list_beat_status_deregister(client):
    ok(register(client, namespace="default", cluster="DEFAULT_CLUSTER"))
    answer = client.get("/api/instance/list?namespace=&clusters=&serviceName=serviceTest&healthy=", headers=headers())
    assert answer.status_code == 200
    assert answer.json == {"serviceName": "serviceTest", "clusters": ["DEFAULT_CLUSTER"], "instances": [SEED_INSTANCE]}
    assert list(answer.json) == ["serviceName", "clusters", "instances"]
    assert list(answer.json["instances"][0]) == list(SEED_INSTANCE)
    answer = client.get(
        "/api/instance?namespace=&cluster=&serviceName=serviceTest&ip=127.0.0.1&port=8080", headers=headers()
    )
    assert answer.json == SEED_INSTANCE
    ok(beat(client, namespace="default", cluster="DEFAULT_CLUSTER"))
    ok(set_status(client, "DISABLE", namespace="default", cluster="DEFAULT_CLUSTER"))
    assert status(client) == "DISABLE"
    ok(deregister(client, namespace="default", cluster="DEFAULT_CLUSTER"))
    assert get(client).status_code == 404


def test_register_writes_an_ephemeral_serverset_member_and_creates_the_service(client, zk, services_path):
    assert zk.exists(services_path + "/serviceTest") is None
    ok(register(client))
    found = members(zk, services_path)
    assert len(found) == 1
    name, doc = next(iter(found.items()))
    assert name.startswith("member_")
    assert zk.exists("%s/serviceTest/%s" % (services_path, name)).ephemeralOwner != 0
    assert doc["serviceEndpoint"] == {"host": "127.0.0.1", "port": 8080}
    assert doc["additionalEndpoints"] == {}
    assert doc["status"] == "ALIVE"
    instance = doc["instance"]
    assert {
        k: instance[k] for k in ("namespace", "cluster", "serviceName", "ip", "port", "instanceId", "registeredBy")
    } == {
        "namespace": "default",
        "cluster": "DEFAULT_CLUSTER",
        "serviceName": "serviceTest",
        "ip": "127.0.0.1",
        "port": 8080,
        "instanceId": "DEFAULT_CLUSTER#serviceTest@127.0.0.1:8080",
        "registeredBy": "instance",
    }
    assert (instance["env"], instance["zone"], instance["hostname"]) == ("default", "DEFAULT_CLUSTER", "127.0.0.1:8080")
    assert instance["policy"]["ttl"] == 20 and instance["policy"]["unhealthy_after"] == 10
    service_doc = json.loads(zk.get(services_path + "/serviceTest")[0])
    assert service_doc == {"namespace": "default"}


def test_registering_again_updates_and_never_duplicates(client, zk, services_path):
    ok(register(client))
    first = members(zk, services_path)
    ok(register(client))
    assert members(zk, services_path) == first  # nothing changed: nothing rewritten
    ok(set_status(client, "UN_HEALTHY"))
    ok(register(client))  # a registration proves the instance is alive
    after = members(zk, services_path)
    assert len(after) == 1 and set(after) != set(first)
    assert next(iter(after.values()))["status"] == "ALIVE"
    assert [i["status"] for i in listing(client).json["instances"]] == ["HEALTHY"]


def test_registering_again_keeps_a_disable_set_by_ops(client, zk, services_path):
    ok(register(client))
    ok(set_status(client, "DISABLE"))
    ok(register(client))
    assert status(client) == "DISABLE"
    assert [doc["status"] for doc in members(zk, services_path).values()] == ["STOPPED"]


def test_register_into_an_existing_service_keeps_its_data(client, zk, services_path):
    zk.create(services_path + "/serviceTest", b'{"business": "maps"}')
    ok(register(client))
    assert json.loads(zk.get(services_path + "/serviceTest")[0]) == {"business": "maps"}


def test_distinct_identities_are_distinct_instances(client, zk, services_path):
    ok(register(client))
    ok(register(client, port=8081))
    ok(register(client, ip="127.0.0.2"))
    ok(register(client, cluster="BJ"))
    assert len(members(zk, services_path)) == 4
    ids = [i["instanceId"] for i in listing(client).json["instances"]]
    assert ids == [
        "BJ#serviceTest@127.0.0.1:8080",
        "DEFAULT_CLUSTER#serviceTest@127.0.0.1:8080",
        "DEFAULT_CLUSTER#serviceTest@127.0.0.1:8081",
        "DEFAULT_CLUSTER#serviceTest@127.0.0.2:8080",
    ]
    assert get(client, cluster="BJ").json["instanceId"] == "BJ#serviceTest@127.0.0.1:8080"


def test_an_instance_is_in_its_services_namespace_or_refused(client, zk, services_path):
    """Service names are unique per zkidc and the namespace is the service's: a write naming
    another namespace is a 400 that writes nothing, a read in another namespace finds nothing."""
    ok(register(client))  # creates serviceTest in namespace default
    before = read_members(zk, services_path + "/serviceTest")
    for call in (register, beat, deregister, lambda c, **f: set_status(c, "DISABLE", **f)):
        answer = call(client, namespace="prod")
        assert answer.status_code == 400, answer.get_data(as_text=True)
        assert answer.get_data(as_text=True) == (
            "service serviceTest is in namespace default, not prod (service names are unique per zkidc)"
        )
    assert read_members(zk, services_path + "/serviceTest") == before
    assert listing(client, namespace="prod").json["instances"] == []
    assert get(client, namespace="prod").status_code == 404
    # a service created in prod takes instances in prod only, whoever made it
    ok(register(client, serviceName="pay", namespace="prod"))
    assert json.loads(zk.get(services_path + "/pay")[0]) == {"namespace": "prod"}
    assert register(client, serviceName="pay").get_data(as_text=True) == (
        "service pay is in namespace prod, not default (service names are unique per zkidc)"
    )
    client.post("/addservice", query_string={"destName": "admin.svc", "key": OPS})  # no attributes: default
    assert register(client, serviceName="admin.svc", namespace="prod").status_code == 400
    ok(register(client, serviceName="admin.svc"))


def test_ipv6_addresses_are_one_identity_whatever_the_spelling(client, zk, services_path):
    ok(register(client, ip="fe80:0:0::0001"))
    ok(register(client, ip="fe80::1"))
    assert len(members(zk, services_path)) == 1
    assert get(client, ip="fe80::0:1").json["instanceId"] == "DEFAULT_CLUSTER#serviceTest@fe80::1:8080"
    (doc,) = members(zk, services_path).values()
    assert (doc["serviceEndpoint"]["host"], doc["instance"]["hostname"]) == ("fe80::1", "[fe80::1]:8080")


# -- list filters -------------------------------------------------------------------


def test_list_of_an_unknown_service_is_empty(client):
    answer = listing(client, serviceName="nobody")
    assert answer.status_code == 200
    assert answer.json == {"serviceName": "nobody", "clusters": [], "instances": []}


def test_list_filters_by_clusters_and_health(client):
    ok(register(client, cluster="A"))
    ok(register(client, cluster="B", port=8081))
    ok(register(client, cluster="C", port=8082))
    ok(set_status(client, "UN_HEALTHY", cluster="B", port=8081))
    ok(set_status(client, "DISABLE", cluster="C", port=8082))

    def ids(**query):
        answer = listing(client, **query)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.json["clusters"], [(i["cluster"], i["status"]) for i in answer.json["instances"]]

    everything = (["A", "B", "C"], [("A", "HEALTHY"), ("B", "UN_HEALTHY"), ("C", "DISABLE")])
    assert ids() == everything
    assert ids(healthy="") == everything
    assert ids(clusters="") == everything
    assert ids(clusters="A") == (["A"], [("A", "HEALTHY")])
    assert ids(clusters="A, C,,") == (["A", "C"], [("A", "HEALTHY"), ("C", "DISABLE")])
    assert ids(clusters="Z") == ([], [])
    assert ids(healthy="true") == (["A"], [("A", "HEALTHY")])
    assert ids(healthy="false") == (["B", "C"], [("B", "UN_HEALTHY"), ("C", "DISABLE")])
    assert ids(healthy="false", clusters="C") == (["C"], [("C", "DISABLE")])
    assert ids(namespace="other") == ([], [])


# -- errors ---------------------------------------------------------------------------


def text(answer):
    assert answer.mimetype == "text/plain", answer.data
    return answer.status_code, answer.get_data(as_text=True)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: get(c),
        lambda c: beat(c),
        lambda c: set_status(c, "HEALTHY"),
        lambda c: deregister(c),
    ],
    ids=["get", "beat", "status", "deregister"],
)
def test_a_missing_instance_is_a_clear_404(client, call):
    assert text(call(client)) == (
        404,
        "instance DEFAULT_CLUSTER#serviceTest@127.0.0.1:8080 (namespace default) is not registered"
        + ("" if call(client).request.method == "GET" else "; register it first"),
    )
    ok(register(client, port=9999))  # the service exists, the instance does not
    assert call(client).status_code == 404


def test_writes_to_a_member_published_by_someone_else_say_so(client, zk, services_path):
    data = b'{"serviceEndpoint":{"host":"127.0.0.1","port":8080},"additionalEndpoints":{},"status":"ALIVE"}'
    zk.create(services_path + "/serviceTest/member_", data, sequence=True, makepath=True)
    assert eventually(lambda: get(client).json) == SEED_INSTANCE
    for answer in (beat(client), set_status(client, "DISABLE"), deregister(client)):
        code, message = text(answer)
        assert code == 404 and "was not registered through /api/instance" in message
    assert len(zk.get_children(services_path + "/serviceTest")) == 1


@pytest.mark.parametrize(
    "body, message",
    [
        ({"serviceName": ""}, "Param 'serviceName' is required"),
        ({"serviceName": None}, "Param 'serviceName' is required"),
        (
            {"serviceName": "a/b"},
            "Param 'serviceName' must be 1..128 characters of [0-9A-Za-z._:-], not '.' or '..', not 'a/b'",
        ),
        (
            {"serviceName": ".."},
            "Param 'serviceName' must be 1..128 characters of [0-9A-Za-z._:-], not '.' or '..', not '..'",
        ),
        ({"serviceName": 7}, "Param 'serviceName' must be a string"),
        ({"ip": None}, "Param 'ip' is required"),
        (
            {"ip": "host_1.example"},
            "Param 'ip' must be an IP address or a host name (RFC 1123: labels of 1..63"
            " letters, digits and '-', not starting or ending with '-'), not 'host_1.example'",
        ),
        ({"ip": "256.1.1.1"}, "Param 'ip' must be an IPv4 address, not '256.1.1.1'"),
        ({"ip": 127}, "Param 'ip' must be an IP address or a host name"),
        ({"port": None}, "Param 'port' is required"),
        ({"port": 0}, "Param 'port' must be between 1 and 65535"),
        ({"port": 65536}, "Param 'port' must be between 1 and 65535"),
        ({"port": "8080"}, "Param 'port' must be an integer"),
        ({"port": 80.5}, "Param 'port' must be an integer"),
        ({"port": True}, "Param 'port' must be an integer"),
        (
            {"namespace": "a b"},
            "Param 'namespace' must be 1..128 characters of [0-9A-Za-z._:-], not '.' or '..', not 'a b'",
        ),
        (
            {"cluster": "A,B"},
            "Param 'cluster' must be 1..128 characters of [0-9A-Za-z._:-], not '.' or '..', not 'A,B'",
        ),
        ({"cluster": ["A"]}, "Param 'cluster' must be a string"),
        ({"zkidc": "nowhere"}, "unknown zkidc 'nowhere'; configured: g1, qa, yz"),
        ({"key": 12345}, "Param 'key' must be a string"),
    ],
)
def test_register_validation(client, zk, services_path, body, message):
    answer = client.post("/api/instance", json={**INSTANCE, **body}, headers=headers())
    assert text(answer) == (400, message)
    assert zk.get_children(services_path) == []


def test_required_parameters_in_the_documented_order(client):
    def answer(body):
        return text(client.post("/api/instance", json=body, headers=headers()))

    assert answer({}) == (400, "Param 'serviceName' is required")
    assert answer({"serviceName": "serviceTest"}) == (400, "Param 'ip' is required")
    assert answer({"serviceName": "serviceTest", "ip": "127.0.0.1"}) == (400, "Param 'port' is required")
    assert answer({"port": 0, "ip": "x"}) == (400, "Param 'serviceName' is required")


@pytest.mark.parametrize(
    "data, message",
    [
        ("", "the request body must be a JSON object with serviceName, ip and port"),
        ("[1, 2]", "the request body must be a JSON object with serviceName, ip and port"),
        ("serviceName=serviceTest", "request body is not valid JSON"),
        ('{"serviceName": ', "request body is not valid JSON"),
        (b"\xff\xfe", "request body is not valid JSON"),
    ],
)
@pytest.mark.parametrize(
    "path, method",
    [
        ("/api/instance", "POST"),
        ("/api/instance", "DELETE"),
        ("/api/instance/beat", "PUT"),
        ("/api/instance/status", "PUT"),
    ],
)
def test_bodies_that_are_not_a_json_object(client, data, message, path, method):
    answer = client.open(path, method=method, data=data, content_type="application/json", headers=headers())
    assert text(answer) == (400, message)


@pytest.mark.parametrize(
    "value, message",
    [
        (None, "Param 'status' is required"),
        ("UNKNOWN", "Param 'status' must be one of HEALTHY, UN_HEALTHY, DISABLE, not 'UNKNOWN'"),
        ("healthy", "Param 'status' must be one of HEALTHY, UN_HEALTHY, DISABLE, not 'healthy'"),
        (1, "Param 'status' must be a string"),
    ],
)
def test_status_must_be_one_of_three(client, zk, services_path, value, message):
    ok(register(client))
    before = members(zk, services_path)
    answer = client.put("/api/instance/status", json={**INSTANCE, "status": value}, headers=headers())
    assert text(answer) == (400, message)
    assert members(zk, services_path) == before


@pytest.mark.parametrize(
    "query, message",
    [
        ({"serviceName": ""}, "Param 'serviceName' is required"),
        ({"ip": "1.2.3"}, "Param 'ip' must be an IPv4 address, not '1.2.3'"),
        ({"port": "http"}, "Param 'port' must be an integer"),
        ({"port": "99999"}, "Param 'port' must be between 1 and 65535"),
    ],
)
def test_get_validation(client, query, message):
    assert text(get(client, **query)) == (400, message)


@pytest.mark.parametrize(
    "query, message",
    [
        ({"serviceName": ""}, "Param 'serviceName' is required"),
        ({"healthy": "maybe"}, "Param 'healthy' must be true, false or empty"),
        (
            {"clusters": "A,B/C"},
            "Param 'clusters' must be 1..128 characters of [0-9A-Za-z._:-], not '.' or '..', not 'B/C'",
        ),
        (
            {"namespace": "x" * 129},
            "Param 'namespace' must be 1..128 characters of [0-9A-Za-z._:-], not '.' or '..', not '%s'" % ("x" * 129),
        ),
    ],
)
def test_list_validation(client, query, message):
    assert text(listing(client, **query)) == (400, message)


def test_get_takes_the_port_as_text_in_the_query(client):
    ok(register(client))
    assert get(client, port="8080").json == SEED_INSTANCE
    assert get(client, ip=" 127.0.0.1").json == SEED_INSTANCE


def test_wrong_methods_and_unknown_paths_answer_plain_text(client):
    code, message = text(client.post("/api/instance/list", headers=headers()))
    assert code == 405 and "use GET" in message
    code, message = text(client.get("/api/instance/beat", headers=headers()))
    assert code == 405 and "use PUT" in message
    code, _ = text(client.get("/api/instance/nothing", headers=headers()))
    assert code == 404


def test_trailing_slashes_are_accepted(client):
    ok(client.post("/api/instance/", json=INSTANCE, headers=headers()))
    assert client.get("/api/instance/list/", query_string={"serviceName": "serviceTest"}, headers=headers()).json[
        "instances"
    ] == [SEED_INSTANCE]


def test_unknown_fields_are_ignored(client):
    ok(register(client, weight=1.0, ephemeral=True))
    assert get(client).json == SEED_INSTANCE


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"weight": -1}, "Param 'weight' must be between 0 and 10000"),
        ({"weight": 10001}, "Param 'weight' must be between 0 and 10000"),
        ({"weight": 10**400}, "Param 'weight' must be between 0 and 10000"),
        ({"weight": "heavy"}, "Param 'weight' must be a number"),
        ({"weight": True}, "Param 'weight' must be a number"),
        ({"enabled": "maybe"}, "Param 'enabled' must be true or false"),
        ({"metadata": [1]}, "Param 'metadata' must be a JSON object"),
        ({"metadata": "{"}, "Param 'metadata' is not valid JSON"),
    ],
)
def test_bad_weight_enabled_or_metadata_is_refused(client, zk, services_path, fields, message):
    answer = register(client, **fields)
    assert (answer.status_code, answer.get_data(as_text=True)) == (400, message)
    assert members(zk, services_path) == {}


# -- foreign members --------------------------------------------------------------------


def test_members_of_other_writers_show_as_well_as_they_can(client, zk, services_path):
    path = services_path + "/serviceTest"
    zk.create(path, b"not json at all", makepath=True)

    def member(data):
        zk.create(path + "/member_", data, sequence=True)

    member(b'{"serviceEndpoint":{"host":"10.0.0.1","port":80},"additionalEndpoints":{},"status":"ALIVE"}')
    member(b'{"serviceEndpoint":{"host":"10.0.0.2","port":81},"additionalEndpoints":{},"status":"STOPPED"}')
    member(b'{"serviceEndpoint":{"host":"10.0.0.3","port":82},"status":"WARNING","instance":{"cluster":"SH"}}')
    member(b'{"serviceEndpoint":{"host":"api.example","port":"83"},"instance":{"cluster":7,"namespace":[]}}')
    member(b"10.0.0.5:85")
    member(b"\xff\x00garbage")
    member(b'{"serviceEndpoint":{"host":"10.0.0.6"}}')
    member(b"[]")
    member(b"")
    zk.create(path + "/lock", b"")  # not a member at all
    eventually(lambda: len(listing(client).json["instances"]) == 5)
    answer = listing(client)
    assert answer.status_code == 200
    assert answer.json["clusters"] == ["DEFAULT_CLUSTER", "SH"]
    assert [(i["instanceId"], i["status"]) for i in answer.json["instances"]] == [
        ("DEFAULT_CLUSTER#serviceTest@10.0.0.1:80", "HEALTHY"),
        ("DEFAULT_CLUSTER#serviceTest@10.0.0.2:81", "DISABLE"),
        # ServerSet readers route to neither: plain text; a string port and no status
        ("DEFAULT_CLUSTER#serviceTest@10.0.0.5:85", "UN_HEALTHY"),
        ("DEFAULT_CLUSTER#serviceTest@api.example:83", "UN_HEALTHY"),
        ("SH#serviceTest@10.0.0.3:82", "UN_HEALTHY"),
    ]
    assert get(client, ip="10.0.0.3", port=82, cluster="SH").json["status"] == "UN_HEALTHY"
    assert get(client, ip="10.0.0.2", port=81).json["status"] == "DISABLE"
    ok(register(client))  # the odd neighbours do not get in the way of a registration
    assert len(listing(client).json["instances"]) == 6


def test_members_without_a_namespace_are_in_the_services_namespace(client, zk, services_path):
    path = services_path + "/serviceTest"
    zk.create(path, b'{"namespace": "prod"}', makepath=True)
    zk.create(path + "/member_", b'{"serviceEndpoint":{"host":"10.0.0.1","port":80},"status":"ALIVE"}', sequence=True)
    eventually(lambda: listing(client, namespace="prod").json["instances"])
    assert listing(client).json["instances"] == []
    assert [i["ip"] for i in listing(client, namespace="prod").json["instances"]] == ["10.0.0.1"]
    assert get(client, namespace="prod", ip="10.0.0.1", port=80).status_code == 200


# -- keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda c, key: listing(c, key=key),
        lambda c, key: get(c, key=key),
        lambda c, key: register(c, key=key),
        lambda c, key: beat(c, key=key),
        lambda c, key: set_status(c, "DISABLE", key=key),
        lambda c, key: deregister(c, key=key),
    ],
    ids=["list", "get", "register", "beat", "status", "deregister"],
)
def test_every_endpoint_needs_a_valid_key(client, zk, services_path, call):
    assert text(call(client, None)) == (401, "a valid key is required")
    assert text(call(client, "wrong-key-000000")) == (401, "unknown key")
    assert zk.get_children(services_path) == []


def test_rights_per_endpoint(client):
    reader, writer = KEYS["reader"]["secret"], KEYS["writer"]["secret"]
    assert text(register(client, key=reader)) == (403, "key reader may not write")
    ok(register(client, key=writer))
    ok(beat(client, key=writer))
    ok(set_status(client, "DISABLE", key=writer))
    assert listing(client, key=reader).status_code == 200
    assert get(client, key=reader).status_code == 200
    for call in (beat, deregister):
        assert text(call(client, key=reader)) == (403, "key reader may not write")
    ok(deregister(client, key=writer))  # an application's own key takes its instance out


def test_services_are_checked_against_the_keys_globs(client):
    scoped = KEYS["ip2city"]["secret"]
    ok(register(client, key=scoped, serviceName="ip2city.http"))
    assert get(client, key=scoped, serviceName="ip2city.http").status_code == 200
    for answer in (
        register(client, key=scoped),
        beat(client, key=scoped),
        set_status(client, "HEALTHY", key=scoped),
        deregister(client, key=scoped),
        get(client, key=scoped),
        listing(client, key=scoped),
    ):
        assert text(answer) == (403, "key ip2city may not touch service serviceTest")


def test_the_key_may_come_as_bearer_token_or_parameter(client):
    ok(client.post("/api/instance", json={**INSTANCE, "key": OPS}))
    ok(client.put("/api/instance/beat", json=INSTANCE, query_string={"key": OPS}))
    assert client.get("/api/instance", query_string={**INSTANCE, "key": OPS}).status_code == 200
    answer = client.get(
        "/api/instance/list", query_string={"serviceName": "serviceTest"}, headers={"Authorization": "Bearer " + OPS}
    )
    assert answer.status_code == 200


def test_zkidc_parameter_and_header_pick_the_cluster(client, zk, chroot):
    ok(register(client, zkidc="yz"))
    assert zk.get_children("%s/yz/soa/services/serviceTest" % chroot)
    assert zk.get_children("%s/qa/soa/services" % chroot) == []
    assert listing(client).json["instances"] == []
    assert len(listing(client, zkidc="yz").json["instances"]) == 1
    answer = client.get("/api/instance", query_string=INSTANCE, headers={**headers(), "X-Zkidc": "yz"})
    assert answer.json == SEED_INSTANCE


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "section",
    [{"beat_interval": "soon"}, {"remove_after": 0}, {"unhealthy_after": -1}, {"ttl": 3}],
)
def test_bad_instance_timing_is_refused_with_the_config(zk_server, chroot, section):
    with pytest.raises(ConfigError, match=r"^\[instance\]"):
        make_config(zk_server.hosts, chroot, sections={"instance": section})


def test_instance_timing_is_published_in_the_policy(zk_server, chroot, zk):
    config = make_config(
        zk_server.hosts, chroot, sections={"instance": {"beat_interval": 2, "unhealthy_after": 6, "remove_after": 12}}
    )
    app = create_app(config)
    try:
        ok(register(app.test_client()))
        path = "%s/qa/soa/services/serviceTest" % chroot
        doc = json.loads(zk.get(path + "/" + zk.get_children(path)[0])[0])
        assert doc["instance"]["policy"] == {
            "ttl": 12.0,
            "unhealthy_after": 6.0,
            "renew_interval": 2.0,
            "self_preservation": False,
        }
    finally:
        app.extensions["soa"].registry.stop()
