"""Fairness under a closed-loop overload: 50 connections on the one worker,
each sending its next request as soon as its answer is in.

The gateway gets a mix: 45 connections read (discovery fetch of a
100-instance app, Polaris discover type 1 with and without the current
revision, in turn) while 5 renew leases, writes that wait on ZooKeeper
between reads that do not. A second mix puts 10 connections registering
instances (again and again, each replacing its last: a dozen steps of the
gateway's own, writes and the cache's reads) beside 40 reading. The baseline is hello-world under the same 50
connections, before and after; the renews alone on their 5 connections show
ZooKeeper's share of a renew's latency (a synced write). What is measured is the tail a client sees
when the worker cannot keep up: p50 and p99 latency and requests wrk gave up
on (no answer in 2 s), not throughput (bench/polaris.py and
bench/discovery.py measure that).
"""

import json
import threading
import urllib.parse
from typing import NamedTuple

from bench import discovery, polaris
from bench.harness import KEY, Figure, wrk

SECTIONS = {"eviction": {"interval": 3600}}  # no sweeps: renews are the only writes
CONNECTIONS = 50
WRITERS = 5  # of the connections, those renewing
REGISTERING = 10  # of the connections in the second mix, those registering
SECONDS = 10
TIMEOUT = 2.0  # wrk's own default, said out loud

# wrk: each connection sends the next request of the list, in turn
_READS_LUA = """
local requests
local n = 0
init = function(args)
  local polaris = {["Content-Type"] = "application/json", ["X-Polaris-Token"] = "%(key)s"}
  requests = {
    wrk.format("GET", "%(fetch)s"),
    wrk.format("POST", "/v1/Discover", polaris, [==[%(polled)s]==]),
    wrk.format("POST", "/v1/Discover", polaris, [==[%(full)s]==]),
    wrk.format("POST", "/v1/Discover", polaris, [==[%(polled)s]==]),
  }
end
request = function()
  n = n + 1
  return requests[n %% #requests + 1]
end
"""


def _data(stack):
    """A 100-instance discovery app and a 100-instance Polaris service; the Lua for reading them."""
    for n in range(100):
        discovery._register(stack, "bench.fetch", "host-%d" % n, n)
    created = polaris._call(
        stack, "/naming/v1/services", [{"name": polaris.SERVICE, "namespace": "default", "business": "bench"}]
    )
    assert created["code"] == 200000, created
    for i in range(100):
        stack.post("/addserver?destName=%s&key=%s&serverHost=10.0.1.%d&serverPort=8080" % (polaris.SERVICE, KEY, i + 1))
    ask = {"type": 1, "service": {"name": polaris.SERVICE, "namespace": "default"}}
    full = polaris._call(stack, "/v1/Discover", ask)
    assert full["code"] == 200000 and len(full["instances"]) == 100, full.get("info")
    polled = dict(ask, service=dict(ask["service"], revision=full["service"]["revision"]))
    fetch = "/discovery/fetch?" + urllib.parse.urlencode(
        {"appid": "bench.fetch", "env": "prod", "status": 3, "key": KEY}
    )
    return _READS_LUA % {"key": KEY, "fetch": fetch, "polled": json.dumps(polled), "full": json.dumps(ask)}


class Writes(NamedTuple):
    path: str
    lua: str
    connections: int


# renews of the 100 fetched instances; registers of 10 appids, each connection's
# hostnames over again, so that after the first second each replaces one
RENEWS = Writes("/discovery/renew", discovery._RENEW_LUA % {"key": KEY}, WRITERS)
REGISTERS = Writes("/discovery/register", discovery._REGISTER_LUA % {"key": KEY, "apps": 10}, REGISTERING)


def _writes(stack, writes, seconds):
    return wrk(
        stack.url + writes.path,
        duration=seconds,
        connections=writes.connections,
        threads=1,
        script=writes.lua,
        timeout=TIMEOUT,
    )


def _mix(stack, reads_lua, seconds, writes=RENEWS):
    """Reads and ``writes`` at once, each on their own connections: (reads, writes) Loads."""
    done = {}

    def write():
        done["load"] = _writes(stack, writes, seconds)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        reads = wrk(
            stack.url, duration=seconds, connections=CONNECTIONS - writes.connections, script=reads_lua, timeout=TIMEOUT
        )
    finally:
        writer.join()
    return reads, done["load"]


def run(stack):
    reads_lua = _data(stack)
    _mix(stack, reads_lua, 2)  # warm up
    alone = _writes(stack, RENEWS, SECONDS // 2)
    before = wrk(stack.hello_url, duration=SECONDS, connections=CONNECTIONS, timeout=TIMEOUT)
    reads, renews = _mix(stack, reads_lua, SECONDS)
    after = wrk(stack.hello_url, duration=SECONDS, connections=CONNECTIONS, timeout=TIMEOUT)
    _writes(stack, REGISTERS, 2)  # the instances exist: from here on each register replaces one
    registers_alone = _writes(stack, REGISTERS, SECONDS // 2)
    _, registers = _mix(stack, reads_lua, SECONDS, REGISTERS)
    hello_p50, hello_p99 = (before.p50_ms + after.p50_ms) / 2, (before.p99_ms + after.p99_ms) / 2
    label = "%d connections:" % CONNECTIONS
    return [
        Figure("%s reads p50 latency" % label, reads.p50_ms, "ms"),
        Figure("%s hello world p50 latency" % label, hello_p50, "ms"),
        Figure("%s reads p99 latency" % label, reads.p99_ms, "ms", target=150, lower_is_better=True),
        Figure("%s renews p99 latency" % label, renews.p99_ms, "ms", target=150, lower_is_better=True),
        Figure("%s hello world p99 latency" % label, hello_p99, "ms"),
        Figure("renews alone (%d connections) p99 latency" % WRITERS, alone.p99_ms, "ms"),
        Figure("%s reads timed out" % label, reads.timeouts, "", target=0, lower_is_better=True),
        Figure("%s renews timed out" % label, renews.timeouts, "", target=0, lower_is_better=True),
        Figure("%s hello world timed out" % label, before.timeouts + after.timeouts, ""),
        Figure(
            "%s errors (timeouts included)" % label, reads.errors + renews.errors, "", target=0, lower_is_better=True
        ),
        Figure(
            "%d registering beside %d reading: p50 latency" % (REGISTERING, CONNECTIONS - REGISTERING),
            registers.p50_ms,
            "ms",
            registers_alone.p50_ms,
        ),
        Figure(
            "%d registering beside %d reading: p99 latency" % (REGISTERING, CONNECTIONS - REGISTERING),
            registers.p99_ms,
            "ms",
            registers_alone.p99_ms,
        ),
        Figure(
            "%d registering beside %d reading: timed out or failed" % (REGISTERING, CONNECTIONS - REGISTERING),
            registers.errors,
            "",
            target=0,
            lower_is_better=True,
        ),
        Figure(
            "%s reads and renews (req/s) vs hello world" % label,
            reads.rps + renews.rps,
            "req/s",
            (before.rps + after.rps) / 2,
        ),
    ]
