"""Instance API heartbeats, lapses, DISABLE, several replicas, and what plain ZooKeeper readers see."""

import json
import time
import urllib.error
import urllib.request

import pytest

from gateway import create_app
from tests.conftest import OPS, eventually, make_config
from tests.instance_helpers import INSTANCE, beat, deregister, listing, ok, read_members, register, set_status, status
from zk.instances import identity_key

FAST = {"eviction": {"interval": 0.3}, "instance": {"beat_interval": 0.3, "unhealthy_after": 1, "remove_after": 2}}
KEY = identity_key("default", "DEFAULT_CLUSTER", "serviceTest", "127.0.0.1", 8080)


@pytest.fixture
def timed(zk_server, chroot):
    """A client of a gateway with short timings; ``timed(remove_after=4)`` for others."""
    apps = []

    def make(**instance):
        sections = {**FAST, "instance": {**FAST["instance"], **instance}}
        app = create_app(make_config(zk_server.hosts, chroot, sections=sections))
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        app.extensions["soa"].registry.stop()


def members(zk, services_path):
    """name -> ServerSet status of every member, as a plain ZooKeeper client sees them."""
    return {name: doc["status"] for name, doc in read_members(zk, services_path + "/serviceTest").items()}


def lease_path(chroot):
    return "%s/qa/soa/leases/serviceTest/%s" % (chroot, KEY)


def test_a_silent_instance_turns_unhealthy_then_is_removed(timed, zk, services_path, chroot):
    client = timed()
    ok(register(client))
    assert zk.exists(lease_path(chroot))
    started = time.monotonic()
    eventually(lambda: status(client) == "UN_HEALTHY", timeout=5)
    assert time.monotonic() - started > 0.9
    assert list(members(zk, services_path).values()) == ["DEAD"]
    assert [i["status"] for i in listing(client, healthy="false").json["instances"]] == ["UN_HEALTHY"]
    assert listing(client, healthy="true").json["instances"] == []
    eventually(lambda: status(client) == 404, timeout=5)
    assert time.monotonic() - started > 1.9
    assert members(zk, services_path) == {}
    assert zk.exists(lease_path(chroot)) is None
    assert listing(client).json == {"serviceName": "serviceTest", "clusters": [], "instances": []}
    answer = beat(client)  # its client learns that it has to register again
    assert answer.status_code == 404 and answer.get_data(as_text=True).endswith("is not registered; register it first")
    ok(register(client))
    assert status(client) == "HEALTHY"


def test_beats_keep_an_instance_healthy_past_remove_after(timed, zk, services_path):
    client = timed()
    ok(register(client))
    names = set(members(zk, services_path))
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:
        ok(beat(client))
        assert status(client) == "HEALTHY"
        time.sleep(0.3)
    assert set(members(zk, services_path)) == names  # beats never rewrite the member


def test_a_beat_after_unhealthy_makes_it_healthy_again(timed, zk, services_path):
    client = timed(remove_after=6)
    ok(register(client))
    eventually(lambda: status(client) == "UN_HEALTHY", timeout=5)
    dead = members(zk, services_path)
    ok(beat(client))
    assert status(client) == "HEALTHY"
    alive = members(zk, services_path)
    assert list(alive.values()) == ["ALIVE"] and set(alive) != set(dead)
    eventually(lambda: status(client) == "UN_HEALTHY", timeout=5)  # and lapses again without beats


def test_a_beat_after_unhealthy_set_by_hand_makes_it_healthy_again(client, zk, services_path):
    ok(register(client))
    ok(set_status(client, "UN_HEALTHY"))
    assert list(members(zk, services_path).values()) == ["DEAD"]
    ok(beat(client))
    assert status(client) == "HEALTHY"
    assert list(members(zk, services_path).values()) == ["ALIVE"]


def test_a_disabled_instance_never_expires_and_ignores_beats(timed, zk, services_path, chroot):
    client = timed()
    ok(register(client))
    ok(set_status(client, "DISABLE"))
    disabled = members(zk, services_path)
    assert list(disabled.values()) == ["STOPPED"]
    time.sleep(3.5)  # well past remove_after (2 s) without a beat
    assert status(client) == "DISABLE"
    assert members(zk, services_path) == disabled
    assert zk.exists(lease_path(chroot))
    ok(beat(client))  # ignored: still DISABLE, nothing rewritten
    assert status(client) == "DISABLE"
    assert members(zk, services_path) == disabled
    ok(set_status(client, "HEALTHY"))  # the timed policy is back, the silence starts now
    assert status(client) == "HEALTHY"
    time.sleep(0.5)
    assert status(client) == "HEALTHY"
    eventually(lambda: status(client) == "UN_HEALTHY", timeout=5)
    eventually(lambda: status(client) == 404, timeout=5)


def test_an_instance_registered_disabled_still_lapses_but_is_never_published_dead(timed, zk, services_path, chroot):
    """enabled=false keeps an instance out of traffic (STOPPED), not out of the
    lease rules: silent, it is removed after remove_after like a HEALTHY one,
    and it is never published DEAD on the way."""
    client = timed()
    ok(register(client, enabled=False))
    started = time.monotonic()
    seen = set()

    def removed():
        seen.update(members(zk, services_path).values())
        return status(client) == 404

    eventually(removed, timeout=6)
    assert time.monotonic() - started > 1.9
    assert seen == {"STOPPED"}
    assert zk.exists(lease_path(chroot)) is None


