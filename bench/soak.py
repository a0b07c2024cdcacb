"""Soak: minutes of steady load on two gateway replicas sharing one ZooKeeper.

    python -m bench.soak [--seconds 180] [--instances 1000] [--pollers 500] [--churn 10] [--ensemble]

On loopback only, bounded in time, it stops by itself. It starts one real
ZooKeeper server (three with ``--ensemble``) and two gateway processes as
deployed (``soa-gateway serve --config``, one gevent worker each), then:

- registers ``--instances`` discovery instances over 50 appids, half through
  each replica, and renews every one of them every ``--renew`` seconds
  through either replica;
- keeps ``--pollers`` long polls open (``/discovery/poll``), each following
  one appid from its latest_timestamp, spread over both replicas;
- churns: ``--churn`` operations a second, registering short-lived
  instances on the same appids and cancelling them again.

At the end it compares every acknowledged registration (minus the
acknowledged cancels) with what a plain kazoo client finds in ZooKeeper, and
reports errors, lost and ghost registrations, latencies, and the resident
memory of each gateway process sampled over the run. The exit status is 1
when anything failed (an error, a lost or ghost registration, memory that
kept growing). ``python -m bench`` does not run it (see bench/__main__.py):
``make soak`` does.
"""

if __name__ == "__main__":
    from gevent import monkey

    monkey.patch_all()

import argparse
import collections
import http.client
import json
import os
import random
import sys
import tempfile
import time
import urllib.parse

import gevent
from gevent.pool import Group

from gateway.testing import GatewayProcess
from zk.server import Ensemble, ZooKeeperServer, ensure_paths

KEY = "soak-key-0000001"
APPIDS = 50
ENV = "soak"
WARMUP = 30.0  # seconds before memory is expected to be flat


