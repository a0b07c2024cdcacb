"""Long polls: answered at once when behind, woken by changes (also made
through another gateway process), -304 on timeout, never an empty list."""

import threading
import time

import pytest

from gateway import create_app
from tests.conftest import OPS, eventually, make_config
from tests.discovery_helpers import APPID, cancel, fetch, hostnames, http, instance, register, renew

POLL_TIMEOUT = 1.5


@pytest.fixture
def app(zk_server, chroot):
    app = create_app(make_config(zk_server.hosts, chroot, sections={"discovery": {"poll_timeout": POLL_TIMEOUT}}))
    yield app
    app.extensions["soa"].registry.stop()


def poll(client, since=None, appid=APPID, **query):
    params = {"appid": appid, "env": "uat", "key": OPS, **query}
    if since is not None:
        params["latest_timestamp"] = since
    return client.get("/discovery/poll", query_string=params).json


def polls(client, pairs, **query):
    query_string = [("env", "uat"), ("key", OPS)] + [(k, v) for k, v in query.items()]
    for appid, since in pairs:
        query_string += [("appid", appid), ("latest_timestamp", since)]
    return client.get("/discovery/polls", query_string=query_string).json


class Background:
    """Run a call in a thread; .result() waits for its answer."""

    def __init__(self, call):
        self.answer = None
        self.thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self.started = time.monotonic()
        self.thread.start()

    def _run(self, call):
        self.answer = call()
        self.elapsed = time.monotonic() - self.started

    def result(self, timeout=10):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "no answer"
        return self.answer


def parked(app, count=1):
    catalog = app.extensions["soa"].registry.get("qa")
    eventually(lambda: catalog.changes.waiting >= count)


def test_poll_answers_at_once_when_behind_or_without_timestamp(client):
    register(client)
    stamp = fetch(client)["data"]["latest_timestamp"]
    for since in (None, 0, stamp - 1):
        started = time.monotonic()
        answer = poll(client, since)
        assert time.monotonic() - started < 0.5
        assert answer["code"] == 0 and answer["data"]["latest_timestamp"] == stamp and hostnames(answer) == ["host-1"]


def test_poll_shows_only_status_1_instances(client):
    register(client)
    register(client, hostname="stopped", status=2)
    assert hostnames(poll(client, 0)) == ["host-1"]


def test_poll_waits_for_a_change_then_answers(client, app):
    register(client)
    stamp = fetch(client)["data"]["latest_timestamp"]
    waiting = Background(lambda: poll(client, stamp))
    parked(app)
    register(client, hostname="host-2")
    answer = waiting.result()
    assert waiting.elapsed < POLL_TIMEOUT
    assert answer["code"] == 0 and hostnames(answer) == ["host-1", "host-2"]
    assert answer["data"]["latest_timestamp"] > stamp


def test_poll_is_not_modified_after_the_timeout_and_renews_wake_nobody(client, app):
    register(client)
    stamp = fetch(client)["data"]["latest_timestamp"]
    waiting = Background(lambda: poll(client, stamp))
    parked(app)
    renew(client)
    answer = waiting.result()
    assert answer == {"code": -304, "message": "not modified", "ttl": 1}
    assert POLL_TIMEOUT - 0.1 < waiting.elapsed < POLL_TIMEOUT + 1
    assert app.extensions["soa"].registry.get("qa").changes.waiting == 0


def test_poll_on_an_unknown_appid_is_404_at_once(client):
    started = time.monotonic()
    assert poll(client, 0, appid="demo.nobody")["code"] == -404
    register(client, env="prod")
    assert poll(client, 0)["code"] == -404  # known in prod, not in uat
    assert time.monotonic() - started < 1


def test_poll_never_answers_an_empty_list(client, app):
    """The Go SDK ignores empty lists but takes their timestamp as news: it
    would poll again at once, forever."""
    register(client, status=2)
    stamp = fetch(client)["data"]["latest_timestamp"]
    assert poll(client, 0)["code"] == -304  # nothing with status 1 to show
    register(client)
    cancel_wait = Background(lambda: poll(client, fetch(client)["data"]["latest_timestamp"]))
    parked(app)
    cancel(client)  # the app is gone: not answered with "nobody is there"
    assert cancel_wait.result()["code"] == -304
    assert fetch(client)["code"] == -404 and stamp


