"""18,000 long polls parked on the one gevent worker (issue #14).

Two client processes hold 9,000 keep-alive connections each, every one a
poll of the same appid (as bench/discovery.py sends it) that parks. Then:

- how many parked (``soa_gateway_waiting_pollers``), how long that took, and
  every connect refused or timed out on the way. Connections are opened in
  rounds, the next round once the worker has parked the last, so that
  gunicorn's accept backlog (2048) is never overrun;
- the worker's RSS before parking (after a warm-up) and with all of them
  parked: per parked poll, and the worker at 20,000 polls extrapolated;
- one register to the polled appid: when the first, median and last poll
  answer after it, whether each answer is the code-0 one with the new
  instance, and the worker's CPU per woken poll;
- a third process renews 200 instances of another appid in a closed loop on
  a few connections: its latency while the polls are woken, next to the same
  loop at rest just before the register (and with nothing parked);
- the clients poll again on the same connections, park again, and a second
  register wakes them with no renews running: the wake's own CPU per poll.

Every time is ``time.monotonic()`` of the process that took it: on Linux
that is CLOCK_MONOTONIC, one clock for the whole machine, so times compare
across processes (checked in the driver and in each client process).
"""

import json
import math
import multiprocessing
import multiprocessing.connection
import re
import resource
import select
import socket
import statistics
import time
from collections import Counter

from bench.discovery import (
    _cpu_seconds,
    _form,
    _latest,
    _poll_target,
    _register,
    _register_body,
    _worker_pid,
    _worker_rss_mb,
)
from bench.harness import Figure
from bench.scale import metric

CLIENTS = 2
PER_CLIENT = 9000  # keep-alive connections per client process (20,000 files allowed per process here)
POLLS = CLIENTS * PER_CLIENT
ROUND = 500  # connections each client opens per round: 1,000 a round, under the accept backlog of 2048
ROUND_LIMIT = 20.0  # seconds a round may take to park before the next one starts anyway
PARK_LIMIT = 100.0  # seconds for all of them to park
WAKE_LIMIT = 60.0  # seconds for every poll to be answered after a register
CONNECT_TIMEOUT = 10.0
WARM = 100  # polls per client in the warm-up wave
RENEWED = 200  # instances the renew loop renews
RENEW_CONNECTIONS = 4
REST_SECONDS = 3.0
APPID, RENEW_APPID, WARM_APPID, OTHER_APPID = "bench.polls", "bench.renewed", "bench.polls-warm", "bench.other"
WAITING = "soa_gateway_waiting_pollers"
CLOCK = "clock_gettime(CLOCK_MONOTONIC)"

SECTIONS = {
    # longer than the whole run: no parked poll ends with -304 before the register
    "discovery": {"poll_timeout": 300},
    # no eviction sweep during the run (nothing here lapses within the ttl)
    "eviction": {"interval": 3600},
    # gunicorn's gevent worker serves at most worker_connections connections at
    # once and leaves the others unaccepted; gateway/serve.py's default (10,000)
    # would refuse most of the 18,000 polls, plus the renews and /metrics.
    "gunicorn": {"worker_connections": 20000},
}


# -- the client processes: raw sockets on epoll, cheap per answer ----------------------