class Replica:
    """One gateway process and what the soak saw of it."""

    def __init__(self, process):
        self.process = process
        self.url = process.url
        self.port = process.port
        self.rss = []  # (seconds since start, MiB)

    def pids(self):
        """The gunicorn master and its workers."""
        master = self.process.process.pid
        found = [master]
        for status in os.listdir("/proc"):
            if status.isdigit():
                try:
                    with open("/proc/%s/stat" % status) as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == master:
                    found.append(int(status))
        return found

    def sample_rss(self, at):
        total = 0
        for pid in self.pids():
            try:
                with open("/proc/%d/status" % pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except OSError:
                continue
        self.rss.append((round(at), round(total / 1024.0, 1)))


class Client:
    """A keep-alive HTTP connection of one simulated client (one greenlet)."""

    def __init__(self, replica):
        self.replica = replica
        self.connection = None

    def call(self, method, path, params, timeout=15.0):
        body = urllib.parse.urlencode({**params, "key": KEY}, doseq=True)
        if method == "GET":
            path, body = path + "?" + body, None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.replica.port, timeout=timeout)
            try:
                self.connection.request(method, path, body=body, headers=headers)
                answer = self.connection.getresponse()
                data = answer.read()
                return answer.status, json.loads(data)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()  # a keep-alive connection the server closed: once more on a new one
                if attempt == 2:
                    raise
            except Exception:
                self.close()
                raise

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class Soak:
    def __init__(self, args, replicas):
        self.args = args
        self.replicas = replicas
        self.started = time.monotonic()
        self.stopping = False
        self.latency = collections.defaultdict(list)  # kind -> seconds
        self.counts = collections.Counter()
        self.errors = collections.Counter()
        self.samples = []  # first error messages
        self.alive = {}  # (appid, hostname) -> acknowledged and not cancelled
        self.unknown = set()  # whose last write failed without saying whether it happened

    # -- bookkeeping ------------------------------------------------------------

    def error(self, kind, what):
        self.errors[kind] += 1
        if len(self.samples) < 20:
            self.samples.append("%s: %s" % (kind, str(what)[:300]))

    def timed(self, kind, client, method, path, params):
        started = time.monotonic()
        try:
            status, doc = client.call(
                method, path, params, timeout=self.args.poll_timeout + 15 if kind == "poll" else 15
            )
        except Exception as exc:  # noqa: BLE001 - counted and reported
            self.error(kind, "%s %s" % (type(exc).__name__, exc))
            return None
        if kind != "poll":
            self.latency[kind].append(time.monotonic() - started)
        self.counts[kind] += 1
        if status != 200:
            self.error(kind, "HTTP %d %s" % (status, doc))
            return None
        return doc

    # -- the clients ---------------------------------------------------------------

    def register(self, client, appid, hostname, n, kind="register"):
        params = {
            "zone": "sh001",
            "env": ENV,
            "appid": appid,
            "hostname": hostname,
            "status": 1,
            "addrs": "http://10.%d.%d.%d:8080" % (n // 65536 % 256, n // 256 % 256, n % 256),
        }
        doc = self.write(kind, client, "/discovery/register", (appid, hostname), params)
        if doc is not None and doc["code"] == 0:
            self.alive[(appid, hostname)] = True
            return True
        if doc is not None:
            self.error(kind, doc)
        return False

    def write(self, kind, client, path, identity, params):
        """A register or cancel; a failure that may or may not have written is remembered."""
        doc = self.timed(kind, client, "POST", path, params)
        if doc is None or doc["code"] == -500:
            self.unknown.add(identity)
        else:
            self.unknown.discard(identity)
        return doc

    def renewer(self, instances, offset):
        """Renews its instances every --renew seconds, alternating replicas."""
        clients = [Client(r) for r in self.replicas]
        gevent.sleep(offset)
        turn = 0
        while not self.stopping:
            started = time.monotonic()
            for appid, hostname, n in instances:
                if self.stopping:
                    break
                turn += 1
                client = clients[turn % len(clients)]
                doc = self.timed(
                    "renew",
                    client,
                    "POST",
                    "/discovery/renew",
                    {"zone": "sh001", "env": ENV, "appid": appid, "hostname": hostname},
                )
                if doc is not None and doc["code"] != 0:
                    self.error("renew", "%s/%s: %s" % (appid, hostname, doc))
                    if doc["code"] == -404:  # as the SDK does: register again
                        self.register(client, appid, hostname, n, kind="re-register")
            gevent.sleep(max(0.0, self.args.renew - (time.monotonic() - started)))
        for client in clients:
            client.close()

    def poller(self, appid, replica):
        client = Client(replica)
        latest = 0
        while not self.stopping:
            doc = self.timed(
                "poll", client, "GET", "/discovery/poll", {"appid": appid, "env": ENV, "latest_timestamp": latest}
            )
            if doc is None:
                gevent.sleep(1.0)
                continue
            if doc["code"] == 0:
                data = doc["data"]
                listed = sum(len(zone) for zone in data["instances"].values())
                if listed == 0:
                    self.error("poll", "%s: an empty list" % appid)
                if data["latest_timestamp"] <= latest:
                    self.error(
                        "poll", "%s: latest_timestamp went from %d to %d" % (appid, latest, data["latest_timestamp"])
                    )
                latest = data["latest_timestamp"]
                self.counts["poll changes"] += 1
            elif doc["code"] == -304:
                self.counts["poll unchanged"] += 1
            else:
                self.error("poll", doc)
                gevent.sleep(1.0)
        client.close()

    def churner(self, number, rate):
        """Registers a short-lived instance, cancels it 5..20 s later."""
        clients = [Client(r) for r in self.replicas]
        due = []  # (when, appid, hostname)
        serial = 0
        interval = 1.0 / rate
        while not self.stopping:
            started = time.monotonic()
            now = time.monotonic()
            if due and due[0][0] <= now:
                _, appid, hostname = due.pop(0)
                doc = self.write(
                    "cancel",
                    random.choice(clients),
                    "/discovery/cancel",
                    (appid, hostname),
                    {"zone": "sh001", "env": ENV, "appid": appid, "hostname": hostname},
                )
                if doc is not None and doc["code"] == 0:
                    self.alive.pop((appid, hostname), None)
                elif doc is not None:
                    self.error("cancel", "%s/%s: %s" % (appid, hostname, doc))
            else:
                serial += 1
                appid = "soak.app%02d" % random.randrange(APPIDS)
                hostname = "churn-%d-%d" % (number, serial)
                if self.register(
                    random.choice(clients), appid, hostname, 200000 + number * 10000 + serial, kind="churn register"
                ):
                    due.append((now + random.uniform(5, 20), appid, hostname))
                    due.sort()
            gevent.sleep(max(0.0, interval - (time.monotonic() - started)))
        for client in clients:
            client.close()

    def sampler(self):
        while not self.stopping:
            at = time.monotonic() - self.started
            for replica in self.replicas:
                replica.sample_rss(at)
            gevent.sleep(self.args.sample)

    # -- the run ---------------------------------------------------------------------

    def run(self):
        args = self.args
        instances = [("soak.app%02d" % (n % APPIDS), "host-%04d" % n, n) for n in range(args.instances)]
        group, pollers = Group(), Group()  # writers (and the sampler) finish what they do; pollers are stopped
        group.spawn(self.sampler)
        # Register everyone (20 at a time), half through each replica.
        clients = [Client(self.replicas[n % 2]) for n in range(20)]
        queue = list(instances)

        def registrar(client):
            while queue:
                appid, hostname, n = queue.pop()
                self.register(client, appid, hostname, n)

        Group().map(registrar, clients)
        registered = time.monotonic() - self.started
        print("registered %d instances in %.1f s" % (len(self.alive), registered), flush=True)
        # Renew them, spread evenly over the renew interval, 20 instances per renewer.
        for start in range(0, len(instances), 20):
            group.spawn(self.renewer, instances[start : start + 20], args.renew * start / max(1, len(instances)))
        for n in range(args.pollers):
            pollers.spawn(self.poller, "soak.app%02d" % (n % APPIDS), self.replicas[n % 2])
        churners = max(1, int(args.churn // 2))
        for n in range(churners):
            group.spawn(self.churner, n, args.churn / churners)
        deadline = self.started + args.seconds
        while time.monotonic() < deadline:
            gevent.sleep(min(10.0, max(0.0, deadline - time.monotonic())))
            elapsed = time.monotonic() - self.started
            rss = ", ".join("%.0f MiB" % r.rss[-1][1] for r in self.replicas if r.rss)
            print(
                "%4.0f s: %s; errors %d; rss %s"
                % (
                    elapsed,
                    ", ".join("%s %d" % kv for kv in sorted(self.counts.items())),
                    sum(self.errors.values()),
                    rss,
                ),
                flush=True,
            )
        self.stopping = True
        pollers.kill(timeout=5)
        group.join(timeout=30)
        group.kill(timeout=5)
        return time.monotonic() - self.started


def percentile(values, share):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def compare(soak, hosts):
    """Acknowledged registrations against ZooKeeper: (lost, ghosts, duplicated)."""
    from kazoo.client import KazooClient

    client = KazooClient(hosts=hosts + "/qa")
    client.start(timeout=30)
    try:
        found = collections.Counter()
        for appid in client.get_children("/soa/services"):
            path = "/soa/services/" + appid
            for child in client.get_children(path):
                if child.startswith("member_"):
                    data, _ = client.get("%s/%s" % (path, child))
                    found[(appid, json.loads(data).get("instance", {}).get("hostname"))] += 1
    finally:
        client.stop()
        client.close()
    expected = set(soak.alive)
    unknown = soak.unknown  # outcome not known: neither lost nor ghost
    lost = sorted(expected - set(found) - unknown)
    ghosts = sorted(set(found) - expected - unknown)
    duplicated = sorted(k for k, n in found.items() if n > 1)
    return lost, ghosts, duplicated, sum(found.values())


def memory_verdict(replica, limit_mib):
    """(growth after warm-up in MiB, flat?) from the RSS samples."""
    settled = [mib for at, mib in replica.rss if at >= WARMUP] or [mib for _, mib in replica.rss]
    if len(settled) < 2:
        return 0.0, True
    # Compare the first and the last third of the settled samples (medians): noise-proof.
    third = max(1, len(settled) // 3)
    first = sorted(settled[:third])[third // 2]
    last = sorted(settled[-third:])[third // 2]
    growth = last - first
    return growth, growth <= limit_mib


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOA_SOAK_SECONDS", 180)))
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--pollers", type=int, default=500)
    parser.add_argument("--churn", type=float, default=10.0, help="register and cancel operations a second")
    parser.add_argument("--renew", type=float, default=10.0, help="seconds between two renews of an instance")
    parser.add_argument("--poll-timeout", type=float, default=30.0)
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between memory samples")
    parser.add_argument(
        "--max-growth", type=float, default=24.0, help="MiB of RSS growth after warm-up still called flat"
    )
    parser.add_argument("--ensemble", action="store_true", help="three ZooKeeper servers instead of one")
    parser.add_argument("--json", help="write the report here too")
    args = parser.parse_args(argv)

    base = tempfile.mkdtemp(prefix="soak-")
    servers = (
        Ensemble(size=3, base_dir=base, fsync=False) if args.ensemble else ZooKeeperServer(data_dir=base, fsync=False)
    )
    servers.start()
    replicas = []
    try:
        ensure_paths(servers.hosts, ["/qa/soa/services"])
        config = {
            "gateway": {"default_zkidc": "qa", "workers": 1},
            "zkidc": {"qa": {"hosts": servers.hosts + "/qa", "session_timeout": 15.0}},
            "keys": {"soak": {"secret": KEY, "rights": ["read", "write", "delete"]}},
            "discovery": {"ttl": args.renew * 3, "renew_interval": args.renew, "poll_timeout": args.poll_timeout},
            "gunicorn": {"loglevel": "warning"},
        }
        for _ in range(2):
            replicas.append(Replica(GatewayProcess(config).start(timeout=60)))
        soak = Soak(args, replicas)
        took = soak.run()
        lost, ghosts, duplicated, members = compare(soak, servers.hosts)
    finally:
        for replica in replicas:
            replica.process.stop()
        servers.cleanup()

    report = {
        "seconds": round(took, 1),
        "zookeeper": "3-server ensemble" if args.ensemble else "1 server",
        "instances": args.instances,
        "pollers": args.pollers,
        "churn_per_second": args.churn,
        "requests": dict(soak.counts),
        "errors": dict(soak.errors),
        "error_samples": soak.samples,
        "latency_ms": {
            kind: {
                "p50": round(percentile(v, 0.5) * 1000, 1),
                "p99": round(percentile(v, 0.99) * 1000, 1),
                "max": round(max(v) * 1000, 1),
            }
            for kind, v in sorted(soak.latency.items())
        },
        "acknowledged_alive": len(soak.alive),
        "members_in_zookeeper": members,
        "lost": [list(k) for k in lost[:20]],
        "lost_count": len(lost),
        "ghosts": [list(k) for k in ghosts[:20]],
        "ghost_count": len(ghosts),
        "duplicated": [list(k) for k in duplicated[:20]],
        "unknown_outcome": len(soak.unknown),
        "rss_mib": {},
    }
    flat = True
    for name, replica in zip("ab", replicas, strict=True):
        growth, ok = memory_verdict(replica, args.max_growth)
        flat = flat and ok
        report["rss_mib"]["replica_" + name] = {
            "samples": replica.rss,
            "growth_after_warmup": round(growth, 1),
            "flat": ok,
        }
    passed = not soak.errors and not lost and not ghosts and not duplicated and flat
    report["passed"] = passed
    print_report(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0 if passed else 1


def print_report(report):
    print("\n== soak: %.0f s, %s, 2 gateway replicas" % (report["seconds"], report["zookeeper"]))
    print(
        "instances %d renewing, %d pollers, churn %.0f/s"
        % (report["instances"], report["pollers"], report["churn_per_second"])
    )
    for kind, count in sorted(report["requests"].items()):
        line = "  %-16s %8d" % (kind, count)
        if kind in report["latency_ms"]:
            figures = report["latency_ms"][kind]
            line += "   p50 %6.1f ms  p99 %6.1f ms  max %7.1f ms" % (figures["p50"], figures["p99"], figures["max"])
        print(line)
    print("errors: %s" % (report["errors"] or "none"))
    for sample in report["error_samples"][:10]:
        print("  " + sample)
    print(
        "acknowledged and not cancelled: %d; members in ZooKeeper: %d; lost %d; ghosts %d; duplicated %d; outcome unknown %d"
        % (
            report["acknowledged_alive"],
            report["members_in_zookeeper"],
            report["lost_count"],
            report["ghost_count"],
            len(report["duplicated"]),
            report["unknown_outcome"],
        )
    )
    for name, figures in report["rss_mib"].items():
        series = " ".join("%d:%.0f" % (at, mib) for at, mib in figures["samples"])
        print(
            "RSS %s (s:MiB): %s; growth after %.0f s warm-up %.1f MiB (%s)"
            % (name, series, WARMUP, figures["growth_after_warmup"], "flat" if figures["flat"] else "GROWING")
        )
    print("soak %s" % ("passed" if report["passed"] else "FAILED"))


if __name__ == "__main__":
    sys.exit(main())
