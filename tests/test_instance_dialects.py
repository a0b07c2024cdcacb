"""An instance of the instance API as the other dialects see it, and theirs as it sees them."""

from tests.conftest import OPS, eventually
from tests.instance_helpers import beat, deregister, get, listing, ok, read_members, register, set_status


def servers(client):
    answer = client.get("/serverlist", query_string={"destName": "serviceTest", "key": OPS})
    assert answer.json["code"] == 1, answer.json
    return [(s["host"], s["port"], s["status"]) for s in answer.json["servers"]]


def fetched(client, env="default"):
    """Discovery fetch of appid serviceTest: (zone, hostname, status) of each instance."""
    answer = client.get(
        "/discovery/fetch", query_string={"appid": "serviceTest", "env": env, "status": 3, "key": OPS}
    ).json
    if answer["code"] == -404:
        return []
    assert answer["code"] == 0, answer
    return sorted(
        (i["zone"], i["hostname"], i["status"]) for zone in answer["data"]["instances"].values() for i in zone
    )


def discovered(client, namespace="default"):
    """Polaris discover of serviceTest: (host, port, healthy, isolate) of each instance."""
    answer = client.post(
        "/v1/Discover",
        json={"type": 1, "service": {"name": "serviceTest", "namespace": namespace}},
        headers={"X-Polaris-Token": OPS},
    ).json
    assert answer["code"] == 200000, answer
    return sorted((i["host"], i["port"], i["healthy"], i["isolate"]) for i in answer["instances"])


def test_admin_serverlist_shows_the_instance(client):
    ok(register(client))
    assert servers(client) == [("127.0.0.1", 8080, "ALIVE")]
    ok(set_status(client, "DISABLE"))
    assert servers(client) == [("127.0.0.1", 8080, "STOPPED")]
    ok(set_status(client, "UN_HEALTHY"))
    assert servers(client) == [("127.0.0.1", 8080, "DEAD")]
    ok(deregister(client))
    assert servers(client) == []


def test_servers_added_by_admin_show_in_the_instance_list(client):
    client.post("/addservice", query_string={"destName": "serviceTest", "key": OPS})
    client.post(
        "/addserver", query_string={"destName": "serviceTest", "key": OPS, "serverHost": "10.1.1.1", "serverPort": 80}
    )
    ok(register(client))
    shown = [(i["instanceId"], i["status"]) for i in listing(client).json["instances"]]
    assert shown == [
        ("DEFAULT_CLUSTER#serviceTest@10.1.1.1:80", "HEALTHY"),
        ("DEFAULT_CLUSTER#serviceTest@127.0.0.1:8080", "HEALTHY"),
    ]


def test_discovery_fetch_shows_the_instance_in_env_namespace_and_zone_cluster(client):
    ok(register(client))
    ok(register(client, cluster="SH", port=9090))
    assert fetched(client) == [("DEFAULT_CLUSTER", "127.0.0.1:8080", 1), ("SH", "127.0.0.1:9090", 1)]
    assert fetched(client, "prod") == []
    ok(set_status(client, "DISABLE"))
    assert fetched(client) == [("DEFAULT_CLUSTER", "127.0.0.1:8080", 2), ("SH", "127.0.0.1:9090", 1)]
    ok(deregister(client))
    assert fetched(client) == [("SH", "127.0.0.1:9090", 1)]


def test_discovery_instances_show_in_the_instance_list(client):
    answer = client.post(
        "/discovery/register",
        data={
            "zone": "sh001",
            "env": "uat",
            "appid": "serviceTest",
            "hostname": "host-1",
            "addrs": "http://10.2.2.2:8000",
            "status": 1,
            "key": OPS,
        },
    ).json
    assert answer["code"] == 0, answer
    ok(register(client))
    shown = [(i["instanceId"], i["status"]) for i in listing(client).json["instances"]]
    assert shown == [
        ("DEFAULT_CLUSTER#serviceTest@10.2.2.2:8000", "HEALTHY"),
        ("DEFAULT_CLUSTER#serviceTest@127.0.0.1:8080", "HEALTHY"),
    ]
    assert get(client, ip="10.2.2.2", port=8000).json["status"] == "HEALTHY"
    ok(register(client, ip="10.2.2.2", port=8000))  # a different identity: its own member
    assert len(listing(client).json["instances"]) == 3


