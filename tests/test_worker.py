"""The gunicorn worker: one send per response, and HTTP/1.1 as before."""

import socket

import pytest

from gateway.worker import _OneSend
from tests.conftest import OPS


class Recorder:
    def __init__(self):
        self.sent = []

    def sendall(self, data):
        self.sent.append(data)

    def send(self, data):
        self.sent.append(data)
        return len(data)


def test_the_header_block_goes_out_with_the_first_body_bytes():
    sock = Recorder()
    writer = _OneSend(sock)
    writer.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
    assert sock.sent == []
    writer.sendall(b"body-1")
    writer.sendall(b"body-2")
    writer.flush()
    assert sock.sent == [b"HTTP/1.1 200 OK\r\n\r\nbody-1", b"body-2"]


def test_a_response_without_a_body_is_sent_when_it_ends():
    sock = Recorder()
    writer = _OneSend(sock)
    writer.sendall(b"HTTP/1.1 304 Not Modified\r\n\r\n")
    writer.flush()
    assert sock.sent == [b"HTTP/1.1 304 Not Modified\r\n\r\n"]


def test_interim_answers_and_other_socket_calls_are_not_held():
    sock = Recorder()
    writer = _OneSend(sock)
    writer.send(b"HTTP/1.1 100 Continue\r\n\r\n")
    writer.sendall(b"HTTP/1.1 103 Early Hints\r\n\r\n")
    assert sock.sent == [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early Hints\r\n\r\n"]
    writer.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
    writer.send(b"direct")  # anything but sendall flushes what is held first
    assert sock.sent[-2:] == [b"HTTP/1.1 200 OK\r\n\r\n", b"direct"]


def _exchange(port, raw, expect_answers):
    """Send raw HTTP on one connection; return the bytes of ``expect_answers`` answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(raw)
        data = b""
        while data.count(b"HTTP/1.1 2") + data.count(b"HTTP/1.1 4") < expect_answers or not _complete(data):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def _complete(data):
    """True when the last answer's body (by Content-Length) has all arrived."""
    head, _, body = data.rpartition(b"\r\n\r\n")
    last = head.rsplit(b"HTTP/1.1 ", 1)[-1]
    for line in last.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body.rsplit(b"HTTP/1.1 ", 1)[-1]) >= int(line.split(b":")[1])
    return True


@pytest.fixture(scope="module")
def served(own_gateway):
    return own_gateway[0]


