"""The discover hot path (gateway/polaris/lane.py) answers exactly as the
Flask view does, counts and logs its requests, and leaves everything else
to the view."""

import functools
import json
import logging

import pytest
from flask import Flask
from werkzeug.test import Client
from werkzeug.wrappers import Response

from gateway import create_app
from gateway.polaris import shapes
from tests.conftest import OPS, eventually, make_config
from tests.polaris_helpers import READER, create, headers


def post(client, doc=None, raw=None, key=OPS, query=None, extra=None):
    data = raw if raw is not None else json.dumps(doc)
    return client.post(
        "/v1/Discover",
        data=data,
        headers={**headers(key), "Content-Type": "application/json", **(extra or {})},
        query_string=query,
    )


def reaching_flask(mocker):
    """Counts the requests Flask answered (the lane answers before it)."""
    return mocker.spy(Flask, "full_dispatch_request")


def ask(name="lane.svc", namespace="default", revision=None, kind=1):
    service = {"name": name, "namespace": namespace}
    if revision is not None:
        service["revision"] = revision
    return {"type": kind, "service": service}


@pytest.fixture
def served(client, app):
    """A service with two members, the app, and a client of the Flask view alone (no lane)."""
    create(client, {"name": "lane.svc", "namespace": "default"})
    for host in ("10.0.0.1", "10.0.0.2"):
        answer = client.post(
            "/addserver", data={"destName": "lane.svc", "serverHost": host, "serverPort": "80", "key": OPS}
        )
        assert answer.json["code"] == 1
    eventually(lambda: len(post(client, ask()).json.get("instances", [])) == 2)
    view_only = Client(functools.partial(Flask.wsgi_app, app), Response)  # Flask without the lanes
    return client, view_only


def _same(lane_answer, view_answer):
    assert lane_answer.status_code == view_answer.status_code
    assert lane_answer.get_data() == view_answer.get_data()
    assert lane_answer.headers["Content-Type"] == view_answer.headers["Content-Type"]
    assert lane_answer.headers["Content-Length"] == view_answer.headers["Content-Length"]
    assert lane_answer.headers["X-Request-Id"] and view_answer.headers["X-Request-Id"]


def test_the_lane_answers_full_and_unchanged_like_the_view(served, mocker):
    client, view_only = served
    started = reaching_flask(mocker)
    full = post(client, ask())
    assert started.call_count == 0 and full.json["code"] == 200000
    _same(full, post(view_only, ask()))
    revision = full.json["service"]["revision"]
    unchanged = post(client, ask(revision=revision))
    assert started.call_count == 1 and unchanged.json["code"] == 200001 and "instances" not in unchanged.json
    _same(unchanged, post(view_only, ask(revision=revision)))
    assert started.call_count == 2  # only the two view-only calls reached Flask


@pytest.mark.parametrize(
    "case",
    [
        "unknown service",
        "other namespace",
        "bad key",
        "reader of another service",
        "not json",
        "duplicate key",
        "type 6",
        "type 3",
        "unknown type",
        "zkidc in the query",
        "unknown zkidc header",
        "no body",
    ],
)
def test_anything_unusual_is_answered_by_the_view(served, mocker, case):
    client, view_only = served
    key, query, extra, raw, doc = OPS, None, None, None, ask()
    if case == "unknown service":
        doc = ask("nope.svc")
    elif case == "other namespace":
        doc = ask(namespace="Prod")
    elif case == "bad key":
        key = "no-such-key-0001"
    elif case == "reader of another service":
        key = "ip2city-secret-1"
    elif case == "not json":
        raw = b'{"type": 1, "service": '
    elif case == "duplicate key":
        raw = b'{"type": 1, "type": 1, "service": {"name": "lane.svc"}}'
    elif case == "type 6":
        doc = ask(kind=6)
    elif case == "type 3":
        doc = ask(kind=3)
    elif case == "unknown type":
        doc = ask(kind=13)
    elif case == "zkidc in the query":
        query = {"zkidc": "qa"}
    elif case == "unknown zkidc header":
        extra = {"X-Zkidc": "nowhere"}
    elif case == "no body":
        raw = b""
    started = reaching_flask(mocker)
    answer = post(client, doc, raw=raw, key=key, query=query, extra=extra)
    assert started.call_count == 1
    _same(answer, post(view_only, doc, raw=raw, key=key, query=query, extra=extra))


def test_a_reader_key_and_the_zkidc_header_are_served_by_the_lane(served, mocker):
    client, _ = served
    started = reaching_flask(mocker)
    answer = post(client, ask(), key=READER, extra={"X-Zkidc": "qa"})
    assert answer.json["code"] == 200000 and started.call_count == 0


def test_lane_requests_are_counted_and_carry_the_request_id(served):
    client, _ = served

    def served_ok():
        text = client.get("/metrics").get_data(as_text=True)
        for line in text.splitlines():
            if line.startswith('soa_gateway_requests_total{dialect="polaris",endpoint="discover",outcome="ok"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = served_ok()
    for _ in range(3):
        answer = post(client, ask(), extra={"X-Request-Id": "poll-42"})
        assert answer.headers["X-Request-Id"] == "poll-42"
    assert served_ok() == before + 3


def test_the_lane_writes_access_lines_when_asked(zk_server, chroot, caplog):
    caplog.set_level(logging.INFO)
    app = create_app(make_config(zk_server.hosts, chroot, gateway={"access_log": "all"}))
    try:
        client = app.test_client()
        create(client, {"name": "lane.svc", "namespace": "default"})
        eventually(lambda: post(client, ask()).json["code"] == 200000)
        caplog.clear()
        post(client, ask(), extra={"X-Request-Id": "seen-1"})
        lines = [r for r in caplog.records if r.name == "soa.access"]
        assert len(lines) == 1
        fields = lines[0].fields
        assert (fields["request_id"], fields["path"], fields["status"], fields["endpoint"], fields["key"]) == (
            "seen-1",
            "/v1/Discover",
            200,
            "discover",
            "ops",
        )
    finally:
        app.extensions["soa"].registry.stop()


def test_a_change_moves_the_revision_the_lane_answers(served):
    client, _ = served
    revision = post(client, ask()).json["service"]["revision"]
    assert post(client, ask(revision=revision)).json["code"] == 200001
    client.post("/addserver", data={"destName": "lane.svc", "serverHost": "10.0.0.3", "serverPort": "80", "key": OPS})
    eventually(lambda: post(client, ask(revision=revision)).json["code"] == 200000)
    assert len(post(client, ask()).json["instances"]) == 3


def test_a_failure_once_the_lane_runs_is_answered_in_the_envelope_of_the_view(served, mocker):
    """Once the lane has started the work it answers an error itself, in the
    envelope the view's error would have (its discover fields included)."""
    client, view_only = served
    mocker.patch.object(shapes.Service, "answer", side_effect=RuntimeError("the prepared answer broke"))
    started = reaching_flask(mocker)
    answer = post(client, ask(), extra={"X-Request-Id": "broken-1"})
    assert started.call_count == 0 and shapes.Service.answer.call_count == 1  # answered once, by the lane
    assert answer.status_code == 500 and answer.headers["X-Request-Id"] == "broken-1"
    assert answer.json == {
        "code": 500000,
        "info": "execute exception: internal error",
        "type": "INSTANCE",
        "service": {"name": "lane.svc", "namespace": "default"},
    }
    _same(answer, post(view_only, ask()))
