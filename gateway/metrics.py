"""Prometheus metrics at ``/metrics``: one replica's figures, whichever worker answers.

Request counts and latencies by dialect, endpoint and outcome are recorded as
requests finish. Everything else is read from the live objects of each zkidc
(``Metrics.figures``): its ZooKeeper connection, cache sizes and loads,
owned members, waiting long polls (``catalog.changes.waiting``) and the
counters of registrations, renews, cancels, re-creations and evictions.

One process (``create_app`` without ``metrics_dir``, as in tests): the
figures are read when Prometheus scrapes, as they are.

Under ``soa-gateway serve`` (gateway/serve.py) every gunicorn worker has its
own cache, sessions and requests, and a scrape reaches one of them, so the
workers share a folder (``Config.metrics_dir``, a private temporary folder
the arbiter makes before the first worker and removes when it stops):

* Request metrics and the zkidc counters use prometheus_client's
  multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``): each worker writes its
  own file and a scrape sums them all (``MultiProcessCollector``), those of
  workers that have died included, so a total never goes back when gunicorn
  replaces a worker. The zkidc counters are kept by the zk objects; each
  worker adds what they grew by since it last looked.
* Gauges are written by each worker, whole, to ``live_<pid>.json`` every
  ``REFRESH`` seconds and by the scraping worker when it answers; a scrape
  combines the files of the workers alive by the rule of each gauge
  (``GAUGES``): what differs per worker (owned members, waiting polls) is
  summed; what every worker holds a copy of (cache sizes, loads, connection,
  staleness) is not, since N copies of one view are one view. Gunicorn's
  ``child_exit`` (``forget``) removes a dead worker's file: its gauges go
  with it. The gauges of the other workers are at most ``REFRESH`` old.

prometheus_client's own gauges (``livesum``, ``livemax`` ...) are not used
for these: in multiprocess mode a label set once written stays in its file
(removing one is not implemented), and the connection's ``state`` and the
load's ``kind`` labels change.
"""

import bisect
import contextlib
import glob
import json
import logging
import os
import threading
import time

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from .context import current
from .dialect import Dialect

log = logging.getLogger(__name__)
blueprint = Blueprint("metrics", __name__)
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 35, 60)
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"  # where prometheus_client's multiprocess files go
REFRESH = 1.0  # seconds between a worker's writes of its gauges

# Gauges: name -> (help, label names, how the workers' values of one label set combine).
GAUGES = {
    # 1 only while every worker's session is connected; a worker in another state shows its own label set.
    "soa_gateway_zookeeper_connected": ("1 while the zkidc's session is connected", ("zkidc", "state"), min),
    # stale while any worker may serve answers behind ZooKeeper
    "soa_gateway_cache_stale": ("1 while the cache may be behind ZooKeeper", ("zkidc",), max),
    # every worker caches the whole tree: the largest copy (they differ for the milliseconds a change takes)
    "soa_gateway_cached_services": ("Services in the watch cache", ("zkidc",), max),
    "soa_gateway_cached_members": ("Members in the watch cache", ("zkidc",), max),
    "soa_gateway_owned_members": ("Ephemeral members this replica's sessions own", ("zkidc",), sum),
    "soa_gateway_waiting_pollers": ("Long polls waiting for a change", ("zkidc",), sum),
    # the slowest worker's: the replica is whole once the last of them is done
    "soa_gateway_cache_load_seconds": (
        "Seconds the last load or resync of the services cache took",
        ("zkidc", "kind"),
        max,
    ),
    "soa_gateway_cache_groups_read": (
        "Services read by the last load or resync (a resync skips the unchanged)",
        ("zkidc", "kind"),
        max,
    ),
}
COUNTERS = (
    ("registrations", "Instances registered or replaced"),
    ("renews", "Heartbeats accepted"),
    ("cancels", "Instances cancelled"),
    ("recreated", "Ephemeral members re-created after a session expiry"),
    ("evicted", "Instances evicted for silence"),
    ("marked_unhealthy", "Instances published as DEAD for silence"),
)


