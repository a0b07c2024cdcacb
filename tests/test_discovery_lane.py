"""The long-poll hot path (gateway/discovery/lane.py) answers exactly as the
Flask view does, leaves everything unusual to the view before it starts,
answers what fails once it started itself, and begins and finishes its
requests as Flask does (gateway/pipeline.py)."""

import functools
import logging

import pytest
from flask import Flask
from werkzeug.exceptions import RequestURITooLarge
from werkzeug.test import Client
from werkzeug.wrappers import Response

from gateway import create_app, pipeline
from gateway.discovery import model
from gateway.params import REFUSED
from tests.conftest import KEYS, OPS, make_config
from tests.discovery_helpers import APPID, register
from tests.test_discovery_poll import Background, app, parked  # noqa: F401 - app: its short poll timeout
from zk.changes import Waiter


@pytest.fixture
def view_only(app):
    return Client(functools.partial(Flask.wsgi_app, app), Response)  # Flask without the lanes


def get(client, path, query, **kwargs):
    return client.get(path, query_string=query, **kwargs)


def reaching_flask(mocker):
    """Counts the requests Flask answered (the lanes answer before it)."""
    return mocker.spy(Flask, "full_dispatch_request")


def _same(lane_answer, view_answer):
    assert lane_answer.status_code == view_answer.status_code == 200
    assert lane_answer.get_data() == view_answer.get_data()
    assert lane_answer.headers["Content-Type"] == view_answer.headers["Content-Type"]
    assert lane_answer.headers["Content-Length"] == view_answer.headers["Content-Length"]
    assert lane_answer.headers["X-Request-Id"] and view_answer.headers["X-Request-Id"]


def _query(since=0, appid=APPID, **extra):
    return {"appid": appid, "env": "uat", "latest_timestamp": since, "key": OPS, **extra}


def test_a_poll_behind_is_answered_by_the_lane_as_by_the_view(client, view_only, mocker):
    register(client, hostname="h1")
    started = reaching_flask(mocker)
    answer = get(client, "/discovery/poll", _query())
    assert started.call_count == 0 and answer.json["code"] == 0
    _same(answer, get(view_only, "/discovery/poll", _query()))
    many = [
        ("appid", APPID),
        ("latest_timestamp", 0),
        ("appid", "other.app"),
        ("latest_timestamp", 0),
        ("env", "uat"),
        ("key", OPS),
    ]
    answer = get(client, "/discovery/polls", many)
    assert started.call_count == 1 and list(answer.json["data"]) == [APPID]
    _same(answer, get(view_only, "/discovery/polls", many))


def test_a_parked_poll_is_woken_and_a_quiet_one_times_out(app, client, view_only, mocker):
    register(client, hostname="h1")
    latest = get(client, "/discovery/poll", _query()).json["data"]["latest_timestamp"]
    started = reaching_flask(mocker)
    waiting = Background(lambda: get(client, "/discovery/poll", _query(latest)))
    parked(app)
    register(client, hostname="h2")
    woken = waiting.result()
    assert woken.json["code"] == 0 and len(woken.json["data"]["instances"]["sh001"]) == 2
    assert woken.json["data"]["latest_timestamp"] > latest
    newest = woken.json["data"]["latest_timestamp"]
    quiet = get(client, "/discovery/poll", _query(newest))
    assert quiet.json == {"code": -304, "message": "not modified", "ttl": 1}
    assert started.call_count == 1  # the register; neither poll reached Flask
    _same(quiet, get(view_only, "/discovery/poll", _query(newest)))


@pytest.mark.parametrize(
    "case", ["no env", "bad key", "reader of another app", "unknown zkidc", "polls counts differ", "bad timestamp"]
)
def test_anything_unusual_is_answered_by_the_view(client, view_only, mocker, case):
    register(client, hostname="h1")
    path, query = "/discovery/poll", _query()
    if case == "no env":
        del query["env"]
    elif case == "bad key":
        query["key"] = "no-such-key-0001"
    elif case == "reader of another app":
        query["key"] = KEYS["ip2city"]["secret"]
    elif case == "unknown zkidc":
        query["zkidc"] = "nowhere"
    elif case == "polls counts differ":
        path, query = (
            "/discovery/polls",
            [("appid", APPID), ("appid", "b.app"), ("latest_timestamp", 0), ("env", "uat"), ("key", OPS)],
        )
    elif case == "bad timestamp":
        query["latest_timestamp"] = "yesterday"
    started = reaching_flask(mocker)
    answer = get(client, path, query)
    assert started.call_count == 1 and answer.json["code"] != 0
    _same(answer, get(view_only, path, query))


