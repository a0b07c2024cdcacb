"""Long polls parked without their greenlet (gateway/parking.py), on a real
gateway process: answered by a change or at their deadline as a poll that
waits in its greenlet is, on a connection that stays alive; cheap in memory;
refused in their dialect over the worker's limit of connections."""

import json
import os
import re
import signal
import socket
import time
import urllib.parse

import pytest

from gateway.parking import Parked
from tests.conftest import OPS, eventually
from tests.discovery_helpers import APPID, http

POLL_TIMEOUT = 3
SECTIONS = {"discovery": {"poll_timeout": POLL_TIMEOUT}}


class Conn:
    """One keep-alive HTTP/1.1 connection, read answer by answer."""

    def __init__(self, port, timeout=20):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, method, target, headers=""):
        self.sock.sendall(("%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (method, target, headers)).encode())

    def answer(self):
        """(status, {header: value}, body) of the next answer."""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers["content-length"])
        while len(self.buf) < length:
            self._more()
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(lines[0].split()[1]), headers, body

    def closed_by_server(self):
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the gateway")
        self.buf += chunk

    def close(self):
        self.sock.close()


def poll_target(since, appid=APPID, **extra):
    query = {"appid": appid, "env": "uat", "latest_timestamp": since, "key": OPS, **extra}
    return "/discovery/poll?" + urllib.parse.urlencode(query, doseq=True)


def register(gateway, hostname):
    answer = http(
        gateway.url,
        "/discovery/register",
        {
            "zone": "sh001",
            "env": "uat",
            "appid": APPID,
            "hostname": hostname,
            "addrs": "http://10.0.0.1:80",
            "status": 1,
        },
        method="POST",
    )
    assert answer["code"] == 0, answer


def latest(gateway):
    answer = http(gateway.url, "/discovery/fetch", {"appid": APPID, "env": "uat", "status": 1})
    return answer["data"]["latest_timestamp"]


def metric(gateway, name):
    text = http_text(gateway, "/metrics")
    found = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(found.group(1)) if found else 0.0


def http_text(gateway, path):
    import urllib.request

    with urllib.request.urlopen(gateway.url + path, timeout=10) as answer:
        return answer.read().decode()


def waiting(gateway):
    return metric(gateway, 'soa_gateway_waiting_pollers{zkidc="qa"}')


def worker_pid(gateway):
    children = open("/proc/%d/task/%d/children" % (gateway.process.pid, gateway.process.pid)).read().split()
    assert len(children) == 1, children
    return int(children[0])


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def park(gateway, count, since, parked_before=0):
    """``count`` connections, each with a poll parked; waits until the gateway counts them."""
    conns = [Conn(gateway.port) for _ in range(count)]
    for conn in conns:
        conn.send("GET", poll_target(since))
    eventually(lambda: waiting(gateway) == parked_before + count, timeout=60)
    return conns


@pytest.fixture
def gateway(gateway_process):
    served = gateway_process(sections=SECTIONS)
    register(served, "host-1")
    return served


def test_a_parked_poll_is_woken_by_a_register_and_its_connection_serves_on(gateway):
    conn = Conn(gateway.port)
    conn.send("GET", poll_target(latest(gateway)))
    eventually(lambda: waiting(gateway) == 1)
    register(gateway, "host-2")
    status, headers, body = conn.answer()
    answer = json.loads(body)
    assert status == 200 and answer["code"] == 0
    assert sorted(i["hostname"] for i in answer["data"]["instances"]["sh001"]) == ["host-1", "host-2"]
    assert headers["connection"] == "keep-alive" and headers["content-type"] == "application/json"
    assert re.fullmatch("[0-9a-f]{32}", headers["x-request-id"]) and headers["date"].endswith("GMT")
    assert waiting(gateway) == 0
    # the same connection: a poll answered at once, then one that parks and times out
    conn.send("GET", poll_target(0))
    assert json.loads(conn.answer()[2])["code"] == 0
    started = time.monotonic()
    conn.send("GET", poll_target(answer["data"]["latest_timestamp"]), "X-Request-Id: parked-then-expired\r\n")
    status, headers, body = conn.answer()
    assert time.monotonic() - started >= POLL_TIMEOUT - 0.5
    assert (status, json.loads(body)["code"]) == (200, -304)
    assert headers["x-request-id"] == "parked-then-expired"
    conn.close()


def test_every_poll_woken_by_one_change_gets_the_same_answer_and_is_counted(gateway):
    conns = park(gateway, 50, latest(gateway))
    before = metric(gateway, 'soa_gateway_requests_total{dialect="discovery",endpoint="poll",outcome="ok"}')
    register(gateway, "host-2")
    answers = [conn.answer() for conn in conns]
    assert {body for _, _, body in answers} == {answers[0][2]}
    assert json.loads(answers[0][2])["code"] == 0
    assert len({headers["x-request-id"] for _, headers, _ in answers}) == 50
    after = metric(gateway, 'soa_gateway_requests_total{dialect="discovery",endpoint="poll",outcome="ok"}')
    assert after - before == 50
    for conn in conns:
        conn.close()


def test_polls_of_several_appids_park_and_answer_only_the_changed_one(gateway):
    since = latest(gateway)
    query = {"appid": [APPID, "other.app"], "latest_timestamp": [since, 0], "env": "uat", "key": OPS}
    conn = Conn(gateway.port)
    conn.send("GET", "/discovery/polls?" + urllib.parse.urlencode(query, doseq=True))
    eventually(lambda: waiting(gateway) == 1)
    register(gateway, "host-2")
    answer = json.loads(conn.answer()[2])
    assert answer["code"] == 0 and list(answer["data"]) == [APPID]
    conn.close()


def test_a_client_gone_while_parked_is_forgotten_and_the_worker_serves_on(gateway):
    since = latest(gateway)
    gone = park(gateway, 20, since)
    for conn in gone:
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset
        conn.close()
    (stays,) = park(gateway, 1, since, parked_before=20)
    register(gateway, "host-2")
    assert json.loads(stays.answer()[2])["code"] == 0
    eventually(lambda: waiting(gateway) == 0)
    assert http(gateway.url, "/discovery/fetch", {"appid": APPID, "env": "uat", "status": 1})["code"] == 0
    assert "Traceback" not in gateway.log()
    stays.close()


def test_a_request_behind_a_poll_on_the_same_connection_is_answered_after_it(gateway):
    """A poll with the client's next request already sent behind it (pipelined)
    waits in its greenlet, which reads that request once the poll is answered."""
    conn = Conn(gateway.port)
    since = latest(gateway)
    conn.sock.sendall(
        ("GET %s HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" % poll_target(since)).encode()
    )
    eventually(lambda: waiting(gateway) == 1)
    register(gateway, "host-2")
    assert json.loads(conn.answer()[2])["code"] == 0
    assert json.loads(conn.answer()[2]) == {"status": "ok"}
    conn.close()


def test_a_stopping_worker_answers_its_parked_polls_at_once_and_closes(gateway_process):
    """Its clients then poll another replica instead of waiting out poll_timeout."""
    gateway = gateway_process(sections={"discovery": {"poll_timeout": 120}})
    register(gateway, "host-1")
    conn = Conn(gateway.port, timeout=60)  # well under the poll's 120 s
    conn.send("GET", poll_target(latest(gateway)))
    eventually(lambda: waiting(gateway) == 1)
    gateway.process.send_signal(signal.SIGTERM)
    status, headers, body = conn.answer()
    assert (status, json.loads(body)["code"], headers["connection"]) == (200, -304, "close")
    assert conn.closed_by_server()
    gateway.process.wait(40)


def test_a_parked_poll_costs_far_less_memory_than_a_greenlet(gateway):
    """1,500 parked polls: the worker's resident memory grows by less than
    4 KB a poll (a poll waiting in a greenlet costs about 20 KB)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    pid = worker_pid(gateway)
    since = latest(gateway)
    warm = park(gateway, 300, since)  # the first polls fill the worker's free heap
    before = rss_kb(pid)
    conns = []
    for batch in range(15):  # as polls arrive: not 1,500 requests in progress at once
        conns += park(gateway, 100, since, parked_before=300 + 100 * batch)
    grown = rss_kb(pid) - before
    assert grown / 1500 < 4, "%.1f KB a parked poll" % (grown / 1500)
    for conn in warm + conns:
        conn.close()


def test_over_its_limit_of_connections_a_worker_answers_503_in_the_dialect(gateway_process):
    gateway = gateway_process(sections={**SECTIONS, "gunicorn": {"worker_connections": 5}})
    register(gateway, "host-1")
    since = latest(gateway)
    scrapes = Conn(gateway.port)  # one connection of the five: the test's own, kept open

    def parked():
        scrapes.send("GET", "/metrics")
        text = scrapes.answer()[2].decode()
        return float(re.search(r'^soa_gateway_waiting_pollers\{zkidc="qa"\} (\S+)$', text, re.M).group(1))

    polls = [Conn(gateway.port) for _ in range(4)]
    for conn in polls:
        conn.send("GET", poll_target(since))
    eventually(lambda: parked() == 4, timeout=10)
    extra = Conn(gateway.port)  # the sixth
    extra.send("GET", poll_target(since))
    status, headers, body = extra.answer()
    answer = json.loads(body)
    assert (status, answer["code"]) == (200, -500)
    assert "holds 5 connections, its limit" in answer["message"]
    assert headers["connection"] == "close" and extra.closed_by_server()
    admin = Conn(gateway.port)
    admin.send("GET", "/servicelist?key=" + OPS)
    status, _, body = admin.answer()
    assert status == 503 and b"holds 5 connections, its limit" in body
    assert parked() == 4  # the parked polls wait on, unharmed
    scrapes.close()  # room for the register's connection
    eventually(lambda: register(gateway, "host-2") is None, timeout=10)
    assert all(json.loads(conn.answer()[2])["code"] == 0 for conn in polls)
    assert "holds at most 5 connections" in open(gateway.log_path).read()
    for conn in polls:
        conn.close()


def test_a_worker_raises_its_open_files_limit_and_logs_what_it_holds(gateway):
    pid = worker_pid(gateway)
    limits = open("/proc/%d/limits" % pid).read()
    soft, hard = re.search(r"Max open files\s+(\d+)\s+(\d+)", limits).groups()
    assert soft == hard
    expected = min(20000, int(soft) - 100)
    assert "holds at most %d connections" % expected in open(gateway.log_path).read()


class _Answered(Parked):
    """A parked request whose answer is ready, for the Lot alone."""

    def file(self):
        pass

    def unfile(self):
        pass

    def look(self, keepalive):
        return b"answer"

    def expired(self, keepalive):
        return b"expired"


def test_a_connection_answered_to_close_is_closed_at_once(monkeypatch):
    """Under the worker os.close is gevent's, which closes at the end of the
    event loop's next turn: an idle worker made the client of a poll
    answered with "Connection: close" wait up to a second for its end of file."""
    import gevent.os

    from gateway.parking import Lot

    monkeypatch.setattr(os, "close", gevent.os.close)  # as gevent's monkey-patching leaves it
    client, server = socket.socketpair()
    lot = Lot(lambda fd, listener, addr: None, keepalive=75)
    record = _Answered(60)
    lot.park(record, server, None, None)  # answered at once: its look has the answer
    client.setblocking(False)
    assert client.recv(100) == b"answer"
    assert client.recv(100) == b""  # closed already, before the loop turned


class _Waiting(Parked):
    """A parked request that has its answer once told so, for the Lot alone."""

    __slots__ = ("ready",)

    def file(self):
        self.ready = False

    def unfile(self):
        pass

    def look(self, keepalive):
        return b"answer" if self.ready else None

    def expired(self, keepalive):
        return b"expired"


def test_requests_woken_before_their_deadline_are_not_kept_until_it(monkeypatch):
    """Polls woken by frequent changes, and the rests of their connections
    that end with the client's next poll, would otherwise pile up in the lot
    until their deadline: hundreds of thousands under a change a second."""
    import gevent

    from gateway.parking import Lot

    monkeypatch.setattr(Lot, "SLACK", 10)
    resumed = []
    lot = Lot(lambda fd, listener, addr: resumed.append(socket.socket(fileno=fd)), keepalive=75)
    clients = []

    def park(ready, keepalive=True):
        client, server = socket.socketpair()
        clients.append(client)
        record = _Waiting(600)
        record.keepalive = keepalive
        lot.park(record, server, None, None)
        record.ready = ready
        return record

    park(ready=False)  # a poll that waits on: at the head of the parked, as in a busy worker
    park(ready=True).wake()  # answered, and its client sends nothing more: at the head of the rests
    for _ in range(5):  # five changes, each waking the 40 polls parked since the last
        records = [park(ready=True) for _ in range(40)]
        for record in records:
            record.wake()
        gevent.sleep(0.05)
        assert all(record.fd == -1 for record in records) and lot.count == 1
        for client in clients[-40:]:  # each reads its answer and sends its next request
            assert client.recv(100) == b"answer"
            client.sendall(b"GET")
        gevent.sleep(0.05)
        assert lot.resting == 1
    assert len(lot._queue) <= 2 * 40 + 10  # 200 without the rebuilds
    assert len(lot._rests) <= 2 * 40 + 10
    lot.close()
    for sock in clients + resumed:
        sock.close()


def test_a_failure_while_a_parked_poll_is_answered_is_its_answer_in_the_envelope(app, client, mocker):
    """Answered by the worker, outside any request: the same discovery envelope
    a poll waiting in its greenlet gets (tests/test_discovery_lane.py)."""
    from gateway import logs
    from gateway.discovery import lane as discovery_lane
    from tests.discovery_helpers import register as register_in

    register_in(client, hostname="h1")
    poll_lane = app.wsgi_app
    while not isinstance(poll_lane, discovery_lane.PollLane):
        poll_lane = poll_lane.wsgi_app
    catalog = app.extensions["soa"].registry.get("qa")
    record = discovery_lane.ParkedPoll(
        poll_lane, logs.Begun("r" * 32, time.monotonic()), "poll", "ops", catalog,
        poll_lane.discovery, {APPID: 0}, "uat", "", False,
    )  # fmt: skip
    mocker.patch.object(discovery_lane, "look", side_effect=RuntimeError("the cache broke"))
    answer = record.look(keepalive=True)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nConnection: keep-alive" in head
    assert b"\r\nX-Request-Id: " + b"r" * 32 in head
    assert json.loads(body) == {"code": -500, "message": "internal error", "ttl": 1}


class _Clock:
    """time.monotonic for the Lot, moved on only by the work below: slices
    are then the same however busy the machine running the test is."""

    def __init__(self):
        self.now = time.monotonic()

    def monotonic(self):
        return self.now


class _Slow(_Waiting):
    """A woken request whose answer takes ``cost`` seconds (of ``clock``) to make."""

    __slots__ = ("cost", "clock")

    def look(self, keepalive):
        if not self.ready:
            return None
        self.clock.now += self.cost
        return b"answer"


def _slow_lot(monkeypatch, count, cost):
    """A Lot on a clock of its own (``_Clock``) with ``count`` parked
    requests whose answers cost ``cost`` each: (clock, lot, records, clients)."""
    import types

    from gateway import parking
    from gateway.parking import Lot

    clock = _Clock()
    monkeypatch.setattr(parking, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    lot = Lot(lambda fd, listener, addr: None, keepalive=75)
    records, clients = [], []
    for _ in range(count):
        client, server = socket.socketpair()
        clients.append(client)
        record = _Slow(600)
        record.cost, record.clock, record.keepalive = cost, clock, False
        lot.park(record, server, None, None)
        records.append(record)
    return clock, lot, records, clients


def _answered_all(lot):
    """Wait until the Lot's answering greenlet has ended: it may still be in
    the pause after its last answer when the last client has read it."""
    import gevent

    deadline = time.monotonic() + 10
    while lot._answering is not None and time.monotonic() < deadline:
        gevent.sleep(0.001)
    assert lot._answering is None


def test_woken_requests_get_most_of_a_busy_worker_and_the_others_still_run(monkeypatch):
    """A wake of thousands of polls answers in slices; while other requests
    keep the worker busy between them, the slices grow (to four times the
    others' time, up to LONGEST), so the wake is not slowed to the pace of
    a closed loop of renews, and the others still get their turns."""
    import gevent

    from gateway.parking import LONGEST, SLICE

    cost = 0.00005
    clock, lot, records, pairs = _slow_lot(monkeypatch, 2000, cost)
    answered_at_turns = []

    def busy():  # another request's work: 5 ms at a time, whenever it gets the worker
        while any(record.fd >= 0 for record in records):
            answered_at_turns.append(sum(record.fd < 0 for record in records))
            clock.now += 0.005
            gevent.sleep(0.0001)

    other = gevent.spawn(busy)
    gevent.sleep(0.01)  # the busy one has started
    for record in records:
        record.ready = True
        record.wake()
    other.join(timeout=30)
    _answered_all(lot)
    per_turn = sorted(b - a for a, b in zip(answered_at_turns, answered_at_turns[1:], strict=False) if b > a)
    assert all(record.fd == -1 for record in records) and lot.count == 0
    assert len(per_turn) >= 5  # the other kept running while they were answered
    # answers between two of its turns: 40 in slices of SLICE (2 ms), 300 in slices of LONGEST (15 ms)
    assert per_turn[len(per_turn) // 2] >= 0.75 * LONGEST / cost > 3 * SLICE / cost
    lot.close()
    for client in pairs:
        client.close()


@pytest.mark.parametrize("hold", [1.0, 0.01])
def test_the_garbage_collector_waits_while_polls_are_woken_but_not_longer_than_gc_hold(monkeypatch, hold):
    """A full collection with thousands of polls parked takes 40 to 60 ms;
    during a wake it would hold up every renew in flight, so it waits for
    the wake's end, or GC_HOLD seconds of it."""
    import gc

    import gevent

    from gateway import parking

    monkeypatch.setattr(parking, "GC_HOLD", hold)
    clock, lot, records, pairs = _slow_lot(monkeypatch, 500, 0.0001)
    during = []  # a collection started between the first answer and the last

    def collecting(phase, info):
        fds = [record.fd for record in records]
        if phase == "start" and -1 in fds and max(fds) >= 0:
            during.append(info["generation"])

    def busy():  # another request's work, making cyclic garbage whenever it runs
        while any(record.fd >= 0 for record in records):
            for _ in range(2000):
                junk = []
                junk.append(junk)
            clock.now += 0.001
            gevent.sleep(0.0001)

    other = gevent.spawn(busy)
    gevent.sleep(0.01)
    gc.callbacks.append(collecting)
    try:
        for record in records:
            record.ready = True
            record.wake()
        other.join(timeout=30)
        _answered_all(lot)
    finally:
        gc.callbacks.remove(collecting)
    assert all(record.fd == -1 for record in records)
    assert gc.isenabled()
    if hold > 0.05 + 0.1:  # 500 answers of 0.1 ms and the busy one's turns: about 0.06 s
        assert during == []
    else:
        assert during  # it had its turn
    lot.close()
    for client in pairs:
        client.close()


def test_the_collector_stays_held_until_the_last_holder_lets_go():
    """The sweeper answering expired polls and the greenlet answering woken
    ones both hold the collector back: the one that ends first must not let
    it run in the middle of the other's wake, and a collector that was off
    before stays off."""
    import gc

    from gateway.parking import _hold_gc, _release_gc

    assert gc.isenabled()
    _hold_gc()  # a wake
    _hold_gc()  # a sweep, meanwhile
    _release_gc()  # the sweep ends
    assert not gc.isenabled()
    _release_gc()  # the wake ends
    assert gc.isenabled()
    gc.disable()
    try:
        _hold_gc()
        _release_gc()
        assert not gc.isenabled()
    finally:
        gc.enable()
