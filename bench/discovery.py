"""Discovery API: register, fetch, long polls and renew, each against a
baseline measured in the same run.

- register throughput (wrk, 50 connections) vs raw kazoo synchronous create;
- fetch of a 100-instance app vs the hello-world Flask endpoint;
- 5,000 concurrent polls held by the one gevent worker: its resident memory,
  how long until every poller has its answer after one register, and how
  fast a single parked poller is woken (median of 20);
- renew throughput, and ZooKeeper writes per renew from the server's zxid.
"""

import asyncio
import json
import os
import re
import statistics
import time
import urllib.parse

from bench.harness import Figure, wrk
from zk.server import four_letter

APPS = 20  # registrations spread over this many appids
POLLERS = 5000
# No eviction sweeps during the run: instances here never lapse (the run is
# shorter than the ttl), and a sweep's lock attempt is a write (a failed
# create still takes a zxid) that would blur "writes per renew".
SECTIONS = {"discovery": {"poll_timeout": 120}, "eviction": {"interval": 3600}}

# wrk: a form POST per request, its body made by BODY from a per-thread counter
_POST_LUA = """
local counter = 0
local threads = 0
setup = function(thread)
  thread:set("id", threads)
  threads = threads + 1
end
init = function(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
request = function()
  counter = counter + 1
  return wrk.format(nil, "%(path)s", nil, %(body)s)
end
"""
_REGISTER_LUA = _POST_LUA % {
    "path": "/discovery/register",
    "body": 'string.format("key=%(key)s&zone=sh001&env=prod&appid=bench.reg%%d&hostname=t%%d-%%d'
    '&addrs=http://10.1.%%d.%%d:8080&status=1", counter %% %(apps)d, id, counter, id, counter %% 250 + 1)',
}
_RENEW_LUA = _POST_LUA % {
    "path": "/discovery/renew",
    "body": 'string.format("key=%(key)s&zone=sh001&env=prod&appid=bench.fetch&hostname=host-%%d", counter %% 100)',
}


def _form(params):
    return urllib.parse.urlencode(params, doseq=True).encode()


def _register(stack, appid, hostname, n):
    params = {
        "key": stack.key,
        "zone": "sh001",
        "env": "prod",
        "appid": appid,
        "hostname": hostname,
        "addrs": "http://10.2.%d.%d:8080" % (n // 250, n % 250 + 1),
        "status": 1,
        "metadata": '{"weight":"10"}',
    }
    answer = json.loads(stack.post("/discovery/register", _form(params)))
    assert answer["code"] == 0, answer


def _zxid(stack):
    for line in four_letter(stack.zk.port, "srvr").splitlines():
        if line.startswith("Zxid:"):
            return int(line.split(":", 1)[1], 16)
    raise RuntimeError("no zxid in srvr")


def _lease_sets(client, appid="bench.fetch"):
    """How often the app's leases were written (the sum of their versions)."""
    path = "/soa/leases/" + appid
    return sum(client.exists("%s/%s" % (path, key)).version for key in client.get_children(path))


def _worker_pid(stack):
    """The gateway's (one) gunicorn worker."""
    master = str(stack.gateway.process.pid)
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % entry) as f:
                if entry.isdigit() and f.read().rsplit(")", 1)[1].split()[1] == master:
                    return int(entry)
        except OSError:
            continue
    raise RuntimeError("no gunicorn worker found")


def _worker_rss_mb(stack):
    with open("/proc/%d/status" % _worker_pid(stack)) as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    return int(status["VmRSS"].split()[0]) / 1024.0


def _cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load(stack, name, url, **options):
    """wrk on url, and a Figure of the worker's CPU per request (machine noise aside)."""
    pid = _worker_pid(stack)
    before = _cpu_seconds(pid)
    load = wrk(url, **options)
    cpu = (_cpu_seconds(pid) - before) * 1000.0 / max(load.requests, 1)
    return load, Figure("%s: gateway worker CPU per request" % name, cpu, "ms")