def test_lane_polls_are_counted(client):
    register(client, hostname="h1")

    def answered():
        for line in client.get("/metrics").get_data(as_text=True).splitlines():
            if line.startswith('soa_gateway_requests_total{dialect="discovery",endpoint="poll",outcome="ok"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = answered()
    for _ in range(3):
        get(client, "/discovery/poll", _query())
    assert answered() == before + 3


def test_an_appid_unknown_when_the_poll_starts_is_answered_by_the_lane_as_by_the_view(client, view_only, mocker):
    """-404 is raised once the poll started (before it parks): the lane
    answers it in the view's envelope instead of asking Flask again."""
    register(client, hostname="h1")
    started = reaching_flask(mocker)
    answer = get(client, "/discovery/poll", _query(appid="nope.app"))
    assert started.call_count == 0 and answer.json["code"] == -404
    view = get(view_only, "/discovery/poll", _query(appid="nope.app"))
    assert answer.get_data() == view.get_data() and answer.status_code == view.status_code == 200
    assert answer.headers["Content-Type"] == view.headers["Content-Type"] and answer.headers["X-Request-Id"]


def test_a_failure_after_the_poll_parked_is_answered_once_in_the_envelope(app, client, mocker):
    register(client, hostname="h1")
    latest = get(client, "/discovery/poll", _query()).json["data"]["latest_timestamp"]
    parks = mocker.spy(Waiter, "wait")
    render = model.Views.get

    def broken_after_parking(self, *args, **kwargs):
        if parks.call_count:
            raise RuntimeError("the cache broke while the poll was parked")
        return render(self, *args, **kwargs)

    mocker.patch.object(model.Views, "get", broken_after_parking)
    started = reaching_flask(mocker)
    waiting = Background(lambda: get(client, "/discovery/poll", _query(latest)))
    parked(app)
    register(client, hostname="h2")  # wakes the poll, which then fails
    answer = waiting.result()
    assert answer.status_code == 200
    assert answer.json == {"code": -500, "message": "internal error", "ttl": 1}
    assert answer.headers["X-Request-Id"]
    assert parks.call_count == 1  # parked once, never again in Flask
    assert started.call_count == 1  # the second register only
    assert app.extensions["soa"].registry.get("qa").changes.waiting == 0


def test_lane_and_view_requests_begin_and_finish_alike(zk_server, chroot, caplog, mocker):
    caplog.set_level(logging.INFO)
    logged = create_app(make_config(zk_server.hosts, chroot, gateway={"access_log": "all"}))
    try:
        client = logged.test_client()
        view_only = Client(functools.partial(Flask.wsgi_app, logged), Response)
        gateway = logged.extensions["soa"]
        register(client, hostname="h1")
        begun = mocker.spy(pipeline, "begin")
        budget = mocker.spy(pipeline, "request_budget")
        observed = mocker.spy(gateway.metrics, "observe")
        started = reaching_flask(mocker)
        caplog.clear()
        lane = get(client, "/discovery/poll", _query(), headers={"X-Request-Id": "lane-1"})
        view = get(view_only, "/discovery/poll", _query(), headers={"X-Request-Id": "view-1"})
        assert started.call_count == 1  # the view_only request
        assert lane.get_data() == view.get_data()
        assert (lane.headers["X-Request-Id"], view.headers["X-Request-Id"]) == ("lane-1", "view-1")
        assert begun.call_count == 2 and budget.call_count == 2
        assert budget.call_args_list[0] == budget.call_args_list[1] == mocker.call(gateway.config.op_timeout)
        lines = [dict(r.fields) for r in caplog.records if r.name == "soa.access"]
        assert [line.pop("request_id") for line in lines] == ["lane-1", "view-1"]
        for line in lines:
            assert line.pop("duration_ms") >= 0
        assert (
            lines[0]
            == lines[1]
            == {
                "method": "GET",
                "path": "/discovery/poll",
                "status": 200,
                "dialect": "discovery",
                "endpoint": "poll",
                "key": "ops",
                "zkidc": "qa",
                "error": None,
            }
        )
        done = [call.args[0] for call in observed.call_args_list]
        assert [(d.dialect, d.endpoint, d.status, d.zkidc, d.services) for d in done] == [
            ("discovery", "poll", 200, "qa", [APPID])
        ] * 2

        # Refused before the lane could start (a request line over the limit):
        # Flask answers, in the dialect's envelope, on the lane's begin.
        caplog.clear()
        refused = get(
            client,
            "/discovery/poll",
            _query(),
            headers={"X-Request-Id": "long-1"},
            environ_overrides={REFUSED: RequestURITooLarge("request line is too long")},
        )
        assert refused.status_code == 414 and refused.json["code"] == -414
        assert refused.headers["X-Request-Id"] == "long-1"
        assert started.call_count == 2 and budget.call_count == 3  # one budget: begun once, by the lane
        assert [r.fields["request_id"] for r in caplog.records if r.name == "soa.access"] == ["long-1"]
    finally:
        logged.extensions["soa"].registry.stop()
