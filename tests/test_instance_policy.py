"""The lease mechanism's policy choices the instance API relies on (zk.instances, real ZooKeeper)."""

import time
from dataclasses import replace

import pytest

from gateway import create_app
from tests.conftest import eventually, make_config
from tests.instance_helpers import read_members
from zk import codec
from zk.errors import NotFound
from zk.instances import Policy

TIMED = Policy(ttl=2.0, unhealthy_after=1.0, renew_interval=0.3, self_preservation=False)
FOREVER = Policy(ttl=None, unhealthy_after=None, renew_interval=0.3, self_preservation=False)


@pytest.fixture
def catalog(zk_server, chroot):
    app = create_app(make_config(zk_server.hosts, chroot, sections={"eviction": {"interval": 0.3}}))
    yield app.extensions["soa"].registry.get("qa")
    app.extensions["soa"].registry.stop()


def member(status=codec.ALIVE):
    return codec.Member("10.0.0.1", 80, status, instance={"registeredBy": "test"})


def published(zk, services_path):
    return list(read_members(zk, services_path + "/svc").values())


def test_policy_may_depend_on_what_was_published_before(catalog, zk, services_path):
    seen = []

    def policy(old):
        seen.append(old.status if old is not None else None)
        return FOREVER if old is not None and old.status == codec.STOPPED else TIMED

    catalog.instances.register("svc", "k", lambda old: member(), policy)
    assert published(zk, services_path)[0]["instance"]["policy"]["ttl"] == 2.0
    catalog.instances.replace("svc", "k", lambda old: member(codec.STOPPED), policy=FOREVER)
    catalog.instances.register("svc", "k", lambda old: member(old.status if old else codec.ALIVE), policy)
    assert seen[0] is None and seen[-1] == codec.STOPPED  # a new identity is tried first
    (doc,) = published(zk, services_path)
    assert doc["status"] == "STOPPED" and doc["instance"]["policy"]["ttl"] is None


def test_replace_keeps_the_policy_unless_given_one(catalog, zk, services_path):
    catalog.instances.register("svc", "k", lambda old: member(), TIMED)
    catalog.instances.replace("svc", "k", lambda old: replace(old, metadata={"a": "b"}))
    (doc,) = published(zk, services_path)
    assert doc["instance"]["policy"] == {
        "ttl": 2.0,
        "unhealthy_after": 1.0,
        "renew_interval": 0.3,
        "self_preservation": False,
    }
    assert doc["instance"]["lease"] == "k"
    catalog.instances.replace("svc", "k", lambda old: old, policy=FOREVER)
    (doc,) = published(zk, services_path)
    assert doc["instance"]["policy"]["ttl"] is None and doc["instance"]["lease"] == "k"


def test_a_member_published_with_an_untimed_policy_never_lapses(catalog, zk, services_path):
    catalog.instances.register("svc", "held", lambda old: member(codec.STOPPED), FOREVER)
    catalog.instances.register("svc", "timed", lambda old: codec.Member("10.0.0.2", 80), TIMED)
    eventually(lambda: [doc["instance"]["lease"] for doc in published(zk, services_path)] == ["held"], timeout=6)
    time.sleep(1.0)
    (doc,) = published(zk, services_path)
    assert doc["status"] == "STOPPED" and doc["instance"]["lease"] == "held"
    # back on a timed policy, the silence counts from the change, and it lapses
    catalog.instances.replace("svc", "held", lambda old: replace(old, status=codec.ALIVE), policy=TIMED)
    time.sleep(0.6)
    assert published(zk, services_path)[0]["status"] == "ALIVE"
    eventually(lambda: published(zk, services_path) == [], timeout=6)


def test_fresh_lookup_sees_what_another_writer_just_published(catalog, zk, services_path):
    catalog.create_service("svc")
    data = codec.encode(replace(member(), instance={"lease": "other"}))
    zk.create(services_path + "/svc/member_", data, ephemeral=True, sequence=True)
    assert [leaf.value.host for leaf in catalog.instances.lookup("svc", "other", fresh=True)] == ["10.0.0.1"]
    with pytest.raises(NotFound):
        catalog.instances.replace("svc", "nobody", lambda old: old)