# -- raw HTTP on asyncio, for thousands of open polls --------------------------------


async def _http(port, method, target, body=b""):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = "%s %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n" % (method, target)
    if method == "POST":
        head += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n" % len(body)
    writer.write(head.encode() + b"\r\n" + body)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


def _latest(stack, appid, timeout=10.0):
    """The app's latest_timestamp, once this replica shows it."""
    deadline = time.monotonic() + timeout
    query = urllib.parse.urlencode({"appid": appid, "env": "prod", "status": 1, "key": stack.key})
    while True:
        answer = json.loads(stack.post("/discovery/fetch?" + query))
        if answer["code"] == 0 or time.monotonic() > deadline:
            return answer["data"]["latest_timestamp"]
        time.sleep(0.05)


def _poll_target(stack, appid, since):
    return "/discovery/poll?" + urllib.parse.urlencode(
        {"appid": appid, "env": "prod", "latest_timestamp": since, "key": stack.key}
    )


def _register_body(stack, appid, hostname):
    return _form(
        {
            "key": stack.key,
            "zone": "sh001",
            "env": "prod",
            "appid": appid,
            "hostname": hostname,
            "addrs": "http://10.3.0.1:8080",
            "status": 1,
        }
    )


async def _many_polls(stack, port):
    appid = "bench.poll"
    _register(stack, appid, "first", 1)
    since = _latest(stack, appid)
    target = _poll_target(stack, appid, since)
    answered, sent = [], []
    opening = asyncio.Semaphore(200)

    async def one():
        # keep-alive, as SDK clients poll: the answer is read by its length
        async with opening:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % target).encode())
            await writer.drain()
            sent.append(1)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
        body = await reader.readexactly(length)
        answered.append((time.monotonic(), json.loads(body)["code"]))
        writer.close()

    tasks = [asyncio.ensure_future(one()) for _ in range(POLLERS)]
    deadline = time.monotonic() + 60
    while len(sent) < POLLERS and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(3.0)  # every request read and parked by the worker
    early = len(answered)
    rss = _worker_rss_mb(stack)
    worker = _worker_pid(stack)
    cpu = _cpu_seconds(worker)
    started = time.monotonic()
    await _http(port, "POST", "/discovery/register", _register_body(stack, appid, "second"))
    await asyncio.wait(tasks, timeout=30)
    cpu = (_cpu_seconds(worker) - cpu) * 1000.0 / POLLERS
    ok = [t for t, code in answered if code == 0]
    last = max(ok) - started if len(ok) == POLLERS else float("inf")
    return rss, last, early, len(ok), cpu


async def _single_poll(stack, port, rounds=20):
    appid = "bench.single"
    _register(stack, appid, "r-0", 0)
    woken = []
    for n in range(1, rounds + 1):
        since = _latest(stack, appid)
        poll = asyncio.ensure_future(_http(port, "GET", _poll_target(stack, appid, since)))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await _http(port, "POST", "/discovery/register", _register_body(stack, appid, "r-%d" % n))
        answer = await poll
        assert answer["code"] == 0, answer
        woken.append((time.monotonic() - started) * 1000)
    return statistics.median(woken)


# -- the run ---------------------------------------------------------------------------


def _raw_rate(stack, path, operation, seconds):
    """Calls per second of ``operation(client, path)`` on a plain kazoo client, one at a time."""
    client = stack.kazoo()
    try:
        client.ensure_path(path)
        count, started = 0, time.monotonic()
        while time.monotonic() - started < seconds:
            operation(client, path)
            count += 1
        return count / (time.monotonic() - started)
    finally:
        client.stop()
        client.close()


def _raw_creates(stack, seconds=5.0):
    member = b'{"serviceEndpoint":{"host":"10.0.0.1","port":80}}'
    return _raw_rate(
        stack, "/bench-raw", lambda client, path: client.create(path + "/n", member, sequence=True), seconds
    )