def _client(pipe, port):
    """A client process: opens polls, reads their answers, on the driver's commands."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    client = _Polls(("127.0.0.1", port))
    while True:
        command, *args = pipe.recv()
        if command == "stop":
            client.close()
            return
        if command == "collect":
            pipe.send("collecting")
        pipe.send(getattr(client, command)(*args))


class _Polls:
    def __init__(self, address):
        self.address = address
        self.epoll = select.epoll()
        self.waiting = {}  # fd -> [socket, bytearray]: polls sent, not answered yet
        self.idle = {}  # fd -> socket: answered, the connection still open
        self.answers = []  # (monotonic time, status, body)
        self.lost = 0  # connections closed or reset before their answer
        self.errors = Counter()  # failed connects or sends, by kind
        self.slow = 0  # connects that took over half a second (a SYN resent: a full backlog)

    def status(self):
        return {
            "clock": time.get_clock_info("monotonic").implementation,
            "waiting": len(self.waiting),
            "answered": len(self.answers),
            "lost": self.lost,
            "errors": dict(self.errors),
            "slow": self.slow,
        }

    def open(self, count, target):
        request = ("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % target).encode()
        for _ in range(count):
            started = time.monotonic()
            sock = None
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.settimeout(CONNECT_TIMEOUT)
                sock.connect(self.address)
                sock.sendall(request)
            except OSError as exc:
                if sock is not None:
                    sock.close()
                self.errors[_kind(exc)] += 1
                continue
            if time.monotonic() - started > 0.5:
                self.slow += 1
            sock.setblocking(False)
            self.epoll.register(sock.fileno(), select.EPOLLIN)
            self.waiting[sock.fileno()] = [sock, bytearray()]
        self.pump(0)
        return self.status()

    def pump(self, timeout):
        for fd, _ in self.epoll.poll(timeout):
            sock, buf = self.waiting[fd]
            try:
                chunk = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            now = time.monotonic()
            if not chunk:
                self.epoll.unregister(fd)
                del self.waiting[fd]
                sock.close()
                self.lost += 1
                continue
            buf += chunk
            answer = _whole(buf)
            if answer:
                self.answers.append((now, *answer))
                self.epoll.unregister(fd)
                del self.waiting[fd]
                self.idle[fd] = sock

    def collect(self, limit, hostname):
        """Read answers until every poll has one (or ``limit`` seconds); then
        which were the code-0 answer listing ``hostname``."""
        deadline, lost = time.monotonic() + limit, self.lost
        while self.waiting and time.monotonic() < deadline:
            self.pump(0.05)
        verdicts = {}
        for _, status, body in self.answers:
            if (status, body) not in verdicts:
                verdicts[status, body] = _good(status, body, hostname)
        result = {
            "times": [t for t, _, _ in self.answers],
            "good": [verdicts[s, b] for _, s, b in self.answers],
            "bad": sorted({b[:200].decode("latin-1") for (s, b), ok in verdicts.items() if not ok})[:3],
            "unanswered": len(self.waiting),
            **self.status(),
            "lost": self.lost - lost,  # in this wave
        }
        self.answers = []
        return result

    def repoll(self, target):
        """Poll again on every answered connection still open."""
        request = ("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % target).encode()
        sent = 0
        for fd, sock in list(self.idle.items()):
            del self.idle[fd]
            try:
                if sock.send(request) != len(request):
                    raise BlockingIOError("request sent in part")
            except OSError as exc:
                sock.close()
                self.errors["repoll " + _kind(exc)] += 1
                continue
            self.epoll.register(fd, select.EPOLLIN)
            self.waiting[fd] = [sock, bytearray()]
            sent += 1
        self.pump(0)
        return {"sent": sent, **self.status()}

    def close(self):
        for fd, (sock, _) in list(self.waiting.items()):
            self.epoll.unregister(fd)
            sock.close()
        for sock in self.idle.values():
            sock.close()
        self.waiting, self.idle, self.answers = {}, {}, []
        self.lost, self.slow, self.errors = 0, 0, Counter()
        return self.status()


def _kind(exc):
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return type(exc).__name__ + (" errno %s" % exc.errno if exc.errno else "")


def _whole(buf):
    """(status, body) once ``buf`` holds a whole answer, else None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end])
    length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    length = int(length.group(1)) if length else 0
    if len(buf) < end + 4 + length:
        return None
    return int(head[9:12]), bytes(buf[end + 4 : end + 4 + length])


def _good(status, body, hostname):
    try:
        answer = json.loads(body)
        instances = answer["data"]["instances"].values()
    except (ValueError, KeyError, TypeError, AttributeError):
        return False
    return status == 200 and answer["code"] == 0 and any(i.get("hostname") == hostname for z in instances for i in z)


# -- the renew process: a closed loop on a few keep-alive connections --------------------


def _renewer(pipe, port, bodies, connections):
    """Renews while told to run ("run", "pause"); at "stop", sends every
    (start, end, ok) and what the failed renews got."""
    renews = _Renews(("127.0.0.1", port), bodies, connections)
    running = False
    while True:
        if pipe.poll(0 if running else None):
            (command,) = pipe.recv()
            if command == "stop":
                break
            running = command == "run"
            if not running:
                renews.finish()  # a pause leaves no renew in flight
            pipe.send("ok")
            continue
        renews.step(0.02)
    renews.finish()
    pipe.send((renews.samples, dict(renews.errors)))


