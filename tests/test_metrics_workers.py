"""/metrics of a real gateway with several gunicorn workers: one replica's
figures, whichever worker answers the scrape.

Each request here goes on a connection of its own (urllib closes it), so
the workers share them out; the access log (``access_log = "all"``) names
the pid of the worker that answered each one.
"""

import collections
import json
import os
import signal
import threading
import urllib.request

from tests.conftest import eventually
from tests.discovery_helpers import APPID, hostnames, http
from tests.test_observability import metric

SCRAPES = 12


def scrape(gateway):
    with urllib.request.urlopen(gateway.url + "/metrics", timeout=10) as answer:
        return answer.read().decode()


def scrapes(gateway, least=SCRAPES, most=200):
    """/metrics, again and again, until each worker running has answered some."""
    running = workers(gateway)
    for n in range(most):
        yield scrape(gateway)
        if n + 1 >= least and running <= set(answered(gateway, "metrics")):
            return
    raise AssertionError("workers %s never answered a scrape" % (running - set(answered(gateway, "metrics"))))


def answered(gateway, endpoint, status=200):
    """pid -> how many requests to ``endpoint`` each worker answered with ``status``."""
    counts = collections.Counter()
    with open(gateway.log_path, errors="replace") as f:
        for line in f:
            if '"soa.access"' not in line:
                continue
            fields = json.loads(line)
            if fields.get("endpoint") == endpoint and fields.get("status") == status:
                counts[fields["pid"]] += 1
    return counts


def workers(gateway):
    pid = gateway.process.pid
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return {int(child) for child in f.read().split()}


def every_worker_ready(gateway, count):
    """Ask /readyz until ``count`` workers have each answered 200 (each loads its own cache)."""

    def ready():
        with urllib.request.urlopen(gateway.url + "/readyz", timeout=5) as answer:
            assert answer.status == 200
        return len(answered(gateway, "readyz")) >= count

    eventually(ready, timeout=30, interval=0.01)


def register(gateway, n):
    instance = {"zone": "sh001", "env": "uat", "appid": APPID, "hostname": "host-%d" % n}
    answer = http(
        gateway.url, "/discovery/register", {**instance, "addrs": "http://10.0.0.%d:8080" % n, "status": 1}, "POST"
    )
    assert answer["code"] == 0, answer


def register_through_both(gateway, least=6, most=200):
    """Register instances until both workers hold some; how many were sent."""
    sent = 0
    while sent < least or len(answered(gateway, "register")) < 2:
        assert sent < most, "every registration went to one worker: %s" % answered(gateway, "register")
        sent += 1
        register(gateway, sent)
    return sent


def test_two_workers_sum_requests_owned_members_and_polls_whatever_worker_answers(gateway_process):
    gateway = gateway_process(
        gateway={"workers": 2, "access_log": "all"}, sections={"discovery": {"poll_timeout": 20.0}}
    )
    every_worker_ready(gateway, 2)
    sent = register_through_both(gateway)
    by_worker = answered(gateway, "register")
    assert len(by_worker) == 2 and sum(by_worker.values()) == sent

    def settled(text):
        """The gauges of the worker that did not answer are up to a second old."""
        assert metric(text, "soa_gateway_owned_members", zkidc="qa") == sent
        assert metric(text, "soa_gateway_registrations_total", zkidc="qa") == sent
        return True

    eventually(lambda: settled(scrape(gateway)))
    for text in scrapes(gateway):
        # counted as each request finished, in the worker's own file: exact at once
        assert (
            metric(text, "soa_gateway_requests_total", dialect="discovery", endpoint="register", outcome="ok") == sent
        )
        assert metric(text, "soa_gateway_request_seconds_count", dialect="discovery", endpoint="register") == sent
        settled(text)
        # each worker caches every member: the replica's view, not twice it
        assert metric(text, "soa_gateway_cached_members", zkidc="qa") == sent
        assert metric(text, "soa_gateway_cached_services", zkidc="qa") == 1
        assert metric(text, "soa_gateway_zookeeper_connected", zkidc="qa", state="connected") == 1
        assert metric(text, "soa_gateway_cache_stale", zkidc="qa") == 0

    # Long polls parked in whichever worker took them add up too.
    fetched = http(gateway.url, "/discovery/fetch", {"appid": APPID, "env": "uat", "status": 3})
    latest = fetched["data"]["latest_timestamp"]
    answers = []
    query = {"appid": APPID, "env": "uat", "latest_timestamp": latest}
    threads = [
        threading.Thread(target=lambda: answers.append(http(gateway.url, "/discovery/poll", query)), daemon=True)
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    eventually(lambda: metric(scrape(gateway), "soa_gateway_waiting_pollers", zkidc="qa") == 6)
    register(gateway, sent + 1)  # wakes them all
    for thread in threads:
        thread.join(15)
    assert len(answers) == 6 and all(len(hostnames(answer)) == sent + 1 for answer in answers)
    eventually(lambda: metric(scrape(gateway), "soa_gateway_waiting_pollers", zkidc="qa") == 0)


def test_a_killed_workers_gauges_go_and_its_counts_stay(gateway_process):
    gateway = gateway_process(gateway={"workers": 2, "access_log": "all"})
    every_worker_ready(gateway, 2)
    sent = register_through_both(gateway)
    by_worker = answered(gateway, "register")

    def counted(text):
        assert metric(text, "soa_gateway_registrations_total", zkidc="qa") == sent
        return metric(text, "soa_gateway_owned_members", zkidc="qa") == sent

    eventually(lambda: counted(scrape(gateway)))  # every worker's figures are in

    killed, kept = sorted(by_worker)
    os.kill(killed, signal.SIGKILL)
    replaced = eventually(lambda: len(workers(gateway)) == 2 and killed not in workers(gateway) and workers(gateway))
    assert kept in replaced

    def forgotten():
        text = scrape(gateway)
        return metric(text, "soa_gateway_owned_members", zkidc="qa") == by_worker[kept] and text

    eventually(forgotten)
    every_worker_ready(gateway, 3)  # the new worker too
    for text in scrapes(gateway):  # the new worker's answers too
        # the dead worker's members are no longer owned by anyone here ...
        assert metric(text, "soa_gateway_owned_members", zkidc="qa") == by_worker[kept]
        # ... but what it answered and registered still counts: totals never go back
        assert (
            metric(text, "soa_gateway_requests_total", dialect="discovery", endpoint="register", outcome="ok") == sent
        )
        assert metric(text, "soa_gateway_registrations_total", zkidc="qa") == sent


def test_one_worker_serves_its_figures_from_a_private_folder_that_goes_with_it(gateway_process, tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    gateway = gateway_process(env={"TMPDIR": str(temporary)})
    for n in range(1, 4):
        register(gateway, n)
    text = eventually(lambda: metric(scrape(gateway), "soa_gateway_owned_members", zkidc="qa") == 3 and scrape(gateway))
    assert metric(text, "soa_gateway_requests_total", dialect="discovery", endpoint="register", outcome="ok") == 3
    assert metric(text, "soa_gateway_registrations_total", zkidc="qa") == 3
    assert metric(text, "soa_gateway_cached_members", zkidc="qa") == 3
    assert metric(text, "soa_gateway_zookeeper_connected", zkidc="qa", state="connected") == 1
    (folder,) = [p for p in temporary.iterdir() if p.name.startswith("soa-gateway-metrics-")]
    assert folder.stat().st_mode & 0o777 == 0o700
    gateway.stop()
    assert not folder.exists()