def _raw_sets(stack, seconds=3.0):
    return _raw_rate(stack, "/bench-raw-set", lambda client, path: client.set(path, b""), seconds)


def run(stack):
    figures = []
    port = stack.gateway.port

    # register
    before = _raw_creates(stack)
    registers, cpu = _load(
        stack,
        "register",
        stack.url + "/discovery/register",
        duration=5,
        script=_REGISTER_LUA % {"key": stack.key, "apps": APPS},
    )
    raw = (before + _raw_creates(stack)) / 2  # the disk's fsync latency drifts: measure on both sides
    figures.append(Figure("register (req/s) vs raw kazoo sync create", registers.rps, "req/s", raw, target=0.7))
    figures.append(cpu)
    figures.append(Figure("register errors", registers.errors, "", target=0, lower_is_better=True))

    # fetch of a 100-instance app
    for n in range(100):
        _register(stack, "bench.fetch", "host-%d" % n, n)
    url = (
        stack.url
        + "/discovery/fetch?"
        + urllib.parse.urlencode({"appid": "bench.fetch", "env": "prod", "status": 3, "key": stack.key})
    )
    wrk(url, duration=2)  # warm up
    before = stack.hello_load(duration=5)
    fetches, cpu = _load(stack, "fetch", url, duration=5)
    after = stack.hello_load(duration=5)
    figures.append(
        Figure(
            "fetch, 100 instances (req/s) vs hello world",
            fetches.rps,
            "req/s",
            (before.rps + after.rps) / 2,
            target=0.5,
        )
    )
    figures.append(Figure("fetch p99 latency", fetches.p99_ms, "ms"))
    figures.append(cpu)
    figures.append(Figure("fetch errors", fetches.errors, "", target=0, lower_is_better=True))

    # renew: throughput and ZooKeeper writes per renew
    raw_sets = _raw_sets(stack)
    client = stack.kazoo()
    try:
        zxid, renewed = _zxid(stack), _lease_sets(client)
        renews, cpu = _load(
            stack, "renew", stack.url + "/discovery/renew", duration=5, script=_RENEW_LUA % {"key": stack.key}
        )
        time.sleep(1.0)  # renews wrk gave up waiting for still land
        writes, renewed = _zxid(stack) - zxid, _lease_sets(client) - renewed
    finally:
        client.stop()
        client.close()
    figures.append(Figure("renew (req/s) vs raw kazoo sync set", renews.rps, "req/s", raw_sets))
    figures.append(cpu)
    # every write the server made (zxid) per renew that reached it (lease versions)
    figures.append(
        Figure(
            "ZooKeeper writes per renew (x1000)",
            1000.0 * writes / max(renewed, 1),
            "",
            target=1000,
            lower_is_better=True,
        )
    )
    figures.append(Figure("renew errors", renews.errors, "", target=0, lower_is_better=True))

    # long polls
    rss, last, early, answered, cpu = asyncio.run(_many_polls(stack, port))
    figures.append(Figure("%d parked polls: worker RSS" % POLLERS, rss, "MB", target=250, lower_is_better=True))
    figures.append(Figure("%d polls: answered before the change" % POLLERS, early, "", target=0, lower_is_better=True))
    figures.append(Figure("%d polls: answered after one register" % POLLERS, answered, "", target=POLLERS))
    figures.append(
        Figure(
            "%d polls: last answer after the register" % POLLERS, last * 1000, "ms", target=2000, lower_is_better=True
        )
    )
    figures.append(Figure("%d polls: gateway worker CPU per woken poll" % POLLERS, cpu, "ms"))
    median = asyncio.run(_single_poll(stack, port))
    figures.append(
        Figure("single poll woken by a register (median of 20)", median, "ms", target=50, lower_is_better=True)
    )
    return figures