class _Renews:
    """Each connection sends its next renew as soon as its last one is answered."""

    def __init__(self, address, bodies, connections):
        self.address = address
        self.bodies = bodies
        self.sent = 0
        self.epoll = select.epoll()
        self.connections = [[None, bytearray(), None] for _ in range(connections)]  # socket, buffer, started
        self.by_fd = {}
        self.samples = []  # (monotonic start, end, ok)
        self.errors = Counter()  # what the failed ones got

    def step(self, timeout, send=True):
        for connection in self.connections:
            if send and connection[2] is None:
                self._send(connection)
        for fd, _ in self.epoll.poll(timeout):
            connection = self.by_fd[fd]
            try:
                chunk = connection[0].recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self._done(connection, "connection closed")
                self._drop(connection)
                continue
            connection[1] += chunk
            answer = _whole(connection[1])
            if answer:
                ok = answer[0] == 200 and answer[1].startswith(b'{"code":0')
                self._done(connection, None if ok else "%d %s" % (answer[0], answer[1][:120].decode("latin-1")))

    def finish(self):
        deadline = time.monotonic() + 30
        while any(c[2] is not None for c in self.connections) and time.monotonic() < deadline:
            self.step(0.05, send=False)

    def _send(self, connection):
        body = self.bodies[self.sent % len(self.bodies)]
        self.sent += 1
        request = (
            "POST /discovery/renew HTTP/1.1\r\nHost: bench\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body)
        ).encode() + body
        connection[2] = time.monotonic()
        try:
            if connection[0] is None:
                sock = socket.create_connection(self.address, timeout=CONNECT_TIMEOUT)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                connection[0] = sock
                self.by_fd[sock.fileno()] = connection
                self.epoll.register(sock.fileno(), select.EPOLLIN)
            connection[0].settimeout(CONNECT_TIMEOUT)
            connection[0].sendall(request)
            connection[0].setblocking(False)
        except OSError as exc:
            self._done(connection, _kind(exc))
            self._drop(connection)

    def _done(self, connection, error):
        self.samples.append((connection[2], time.monotonic(), error is None))
        if error is not None:
            self.errors[error] += 1
        connection[1], connection[2] = bytearray(), None

    def _drop(self, connection):
        if connection[0] is not None:
            fd = connection[0].fileno()
            self.epoll.unregister(fd)
            del self.by_fd[fd]
            connection[0].close()
            connection[0] = None


# -- the driver ---------------------------------------------------------------------------


class _Process:
    """A child process and the driver's end of its pipe."""

    def __init__(self, context, target, *args):
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=target, args=(child, *args), daemon=True)
        self.process.start()
        child.close()

    def ask(self, *command):
        self.pipe.send(command)
        return self.pipe.recv()

    def end(self):
        if self.process.is_alive():
            try:
                self.pipe.send(("stop",))
            except OSError:
                pass
            self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


def _ask_all(clients, *command):
    for client in clients:
        client.pipe.send(command)
    return [client.pipe.recv() for client in clients]


def _parked(stack, count, deadline):
    """The waiting pollers once they reach ``count``, or at ``deadline``."""
    value = 0
    while True:
        try:
            value = int(metric(stack.url, WAITING))
        except OSError:  # a worker busy with thousands of requests at once answers /metrics late
            pass
        if value >= count or time.monotonic() >= deadline:
            return value
        time.sleep(0.05)


