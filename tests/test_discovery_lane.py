"""The long-poll hot path (gateway/discovery/lane.py) answers exactly as the
Flask view does, and leaves everything unusual to the view."""
import functools

import pytest
from flask import Flask
from werkzeug.test import Client
from werkzeug.wrappers import Response

from gateway import logs
from tests.conftest import KEYS, OPS
from tests.discovery_helpers import APPID, register
from tests.test_discovery_poll import Background, app, parked  # noqa: F401 - app: its short poll timeout


@pytest.fixture
def view_only(app):
    return Client(functools.partial(Flask.wsgi_app, app), Response)  # Flask without the lanes


def get(client, path, query):
    return client.get(path, query_string=query)


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
    started = mocker.spy(logs, "start")
    answer = get(client, "/discovery/poll", _query())
    assert started.call_count == 0 and answer.json["code"] == 0
    _same(answer, get(view_only, "/discovery/poll", _query()))
    many = [("appid", APPID), ("latest_timestamp", 0), ("appid", "other.app"), ("latest_timestamp", 0),
            ("env", "uat"), ("key", OPS)]
    answer = get(client, "/discovery/polls", many)
    assert started.call_count == 1 and list(answer.json["data"]) == [APPID]
    _same(answer, get(view_only, "/discovery/polls", many))


def test_a_parked_poll_is_woken_and_a_quiet_one_times_out(app, client, view_only, mocker):
    register(client, hostname="h1")
    latest = get(client, "/discovery/poll", _query()).json["data"]["latest_timestamp"]
    started = mocker.spy(logs, "start")
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


@pytest.mark.parametrize("case", ["unknown appid", "no env", "bad key", "reader of another app", "unknown zkidc",
                                  "polls counts differ", "bad timestamp"])
def test_anything_unusual_is_answered_by_the_view(client, view_only, mocker, case):
    register(client, hostname="h1")
    path, query = "/discovery/poll", _query()
    if case == "unknown appid":
        query = _query(appid="nope.app")
    elif case == "no env":
        del query["env"]
    elif case == "bad key":
        query["key"] = "no-such-key-0001"
    elif case == "reader of another app":
        query["key"] = KEYS["ip2city"]["secret"]
    elif case == "unknown zkidc":
        query["zkidc"] = "nowhere"
    elif case == "polls counts differ":
        path, query = "/discovery/polls", [("appid", APPID), ("appid", "b.app"), ("latest_timestamp", 0),
                                          ("env", "uat"), ("key", OPS)]
    elif case == "bad timestamp":
        query["latest_timestamp"] = "yesterday"
    started = mocker.spy(logs, "start")
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
