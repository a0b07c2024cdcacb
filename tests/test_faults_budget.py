"""A request waits at most op_timeout in all for an unreachable ZooKeeper,
however many calls it makes; the cache worker and the evictor, outside any
request, keep op_timeout per call."""

import time

import pytest

from tests.conftest import OPS, eventually, make_config
from tests.test_cache import own_server  # noqa: F401 - a fixture: a server this test may stop
from zk.cluster import Cluster, end_request, request_budget
from zk.errors import Unavailable


@pytest.fixture
def down(own_server):
    """A connected Cluster whose ZooKeeper has just been stopped."""
    cluster = Cluster("qa", own_server.hosts, session_timeout=4.0, op_timeout=0.6)
    assert cluster.wait_connected(15)
    assert cluster.call("exists", "/qa") is not None
    own_server.stop()
    eventually(lambda: not cluster.connected)
    yield cluster
    cluster.stop()


def timed(calls):
    started = time.monotonic()
    for call in calls:
        with pytest.raises(Unavailable):
            call()
    return time.monotonic() - started


def test_outside_a_request_each_call_waits_op_timeout(down):
    took = timed([lambda: down.call("exists", "/qa")] * 3)
    assert 3 * 0.6 - 0.1 < took < 3 * 0.6 + 0.6


def test_a_request_waits_op_timeout_in_all(down):
    request_budget(0.6)
    try:
        took = timed(
            [
                lambda: down.call("exists", "/qa"),
                lambda: down.call("get", "/qa"),
                lambda: down.commit(down.transaction()),
            ]
        )
    finally:
        end_request()
    assert 0.5 < took < 0.6 + 0.5  # not 3 x 0.6


def test_a_request_budget_is_spent_only_while_zookeeper_is_unreachable(own_server):
    cluster = Cluster("qa", own_server.hosts, session_timeout=4.0, op_timeout=0.5)
    try:
        assert cluster.wait_connected(15)
        request_budget(0.5)
        started = time.monotonic()
        while time.monotonic() - started < 1.0:  # a long batch on a live connection
            assert cluster.call("exists", "/qa") is not None
    finally:
        end_request()
        cluster.stop()


def test_a_failing_write_through_the_app_answers_within_op_timeout(own_server):
    """A cancel of an instance the cache does not know first re-reads the
    service (a wait for ZooKeeper), then looks for the lease (another): with
    ZooKeeper unreachable the request still fails after one op_timeout."""
    from gateway import create_app

    app = create_app(make_config(own_server.hosts, "", gateway={"op_timeout": 1.0}))
    client = app.test_client()
    try:
        form = {
            "zone": "z1",
            "env": "uat",
            "appid": "budget.demo",
            "hostname": "h1",
            "addrs": "http://10.0.0.1:80",
            "status": 1,
            "key": OPS,
        }
        assert client.post("/discovery/register", data=form).json["code"] == 0
        cluster = app.extensions["soa"].registry.get("qa").cluster
        own_server.stop()
        eventually(lambda: not cluster.connected)
        for _ in range(2):
            started = time.monotonic()
            cancel = {
                "zone": "z1",
                "env": "uat",
                "appid": "budget.demo",
                "hostname": "registered-elsewhere",
                "key": OPS,
            }
            answer = client.post("/discovery/cancel", data=cancel).json
            took = time.monotonic() - started
            assert answer["code"] == -500 and "ZooKeeper" in answer["message"], answer
            assert 0.9 < took < 1.0 + 0.6, took  # not 2 x 1.0
    finally:
        app.extensions["soa"].registry.stop()