def test_keep_alive_pipelined_head_and_get_answers_arrive_whole(served):
    raw = (
        b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
        b"HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
        b"GET /servicelist?key=" + OPS.encode() + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    data = _exchange(served.port, raw, 3)
    answers = data.split(b"HTTP/1.1 ")[1:]
    assert [a[:3] for a in answers] == [b"200", b"200", b"200"]
    assert answers[0].endswith(b'{"status":"ok"}\n')
    assert answers[1].endswith(b"\r\n\r\n")  # HEAD: headers only, and the next answer follows
    assert b'"code":1' in answers[2].replace(b" ", b"")


def test_expect_100_continue_still_gets_its_interim_answer(served):
    body = b'{"type": 1, "service": {"name": "nope.svc", "namespace": "default"}}'
    raw = (
        b"POST /v1/Discover HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
        b"X-Polaris-Token: " + OPS.encode() + b"\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )
    data = _exchange(served.port, raw, 1)
    assert data.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 ")
    assert b"400202" in data


def test_the_date_header_is_the_stock_text_of_the_current_second():
    import email.utils
    import time

    from gateway.worker import http_date

    before = int(time.time())
    shown = http_date()
    after = int(time.time())
    assert shown in {email.utils.formatdate(t, usegmt=True) for t in range(before, after + 1)}
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"


def test_answers_carry_a_date_header(served):
    data = _exchange(served.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 1)
    assert b"\r\nDate: " in data and b" GMT\r\n" in data


def test_gunicorn_still_has_the_http_date_the_patch_replaces():
    """patch_http_date relies on gunicorn's util.http_date(timestamp=None)
    formatting a second as email.utils does, and on gunicorn's responses
    calling it through the module: fails when gunicorn changes either."""
    import email.utils
    import inspect
    import time

    from gunicorn.http import wsgi

    from gateway import worker

    stock = worker._stock_http_date
    assert stock.__module__ == "gunicorn.util" and stock.__name__ == "http_date"
    assert list(inspect.signature(stock).parameters.items()) == list(
        inspect.signature(worker.http_date).parameters.items()
    )
    for t in (0, 1, 951782400, 2**31 + 7, int(time.time())):
        assert worker.http_date(t) == stock(t) == email.utils.formatdate(t, usegmt=True)
    before = int(time.time())
    now = worker.http_date()
    assert now in {stock(t) for t in range(before, int(time.time()) + 1)}
    assert "util.http_date()" in inspect.getsource(wsgi.Response.default_headers)


def test_the_patches_replace_what_gunicorn_calls(monkeypatch):
    import inspect

    from gunicorn import util
    from gunicorn.http import parser
    from gunicorn.http.message import Request

    from gateway import worker

    monkeypatch.setattr(util, "http_date", util.http_date)  # restored after the test
    monkeypatch.setattr(parser.RequestParser, "mesg_class", parser.RequestParser.mesg_class)
    worker.patch_http_date()
    worker.patch_request_class()
    assert util.http_date is worker.http_date
    assert parser.RequestParser.mesg_class is worker._Request
    assert list(inspect.signature(Request.read_into).parameters) == ["self", "unreader", "buf", "stop"]


def _answers(data):
    return data.count(b"HTTP/1.1 200 ")


def test_a_connection_with_requests_queued_lets_another_connection_be_answered(served):
    """One client pipelines a thousand requests on one keep-alive connection;
    another client's single request, sent once the first answers arrive, is
    answered before the thousandth: the busy connection takes turns instead
    of keeping the worker until its queue is empty. Decided by order alone:
    when the other answer arrives, everything the busy connection was sent
    before it has been read first."""
    import select

    count = 1000
    one = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    last = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as busy:
        busy.sendall(one * (count - 1) + last)  # all in the kernel's buffers before it is served
        received = busy.recv(65536)
        assert received.startswith(b"HTTP/1.1 200 ")
        with socket.create_connection(("127.0.0.1", served.port), timeout=30) as other:
            other.sendall(last)
            busy.setblocking(False)
            answer = b""
            while not answer:
                readable, _, _ = select.select([busy, other], [], [], 30)
                assert readable, "no answer in 30 s"
                while True:  # the busy connection's bytes first, all that came
                    try:
                        chunk = busy.recv(65536)
                    except BlockingIOError:
                        break
                    if not chunk:
                        break
                    received += chunk
                if other in readable:
                    answer = other.recv(65536)
            before = _answers(received)
            assert answer.startswith(b"HTTP/1.1 200 ")
        busy.setblocking(True)
        while _answers(received) < count:
            chunk = busy.recv(65536)
            assert chunk, "the busy connection closed after %d answers" % _answers(received)
            received += chunk
    assert before < count  # the other client did not wait for the whole queue


def test_gevent_counts_the_polls_of_its_loop():
    """take_turns relies on the default loop's ``iteration`` (libev's
    ev_iteration): unchanged by sleep(0), advanced by a wait for I/O or time."""
    import gevent

    loop = gevent.get_hub().loop
    gevent.sleep(0)
    polls = loop.iteration
    gevent.sleep(0)
    assert loop.iteration == polls
    gevent.sleep(0.001)
    assert loop.iteration > polls


def test_the_gateways_own_steps_run_before_busy_connections_take_their_next_turn():
    """Under overload a write waits for a dozen of the gateway's own steps
    (kazoo handing over a ZooKeeper reply, the cache's worker told of a
    change), each resumed through a callback of the event loop. Connections
    that take turns wait behind those steps: each step waits for about
    TURN_SECONDS of other requests, not for a whole round of every busy
    connection. 20 connections of 1 ms requests: a round is 20 requests."""
    import time

    import gevent
    from gevent.event import AsyncResult

    from gateway.worker import TURN_SECONDS, take_turns

    served, stop = [0], []

    def connection():  # a closed-loop client on a keep-alive connection: its next request is always there
        while not stop:
            end = time.monotonic() + 0.001
            while time.monotonic() < end:
                pass
            served[0] += 1
            take_turns()

    def step():  # one of the gateway's own steps: resumed by a callback, as a ZooKeeper reply resumes it
        reply = AsyncResult()
        gevent.get_hub().loop.run_callback(reply.set, None)
        reply.get()

    connections = [gevent.spawn(connection) for _ in range(20)]
    gevent.sleep(0.05)  # all busy
    before = served[0]
    assert before >= 20  # every connection is being served
    for _ in range(10):
        step()
    during = served[0] - before
    stop.append(True)
    gevent.joinall(connections, timeout=10)
    # 10 steps: about 10 x 5 requests of 1 ms; behind whole rounds they would be 10 x 20
    assert during <= 10 * 2 * TURN_SECONDS / 0.001 < 10 * 20