def _live_path(directory, pid):
    return os.path.join(directory, "live_%d.json" % pid)


def forget(pid, directory):
    """A worker has exited: drop its gauges (gunicorn's ``child_exit``, in the arbiter)."""
    mark_process_dead(pid, directory)
    for path in (_live_path(directory, pid), _live_path(directory, pid) + ".tmp"):
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def observe_all(histogram, amounts):
    """``histogram.observe(a)`` for each of ``amounts``, in one write per
    bucket. prometheus_client has no such call; this adds to the values a
    Histogram keeps (``_sum``, ``_buckets`` by ``_upper_bounds``), as its own
    observe does, and observes one by one where they are not there
    (tests/test_observability.py compares the two)."""
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for amount in amounts:
            histogram.observe(amount)
        return
    histogram._raise_if_not_observable()
    counts = {}
    for amount in amounts:
        i = bisect.bisect_left(bounds, amount)  # the first bound >= amount, as observe() finds it
        counts[i] = counts.get(i, 0) + 1
    total.inc(sum(amounts))
    for i, count in counts.items():
        if i < len(buckets):
            buckets[i].inc(count)


class Metrics:
    def __init__(self, gateway):
        self.gateway = gateway
        self.directory = gateway.config.metrics_dir or None  # shared by the workers of one server
        self.registry = CollectorRegistry()  # what /metrics renders
        own = self.registry
        if self.directory:
            os.environ[MULTIPROC_DIR] = self.directory
            if not values.ValueClass._multiprocess:  # prometheus_client was imported before it was set
                values.ValueClass = values.get_value_class()
            MultiProcessCollector(self.registry, self.directory)
            own = None  # written to this worker's files, read back summed by the collector
        self.requests = Counter(
            "soa_gateway_requests", "HTTP requests answered", ["dialect", "endpoint", "outcome"], registry=own
        )
        self.latency = Histogram(
            "soa_gateway_request_seconds",
            "Time to answer, long polls included",
            ["dialect", "endpoint"],
            buckets=_BUCKETS,
            registry=own,
        )
        self.counters = {name: Counter("soa_gateway_" + name, text, ["zkidc"], registry=own) for name, text in COUNTERS}
        self.registry.register(_Gauges(self))
        self._children = {}  # labels -> (counter, histogram): labels() costs more than the update
        self._batch = None  # [(labels, seconds)] while a batch() is open
        self._counted = {}  # (counter, zkidc) -> the zk object's figure already added
        self._lock = threading.Lock()
        self._scraped = []  # every live worker's gauges, read by render()
        if self.directory:  # a greenlet under gunicorn's gevent workers
            threading.Thread(target=self._refresh, name="metrics", daemon=True).start()

    def observe(self, done):
        """Count one finished request (a gateway.logs.Finished)."""
        if done.endpoint == "metrics":
            return
        outcome = "ok" if done.status < 400 else ("client_error" if done.status < 500 else "server_error")
        labels = (done.dialect, done.endpoint, outcome)
        if self._batch is not None:
            self._batch.append((labels, done.seconds))
            return
        counter, histogram = self._children_of(labels)
        counter.inc()
        histogram.observe(done.seconds)

    @contextlib.contextmanager
    def batch(self):
        """Count the requests that finish inside the block together, at its end.

        Each count is three writes to a shared file, each under a lock, in
        multiprocess mode: about 6 us, a sixth of what answering a woken
        long poll costs. The worker answers woken polls thousands in a row
        (gateway/parking.py) and counts each slice of them in one go: one
        write per label set and latency bucket. Nothing else runs during a
        slice, so no other request's count waits for it.
        """
        if self._batch is not None:  # already counting in one
            yield
            return
        self._batch = []
        try:
            yield
        finally:
            batch, self._batch = self._batch, None
            self._count(batch)

    def _count(self, batch):
        grouped = {}
        for labels, seconds in batch:
            grouped.setdefault(labels, []).append(seconds)
        for labels, all_seconds in grouped.items():
            counter, histogram = self._children_of(labels)
            counter.inc(len(all_seconds))
            observe_all(histogram, all_seconds)

    def _children_of(self, labels):
        children = self._children.get(labels)
        if children is None:
            children = self._children[labels] = (self.requests.labels(*labels), self.latency.labels(*labels[:2]))
        return children

    def figures(self):
        """This process's gauges ({name: [[label values, value], ...]}), after
        bringing the zkidc counters up to the zk objects' figures."""
        gauges = {name: [] for name in GAUGES}

        def add(name, labels, value):
            gauges["soa_gateway_" + name].append([labels, float(value)])

        with self._lock:
            for name, catalog in self.gateway.registry.started().items():
                add("zookeeper_connected", [name, catalog.cluster.state], 1 if catalog.cluster.connected else 0)
                add("cache_stale", [name], 1 if catalog.stale else 0)
                if catalog.tree.loaded:
                    groups = catalog.tree.groups()
                    add("cached_services", [name], len(groups))
                    add("cached_members", [name], sum(len(group.leaves) for group in groups.values()))
                last = catalog.tree.last_load
                if last is not None:
                    add("cache_load_seconds", [name, last.kind], last.seconds)
                    add("cache_groups_read", [name, last.kind], last.read)
                add("owned_members", [name], catalog.instances.owned)
                add("waiting_pollers", [name], catalog.changes.waiting)
                counted = {**catalog.instances.counters, **catalog.evictor.counters}
                for counter, family in self.counters.items():
                    figure = counted.get(counter, 0)
                    grown = figure - self._counted.get((counter, name), 0)
                    child = family.labels(name)  # shown from the first look, 0 or not
                    if grown > 0:
                        child.inc(grown)
                    self._counted[(counter, name)] = figure
        return gauges

    def publish(self):
        """This worker's gauges, written for the others to read; returns them."""
        gauges = self.figures()
        if self.directory:
            path = _live_path(self.directory, os.getpid())
            with open(path + ".tmp", "w") as f:
                json.dump(gauges, f, separators=(",", ":"))
            os.replace(path + ".tmp", path)  # readers see the whole of the last write
        return gauges

    def workers(self):
        """Every live worker's gauges (this process's own, fresh)."""
        mine = self.publish()
        if not self.directory:
            return [mine]
        found = [mine]
        for path in glob.glob(os.path.join(self.directory, "live_*.json")):
            if path == _live_path(self.directory, os.getpid()):
                continue
            try:
                with open(path) as f:
                    found.append(json.load(f))
            except (OSError, ValueError):  # removed meanwhile: a worker that just died
                continue
        return found

    def render(self):
        """The text of /metrics, every figure brought up to date first (the
        zkidc counters are read by the collectors before the gauges are)."""
        self._scraped = self.workers()
        return generate_latest(self.registry)

    def _refresh(self):
        failing = False
        while True:
            try:
                self.publish()
                failing = False
            except Exception:  # noqa: BLE001 - a failed write must not end the refresher
                if not failing:  # once, not every second
                    log.exception("could not write this worker's metrics to %s", self.directory)
                failing = True
            time.sleep(REFRESH)


class _Gauges:
    """The gauges of every live worker, combined by ``GAUGES``'s rules."""

    def __init__(self, metrics):
        self.metrics = metrics

    def collect(self):
        workers = self.metrics._scraped
        for name, (text, labels, combine) in GAUGES.items():
            by_labels = {}
            for gauges in workers:
                for label_values, value in gauges.get(name, ()):
                    by_labels.setdefault(tuple(label_values), []).append(value)
            family = GaugeMetricFamily(name, text, labels=list(labels))
            for label_values, found in by_labels.items():
                family.add_metric(list(label_values), combine(found))
            yield family


@blueprint.get("/metrics")
def metrics():
    return Response(current().metrics.render(), content_type=CONTENT_TYPE_LATEST)


def render(problem):
    return Response(problem.message + "\n", status=problem.status, content_type="text/plain")


DIALECT = Dialect("metrics", ("/metrics",), blueprint, render)