class _Wave:
    """One register and the answers of every parked poll to it."""

    def __init__(self, stack, clients, worker, appid, hostname):
        for client in clients:
            client.pipe.send(("collect", WAKE_LIMIT, hostname))
        for client in clients:
            assert client.pipe.recv() == "collecting"
        self.cpu = _cpu_seconds(worker)
        self.started = time.monotonic()
        stack.post("/discovery/register", _register_body(stack, appid, hostname))
        self.register_ms = (time.monotonic() - self.started) * 1000
        results, trace = {}, []  # trace: (time, worker CPU seconds), to read the CPU at the last answer
        pipes = [client.pipe for client in clients]
        while len(results) < len(pipes):
            for pipe in multiprocessing.connection.wait([p for p in pipes if p not in results], timeout=0.02):
                results[pipe] = pipe.recv()
            trace.append((time.monotonic(), _cpu_seconds(worker)))
        answers = [(t, ok) for r in results.values() for t, ok in zip(r["times"], r["good"], strict=True)]
        self.early = sum(1 for t, _ in answers if t < self.started)
        after = sorted(t - self.started for t, _ in answers if t >= self.started)
        self.good = sum(1 for t, ok in answers if ok and t >= self.started)
        self.unanswered = sum(r["unanswered"] for r in results.values())
        self.lost = sum(r["lost"] for r in results.values())
        self.bad = sum(1 for _, ok in answers if not ok) + self.unanswered + self.lost
        self.bodies = sorted({b for r in results.values() for b in r["bad"]})
        self.woken = len(after)
        self.clients = []  # per client: (answered, first, median, last) after the register, in ms
        for r in results.values():
            mine = sorted((t - self.started) * 1000 for t in r["times"] if t >= self.started)
            if mine:
                self.clients.append((len(mine), mine[0], statistics.median(mine), mine[-1]))
        self.clock = {r["clock"] for r in results.values()}
        self.first_ms = after[0] * 1000 if after else float("nan")
        self.median_ms = statistics.median(after) * 1000 if after else float("nan")
        # the last of them all: none left unanswered
        self.last_ms = after[-1] * 1000 if after and not self.unanswered else float("inf")
        self.ended = self.started + (after[-1] if after else 0.0)
        at_last = next((cpu for t, cpu in trace if t >= self.ended), trace[-1][1])
        self.cpu_seconds = at_last - self.cpu

    def say(self, name):
        print(
            "%s: register %.0f ms; %d woken, %d unanswered, %d closed, last %.0f ms; bad answers such as %s"
            % (name, self.register_ms, self.woken, self.unanswered, self.lost, self.last_ms, self.bodies or "none"),
            flush=True,
        )
        for n, (answered, first, median, last) in enumerate(self.clients, 1):
            print(
                "  client %d: %d answered; first %.0f ms, median %.0f ms, last %.0f ms after the register"
                % (n, answered, first, median, last),
                flush=True,
            )

    def cpu_us_per_poll(self, other_seconds=0.0):
        return (self.cpu_seconds - other_seconds) * 1e6 / max(self.woken, 1)


def _renews(samples, start, end, overlapping=False):
    """Sorted latencies (ms) of the renews within [start, end], or overlapping it."""
    if overlapping:
        chosen = [s for s in samples if s[0] < end and s[1] > start]
    else:
        chosen = [s for s in samples if s[0] >= start and s[1] <= end]
    return sorted((e - s) * 1000 for s, e, _ in chosen)


def _pct(latencies, share):
    if not latencies:
        return float("nan")
    return latencies[max(0, math.ceil(share * len(latencies)) - 1)]  # nearest rank


def _registers(stack, name, count=5):
    """Median ms of ``count`` registers to an appid nobody polls."""
    took = []
    for n in range(count):
        started = time.monotonic()
        stack.post("/discovery/register", _register_body(stack, OTHER_APPID, "%s-%d" % (name, n)))
        took.append((time.monotonic() - started) * 1000)
    return statistics.median(took)


def _busy(pid, seconds):
    """The share of a core ``pid`` used over the next ``seconds`` (%)."""
    before = _cpu_seconds(pid)
    time.sleep(seconds)
    return (_cpu_seconds(pid) - before) * 100 / seconds


def _open_files(pid):
    """Raise the worker's open-file limit to its hard one (the shell's soft limit may be 1024)."""
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (hard, hard))
        print("gateway worker: open files %d -> %d" % (soft, hard), flush=True)
    return hard