def test_deregister_is_immediate(client, zk, services_path, chroot):
    ok(register(client))
    ok(deregister(client))
    assert members(zk, services_path) == {}
    assert zk.exists(lease_path(chroot)) is None
    assert status(client) == 404
    assert deregister(client).status_code == 404


def test_a_status_change_is_a_new_member_for_plain_zookeeper_readers(client, zk, services_path):
    ok(register(client))
    seen = [members(zk, services_path)]
    for new, published in (("DISABLE", "STOPPED"), ("UN_HEALTHY", "DEAD"), ("HEALTHY", "ALIVE")):
        ok(set_status(client, new))
        now = members(zk, services_path)
        assert list(now.values()) == [published]
        assert not set(now) & set().union(*seen)  # a znode name never seen before
        assert status(client) == new
        seen.append(now)
    ok(set_status(client, "HEALTHY"))  # no change, no new member
    assert members(zk, services_path) == seen[-1]


def test_a_plain_children_watch_sees_the_status_change(client, zk, services_path):
    ok(register(client))
    path = services_path + "/serviceTest"
    events = []
    zk.ChildrenWatch(path, lambda children: events.append(sorted(children)))
    first = events[-1]
    ok(set_status(client, "DISABLE"))
    eventually(lambda: events[-1] != first, timeout=5)
    (name,) = events[-1]
    assert json.loads(zk.get("%s/%s" % (path, name))[0])["status"] == "STOPPED"


# -- several replicas ----------------------------------------------------------------------


def call(replica, method, path, body=None, query=""):
    request = urllib.request.Request(
        replica.url + path + query,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"X-Api-Key": OPS, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def stop(*replicas):
    """Stop gracefully, so no worker outlives the test and writes into its chroot."""
    for replica in replicas:
        replica.stop()


def replica_status(replica):
    code, body = call(replica, "GET", "/api/instance", query="?serviceName=serviceTest&ip=127.0.0.1&port=8080")
    return json.loads(body)["status"] if code == 200 else code


def test_beats_through_any_replica_keep_it_and_silence_removes_it(gateway_process):
    first, second = gateway_process(sections=FAST), gateway_process(sections=FAST)
    assert call(first, "POST", "/api/instance", INSTANCE) == (200, "success")
    eventually(lambda: replica_status(second) == "HEALTHY")
    deadline = time.monotonic() + 3.5  # past remove_after, beating only through the other replica
    while time.monotonic() < deadline:
        assert call(second, "PUT", "/api/instance/beat", INSTANCE) == (200, "success")
        assert replica_status(first) == "HEALTHY"
        time.sleep(0.3)
    assert call(second, "PUT", "/api/instance/status", {**INSTANCE, "status": "DISABLE"}) == (200, "success")
    eventually(lambda: replica_status(first) == "DISABLE")
    time.sleep(2.5)
    assert replica_status(first) == replica_status(second) == "DISABLE"
    assert call(first, "PUT", "/api/instance/status", {**INSTANCE, "status": "HEALTHY"}) == (200, "success")
    eventually(lambda: replica_status(second) == 404, timeout=8)  # silent again: removed
    stop(first, second)


def test_an_instance_whose_replica_died_is_told_to_register_again(gateway_process):
    first, second = gateway_process(sections=FAST), gateway_process(sections=FAST)
    assert call(first, "POST", "/api/instance", INSTANCE) == (200, "success")
    eventually(lambda: replica_status(second) == "HEALTHY")
    first.stop(kill=True)  # its session, and the ephemeral member with it, goes
    eventually(lambda: replica_status(second) == 404, timeout=15)
    code, text = call(second, "PUT", "/api/instance/beat", INSTANCE)
    assert code == 404 and "register it first" in text
    assert call(second, "POST", "/api/instance", INSTANCE) == (200, "success")
    assert replica_status(second) == "HEALTHY"
    stop(second)


# -- many lapsing together ------------------------------------------------------------------

SIX = {"eviction": {"interval": 0.5}, "instance": {"beat_interval": 0.5, "unhealthy_after": 2, "remove_after": 5}}


def test_six_silent_instances_lapse_on_time_together(zk_server, chroot):
    """Each is UN_HEALTHY at unhealthy_after and removed at remove_after, give or take a
    sweep (and a second for a loaded machine), however many lapse in the same sweep."""
    app = create_app(make_config(zk_server.hosts, chroot, sections=SIX))
    client = app.test_client()
    try:
        ports = range(8081, 8087)
        before = time.time()
        for port in ports:
            ok(register(client, port=port))
        after = time.time()
        seen = {}  # (port, status) -> first time seen
        deadline = after + 15
        while len([k for k in seen if k[1] == "gone"]) < len(ports) and time.time() < deadline:
            now = time.time()
            shown = {i["port"]: i["status"] for i in listing(client).json["instances"]}
            for port in ports:
                seen.setdefault((port, shown.get(port, "gone")), now)
            time.sleep(0.05)
        slack = SIX["eviction"]["interval"] + 1.0
        for port in ports:
            unhealthy, gone = seen.get((port, "UN_HEALTHY")), seen.get((port, "gone"))
            assert unhealthy is not None and gone is not None, (port, seen)
            assert 2 - 0.05 <= unhealthy - before and unhealthy - after <= 2 + slack, (port, unhealthy - after)
            assert 5 - 0.05 <= gone - before and gone - after <= 5 + slack, (port, gone - after)
    finally:
        app.extensions["soa"].registry.stop()