def test_polaris_discover_shows_the_instance_and_its_status(client):
    ok(register(client))
    assert discovered(client) == [("127.0.0.1", 8080, True, False)]
    ok(set_status(client, "DISABLE"))
    assert discovered(client) == [("127.0.0.1", 8080, True, True)]
    ok(set_status(client, "UN_HEALTHY"))
    assert discovered(client) == [("127.0.0.1", 8080, False, False)]


def test_a_service_registered_in_a_namespace_is_in_that_polaris_namespace(client):
    ok(register(client, namespace="Test"))
    assert discovered(client, "Test") == [("127.0.0.1", 8080, True, False)]
    assert (
        listing(client, namespace="Test").json["instances"][0]["instanceId"]
        == "DEFAULT_CLUSTER#serviceTest@127.0.0.1:8080"
    )


def test_polaris_services_take_instances_of_their_namespace(client):
    created = client.post(
        "/naming/v1/services", json=[{"name": "serviceTest", "namespace": "Test"}], headers={"X-Polaris-Token": OPS}
    )
    assert created.json["code"] == 200000, created.json
    ok(register(client, namespace="Test", cluster="BJ"))
    eventually(lambda: discovered(client, "Test"))
    assert discovered(client, "Test") == [("127.0.0.1", 8080, True, False)]
    assert [i["cluster"] for i in listing(client, namespace="Test").json["instances"]] == ["BJ"]


def polaris_instances(client):
    answer = client.post(
        "/v1/Discover", json={"type": 1, "service": {"name": "serviceTest"}}, headers={"X-Polaris-Token": OPS}
    )
    return answer.json["instances"]


def fetched_instances(client):
    answer = client.get(
        "/discovery/fetch", query_string={"appid": "serviceTest", "env": "default", "status": 3, "key": OPS}
    )
    return [i for zone in answer.json["data"]["instances"].values() for i in zone]


def test_weight_metadata_and_enabled_are_kept_and_shown_by_every_dialect(client, zk, services_path):
    ok(register(client, weight=5, metadata={"version": "v2", "slots": 3}, enabled=True))
    shown = get(client).json
    assert (shown["weight"], shown["enabled"], shown["metadata"]) == (5, True, {"version": "v2", "slots": "3"})
    (doc,) = read_members(zk, services_path + "/serviceTest").values()
    published = {"version": "v2", "slots": "3", "weight": "5", "enabled": "true"}
    assert (doc["status"], doc["metadata"]) == ("ALIVE", published)  # ServerSet metadata values are strings
    (polaris,) = polaris_instances(client)
    assert (polaris["weight"], polaris["metadata"], polaris["isolate"]) == (5, published, False)
    (fetched,) = fetched_instances(client)
    assert (fetched["metadata"], fetched["status"]) == (published, 1)
    ok(set_status(client, "DISABLE"))  # a status change keeps them
    assert {k: get(client).json[k] for k in ("weight", "metadata")} == {
        "weight": 5,
        "metadata": {"version": "v2", "slots": "3"},
    }
    ok(set_status(client, "HEALTHY"))
    ok(register(client, weight=2.5, metadata='{"version": "v3"}'))  # registering again replaces them
    shown = get(client).json
    assert (shown["weight"], shown["metadata"]) == (2.5, {"version": "v3"})
    assert polaris_instances(client)[0]["weight"] == 2


def test_an_instance_registered_disabled_is_published_stopped_and_still_beats(client, zk, services_path):
    ok(register(client, enabled=False))
    (doc,) = read_members(zk, services_path + "/serviceTest").values()
    assert (doc["status"], doc["metadata"]) == ("STOPPED", {"enabled": "false"})  # not routed
    shown = get(client).json
    assert (shown["status"], shown["enabled"]) == ("DISABLE", False)
    assert discovered(client) == [("127.0.0.1", 8080, True, True)]
    assert fetched(client) == [("DEFAULT_CLUSTER", "127.0.0.1:8080", 2)]
    ok(beat(client))  # it renews its lease like any instance, and stays out of traffic
    assert list(read_members(zk, services_path + "/serviceTest").values()) == [doc]
    ok(register(client, enabled=True))
    assert (get(client).json["status"], get(client).json["enabled"]) == ("HEALTHY", True)
    assert [d["status"] for d in read_members(zk, services_path + "/serviceTest").values()] == ["ALIVE"]