def run(stack):
    clock = time.get_clock_info("monotonic").implementation
    assert clock == CLOCK, "answer times compare across processes only on CLOCK_MONOTONIC, not %s" % clock
    worker = _worker_pid(stack)
    files = _open_files(worker)
    if files < POLLS + 100:
        print("gateway worker: %d open files allowed, fewer than %d polls need" % (files, POLLS), flush=True)
    for n in range(3):
        _register(stack, APPID, "host-%d" % n, n)
    _register(stack, WARM_APPID, "warm-0", 0)
    for n in range(RENEWED):
        _register(stack, RENEW_APPID, "renew-%d" % n, n)
    bodies = [
        _form({"key": stack.key, "zone": "sh001", "env": "prod", "appid": RENEW_APPID, "hostname": "renew-%d" % n})
        for n in range(RENEWED)
    ]
    context = multiprocessing.get_context("spawn")
    clients = [_Process(context, _client, stack.gateway.port) for _ in range(CLIENTS)]
    renewer = _Process(context, _renewer, stack.gateway.port, bodies, RENEW_CONNECTIONS)
    try:
        return _measure(stack, worker, clients, renewer)
    finally:
        for process in [*clients, renewer]:
            process.end()


def _measure(stack, worker, clients, renewer):
    # warm-up: a small wave parked and woken, and the renew loop, so that the
    # RSS before parking holds no first-use costs
    warm = _poll_target(stack, WARM_APPID, _latest(stack, WARM_APPID))
    _ask_all(clients, "open", WARM, warm)
    _parked(stack, CLIENTS * WARM, time.monotonic() + ROUND_LIMIT)
    _Wave(stack, clients, worker, WARM_APPID, "warm-1")
    _ask_all(clients, "close")
    renewer.ask("run")
    idle, cpu = time.monotonic(), _cpu_seconds(worker)
    time.sleep(REST_SECONDS)
    idle, idle_renews_cpu = (idle, time.monotonic()), _cpu_seconds(worker) - cpu
    renewer.ask("pause")
    idle_cpu = _busy(worker, 2.0)
    idle_register = _registers(stack, "idle")
    rss_before = _worker_rss_mb(stack)

    # park, in rounds: the next round once the last one's polls are parked
    target = _poll_target(stack, APPID, _latest(stack, APPID))
    started, opened = time.monotonic(), 0
    while opened < PER_CLIENT and time.monotonic() - started < PARK_LIMIT:
        count = min(ROUND, PER_CLIENT - opened)
        states = _ask_all(clients, "open", count, target)
        opened += count
        round_limit = min(started + PARK_LIMIT, time.monotonic() + ROUND_LIMIT)
        _parked(stack, sum(s["waiting"] for s in states), round_limit)
    states = _ask_all(clients, "status")
    parked = _parked(stack, sum(s["waiting"] for s in states), started + PARK_LIMIT)
    park_seconds = time.monotonic() - started
    rss = _worker_rss_mb(stack)
    parked_cpu = _busy(worker, 2.0)
    parked_register = _registers(stack, "parked")
    errors = Counter()
    for s in states:
        errors.update(s["errors"])
    slow = sum(s["slow"] for s in states)
    print(
        "parked %d of %d polls (%d connections tried) in %.1f s; failed connects %s, slow connects %d, "
        "answered early %d, closed unanswered %d"
        % (
            parked,
            POLLS,
            CLIENTS * opened,
            park_seconds,
            dict(errors) or "none",
            slow,
            sum(s["answered"] for s in states),
            sum(s["lost"] for s in states),
        ),
        flush=True,
    )

    # renews at rest with the polls parked, then one register wakes them all
    renewer.ask("run")
    rest = time.monotonic()
    rest_cpu = _cpu_seconds(worker)
    time.sleep(REST_SECONDS)
    wave = _Wave(stack, clients, worker, APPID, "trigger-1")
    renewer.ask("pause")
    wave.say("wake")

    # again on the same connections, parked, and woken with no renews running
    since = _latest(stack, APPID)
    started = time.monotonic()
    repolled = _ask_all(clients, "repoll", _poll_target(stack, APPID, since))
    reparked = _parked(stack, sum(r["waiting"] for r in repolled), started + PARK_LIMIT)
    repark_seconds = time.monotonic() - started
    again = _Wave(stack, clients, worker, APPID, "trigger-2")
    samples, renew_errors = renewer.ask("stop")
    print("%d re-polls sent, %d parked in %.1f s" % (sum(r["sent"] for r in repolled), reparked, repark_seconds))
    again.say("second wake")
    assert {CLOCK} == wave.clock == again.clock, (wave.clock, again.clock)

    # renews: idle (nothing parked), at rest (all parked, before the register), during the wake
    idle_ms = _renews(samples, *idle)
    rest_ms = _renews(samples, rest, wave.started)
    wake_ms = _renews(samples, wave.started, wave.ended, overlapping=True)
    # the renews' share of the worker's CPU during the wake, at their CPU cost at rest
    renew_cpu = (wave.cpu - rest_cpu) / max(len(rest_ms), 1)
    renews_in_wake = sum(1 for s in samples if wave.started <= s[0] < wave.ended)
    print(
        "renews: %d idle, %d at rest, %d during the wake (%.1f s); worker CPU a renew %.2f ms idle, %.2f ms at rest; "
        "%.1f s in the wake, %.0f us a woken poll with the renews; failed renews: %s"
        % (
            len(idle_ms),
            len(rest_ms),
            len(wake_ms),
            wave.ended - wave.started,
            idle_renews_cpu * 1000 / max(len(idle_ms), 1),
            renew_cpu * 1000,
            wave.cpu_seconds,
            wave.cpu_us_per_poll(),
            renew_errors or "none",
        ),
        flush=True,
    )

    per_poll_kb = (rss - rss_before) * 1024 / max(parked, 1)
    return [
        Figure("polls parked (%s)" % WAITING, parked, "", target=POLLS),
        Figure("connects refused, timed out or failed", sum(errors.values()), "", target=0, lower_is_better=True),
        Figure("seconds to park them, in rounds of %d" % (CLIENTS * ROUND), park_seconds, "s"),
        Figure("worker RSS: polls parked vs before (MB)", rss, "MB", rss_before),
        Figure("worker RSS per parked poll", per_poll_kb, "KB", target=8, lower_is_better=True),
        Figure(
            "worker RSS at 20,000 parked, extrapolated",
            rss_before + 20000 * per_poll_kb / 1024,
            "MB",
            target=250,
            lower_is_better=True,
        ),
        Figure("worker CPU at rest: polls parked vs none", parked_cpu, "%", idle_cpu),
        Figure("register, unpolled appid (ms): parked vs none", parked_register, "ms", idle_register),
        Figure("register that wakes them (ms)", wave.register_ms, "ms"),
        Figure("polls answered before the register", wave.early, "", target=0, lower_is_better=True),
        Figure("polls answered code 0 with the new instance", wave.good, "", target=POLLS),
        Figure("bad answers, closed or unanswered polls", wave.bad, "", target=0, lower_is_better=True),
        Figure("first answer after the register", wave.first_ms, "ms"),
        Figure("median answer after the register", wave.median_ms, "ms"),
        Figure("last answer after the register", wave.last_ms, "ms", target=1000, lower_is_better=True),
        Figure("wake spread: last answer after the first", wave.last_ms - wave.first_ms, "ms"),
        Figure("wake: worker CPU per poll, renews' share out", wave.cpu_us_per_poll(renews_in_wake * renew_cpu), "us"),
        Figure("renew p50 (ms): during the wake vs at rest", _pct(wake_ms, 0.5), "ms", _pct(rest_ms, 0.5)),
        Figure("renew p99 (ms): during the wake vs at rest", _pct(wake_ms, 0.99), "ms", _pct(rest_ms, 0.99)),
        Figure("renew p99 during the wake", _pct(wake_ms, 0.99), "ms", target=100, lower_is_better=True),
        Figure("renew max (ms): during the wake vs at rest", _pct(wake_ms, 1.0), "ms", _pct(rest_ms, 1.0)),
        Figure("renew p99 (ms) at rest: polls parked vs none", _pct(rest_ms, 0.99), "ms", _pct(idle_ms, 0.99)),
        Figure(
            "renew errors",
            sum(1 for *_, ok in samples if not ok),
            "",
            target=0,
            lower_is_better=True,
        ),
        Figure("re-polls parked on the same connections", reparked, ""),
        Figure("seconds to park the re-polls", repark_seconds, "s"),
        Figure("second wake, no renews: good answers", again.good, ""),
        Figure("second wake, no renews: last answer", again.last_ms, "ms"),
        Figure("second wake, no renews: worker CPU per poll", again.cpu_us_per_poll(), "us"),
    ]