def test_poll_with_a_zone_waits_for_that_zone(client, app):
    register(client)
    waiting = Background(lambda: poll(client, 0, zone="sh002"))
    parked(app)
    register(client, hostname="far", zone="sh002")
    answer = waiting.result()
    assert list(answer["data"]["instances"]) == ["sh002"] and hostnames(answer) == ["far"]


def test_polls_answers_only_the_appids_that_changed(client, app):
    register(client)
    register(client, appid="demo.billing", hostname="b1")
    a = fetch(client)["data"]["latest_timestamp"]
    b = fetch(client, appid="demo.billing")["data"]["latest_timestamp"]
    at_once = polls(client, [(APPID, a), ("demo.billing", b - 1)])
    assert at_once["code"] == 0 and list(at_once["data"]) == ["demo.billing"]
    waiting = Background(lambda: polls(client, [(APPID, a), ("demo.billing", b), ("demo.later", 0)]))
    parked(app)
    register(client, hostname="host-2")
    answer = waiting.result()
    assert list(answer["data"]) == [APPID] and hostnames({"data": answer["data"][APPID]}) == ["host-1", "host-2"]
    # an appid unknown when the poll began is answered once it appears
    waiting = Background(lambda: polls(client, [("demo.billing", b), ("demo.later", 0)]))
    parked(app)
    register(client, appid="demo.later", hostname="l1")
    assert list(waiting.result()["data"]) == ["demo.later"]


def test_polls_of_only_unknown_appids_is_404_and_timeout_is_304(client):
    assert polls(client, [("demo.none", 0), ("demo.nada", 0)])["code"] == -404
    register(client)
    stamp = fetch(client)["data"]["latest_timestamp"]
    assert polls(client, [(APPID, stamp), ("demo.none", 0)])["code"] == -304


def test_many_waiters_are_woken_by_one_change(client, app):
    register(client)
    stamp = fetch(client)["data"]["latest_timestamp"]
    waiters = [Background(lambda: poll(client, stamp)) for _ in range(20)]
    parked(app, 20)
    register(client, hostname="host-2")
    for waiter in waiters:
        assert hostnames(waiter.result()) == ["host-1", "host-2"]


def test_poll_woken_by_a_register_through_another_gateway_process(gateway_process):
    sections = {"discovery": {"poll_timeout": 20}}
    a, b = gateway_process(sections=sections), gateway_process(sections=sections)
    assert (
        http(b.url, "/discovery/register", {**instance(), "addrs": "http://10.0.0.1:80", "status": 1}, "POST")["code"]
        == 0
    )
    stamp = eventually(
        lambda: http(a.url, "/discovery/fetch", {"appid": APPID, "env": "uat", "status": 1}).get("data")
    )["latest_timestamp"]
    waiting = Background(
        lambda: http(a.url, "/discovery/poll", {"appid": APPID, "env": "uat", "latest_timestamp": stamp})
    )
    time.sleep(0.5)
    registered = time.monotonic()
    assert (
        http(
            b.url,
            "/discovery/register",
            {**instance(hostname="host-2"), "addrs": "http://10.0.0.2:80", "status": 1},
            "POST",
        )["code"]
        == 0
    )
    answer = waiting.result(timeout=20)
    assert time.monotonic() - registered < 2
    assert answer["code"] == 0 and hostnames(answer) == ["host-1", "host-2"]


def test_latest_timestamp_is_the_same_on_every_replica(gateway_process):
    a, b = gateway_process(), gateway_process()
    seen = []
    for n in range(3):
        via = (a, b)[n % 2]
        params = {**instance(hostname="host-%d" % n), "addrs": "http://10.0.0.%d:80" % (n + 1), "status": 1}
        assert http(via.url, "/discovery/register", params, "POST")["code"] == 0
        query = {"appid": APPID, "env": "uat", "status": 3}

        def same(query=query, n=n):
            answers = [http(gw.url, "/discovery/fetch", query).get("data") for gw in (a, b)]  # -404 until seen
            assert answers[0] and answers[0] == answers[1] and len(answers[0]["instances"]["sh001"]) == n + 1
            return answers[0]

        seen.append(eventually(same)["latest_timestamp"])
    assert seen == sorted(set(seen))
