"""Leases of discovery instances: eviction, self-preservation, session
expiry and several gateway replicas sharing one ensemble."""

import time

import pytest

from gateway import create_app
from tests.conftest import OPS, Loop, eventually, make_config
from tests.discovery_helpers import fetch, hostnames, http, instance, members, register, renew
from tests.test_cache import expire
from zk.errors import Unavailable

SHORT = {
    "eviction": {"interval": 0.3, "window": 1, "min_instances": 4},
    "discovery": {"ttl": 1.5, "renew_interval": 0.5},
}


@pytest.fixture
def app(zk_server, chroot):
    app = create_app(make_config(zk_server.hosts, chroot, sections=SHORT))
    yield app
    app.extensions["soa"].registry.stop()


class Renewer(Loop):
    """Renews some hostnames every 0.25 s until stopped."""

    def __init__(self, renew_one, hostnames):
        self.failures = []

        def renew_all(_):
            for name in hostnames:
                answer = renew_one(name)
                if answer["code"] != 0:
                    self.failures.append((name, answer))

        super().__init__(renew_all, pause=0.25)


def ten(client):
    names = ["host-%d" % n for n in range(10)]
    for n, name in enumerate(names):
        assert register(client, hostname=name, addrs=["http://10.0.0.%d:80" % (n + 1)])["code"] == 0
    return names


def test_an_instance_that_stops_renewing_is_evicted(app, client, zk, services_path):
    names = ten(client)
    renewer = Renewer(lambda name: renew(app.test_client(), hostname=name), names[1:])
    try:
        eventually(lambda: hostnames(fetch(client)) == names[1:], timeout=10)
        time.sleep(1.0)  # and nothing else goes
        assert hostnames(fetch(client)) == names[1:]
        assert renewer.failures == []
    finally:
        renewer.stop()
    assert sorted(d["instance"]["hostname"] for d in members(zk, services_path).values()) == names[1:]
    assert renew(client, hostname=names[0])["code"] == -404  # its client registers again
    assert register(client, hostname=names[0])["code"] == 0


def test_self_preservation_protects_when_most_renews_stop(app, client):
    names = ten(client)
    evictor = app.extensions["soa"].registry.get("qa").evictor
    renewer = Renewer(lambda name: renew(app.test_client(), hostname=name), names[:4])
    try:
        time.sleep(4.0)  # well past the ttl of 1.5 s
        assert hostnames(fetch(client)) == names
        assert evictor.protecting
    finally:
        renewer.stop()


def test_members_are_recreated_after_a_real_session_expiry(app, client, zk, zk_server, services_path):
    register(client)
    register(client, hostname="host-2", status=2)
    before = members(zk, services_path)
    catalog = app.extensions["soa"].registry.get("qa")
    old = expire(zk_server, catalog)

    def recreated():
        current = members(zk, services_path)
        owners = {zk.exists("%s/demo.account/%s" % (services_path, m)).ephemeralOwner for m in current}
        return len(current) == 2 and owners == {catalog.cluster.session_id} and old not in owners and current

    after = eventually(recreated, timeout=20)
    assert sorted((d["instance"]["hostname"], d["status"]) for d in after.values()) == [
        ("host-1", "ALIVE"),
        ("host-2", "STOPPED"),
    ]
    assert set(after) != set(before)
    assert renew(client)["code"] == 0
    # The recovery ran on the gateway's own threads: its cache shows the new members when
    # their watch events arrive, which on a busy machine may be after ZooKeeper has them.
    eventually(lambda: hostnames(fetch(client)) == ["host-1", "host-2"])


def test_a_recovery_cut_short_by_a_lost_connection_resumes_on_reconnect(
    app, client, zk, services_path, zk_server, mocker
):
    register(client)
    catalog = app.extensions["soa"].registry.get("qa")
    instances = catalog.instances
    real = instances._recover_one
    cut = mocker.patch.object(instances, "_recover_one", side_effect=Unavailable("connection lost (injected)"))
    expire(zk_server, catalog)
    eventually(lambda: cut.called and instances._recovery_due)
    eventually(lambda: members(zk, services_path) == {})  # the old session's member is gone, none re-created
    cut.side_effect = real
    instances._on_session(False)  # the connection comes back on the same session
    eventually(lambda: [d["instance"]["hostname"] for d in members(zk, services_path).values()] == ["host-1"])


def test_members_of_an_expired_session_are_not_taken_for_another_replicas(app, client, mocker):
    """Between a new session and its resync the view still shows our members
    under the old session; the evictor's sweep (forget_foreign) must not let
    them go as another replica's, or the recovery finds nothing to re-create."""
    register(client)
    instances = app.extensions["soa"].registry.get("qa").instances
    assert instances.owned == 1
    cluster = instances.cluster
    new_session = cluster.session_id + 1
    mocker.patch.object(instances, "recover")  # (the recovery itself is tested above)
    mocker.patch.object(cluster, "session_id", new_session)
    instances._on_session(True)  # what a new session does, before the resync re-read the service
    instances.forget_foreign()
    assert instances.owned == 1
    mocker.patch.object(instances, "_sessions", {new_session})  # a member of a session never ours is foreign
    instances.forget_foreign()
    assert instances.owned == 0


def test_two_replicas_share_leases_and_list_each_other(gateway_process, zk, services_path):
    a, b = gateway_process(sections=SHORT), gateway_process(sections=SHORT)
    assert (
        http(a.url, "/discovery/register", {**instance(), "addrs": "http://10.0.0.1:80", "status": 1}, "POST")["code"]
        == 0
    )
    eventually(
        lambda: http(b.url, "/discovery/fetch", {"appid": "demo.account", "env": "uat", "status": 1})["code"] == 0
    )
    renewer = Renewer(lambda name: http(b.url, "/discovery/renew", instance(hostname=name), "POST"), ["host-1"])
    try:
        time.sleep(4.0)  # more than twice the ttl, renewed through B only
        assert renewer.failures == []
        assert [d["instance"]["hostname"] for d in members(zk, services_path).values()] == ["host-1"]
    finally:
        renewer.stop()
    eventually(lambda: members(zk, services_path) == {}, timeout=10)  # whoever evicts, it goes
    assert http(b.url, "/discovery/renew", instance(), "POST")["code"] == -404
    expected = sorted(
        [{"addr": "127.0.0.1:%d" % gw.port, "status": 0, "zone": "qa"} for gw in (a, b)], key=lambda n: n["addr"]
    )
    for gw in (a, b):
        assert eventually(lambda gw=gw: http(gw.url, "/discovery/nodes", {"key": OPS})["data"] == expected)
    b.stop()
    eventually(
        lambda: http(a.url, "/discovery/nodes", {})["data"] == [n for n in expected if n["addr"].endswith(str(a.port))]
    )
