"""Prometheus metrics at ``/metrics``.

Request counts and latencies by dialect, endpoint and outcome are recorded
as requests finish; everything else (ZooKeeper connection state, cache
sizes, waiting pollers, registrations, evictions, re-creations) is read from
the live objects when Prometheus scrapes, so there is nothing to keep in sync.

Each gunicorn worker process has its own figures; run one worker per
replica (the default) or scrape each worker.
"""

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .context import current
from .dialect import Dialect

blueprint = Blueprint("metrics", __name__)
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 35, 60)


class Metrics:
    def __init__(self, gateway):
        self.gateway = gateway
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "soa_gateway_requests", "HTTP requests answered", ["dialect", "endpoint", "outcome"], registry=self.registry
        )
        self.latency = Histogram(
            "soa_gateway_request_seconds",
            "Time to answer, long polls included",
            ["dialect", "endpoint"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_Live(gateway))
        self._children = {}  # labels -> (counter, histogram): labels() costs more than the update

    def observe(self, done):
        """Count one finished request (a gateway.logs.Finished)."""
        if done.endpoint == "metrics":
            return
        outcome = "ok" if done.status < 400 else ("client_error" if done.status < 500 else "server_error")
        labels = (done.dialect, done.endpoint, outcome)
        children = self._children.get(labels)
        if children is None:
            children = self._children[labels] = (
                self.requests.labels(*labels),
                self.latency.labels(done.dialect, done.endpoint),
            )
        children[0].inc()
        children[1].observe(done.seconds)


class _Live:
    """Collects the figures that live on the registry's objects."""

    def __init__(self, gateway):
        self.gateway = gateway

    def collect(self):
        connected = GaugeMetricFamily(
            "soa_gateway_zookeeper_connected", "1 while the zkidc's session is connected", labels=["zkidc", "state"]
        )
        services = GaugeMetricFamily("soa_gateway_cached_services", "Services in the watch cache", labels=["zkidc"])
        members = GaugeMetricFamily("soa_gateway_cached_members", "Members in the watch cache", labels=["zkidc"])
        stale = GaugeMetricFamily(
            "soa_gateway_cache_stale", "1 while the cache may be behind ZooKeeper", labels=["zkidc"]
        )
        owned = GaugeMetricFamily("soa_gateway_owned_members", "Ephemeral members this process owns", labels=["zkidc"])
        pollers = GaugeMetricFamily("soa_gateway_waiting_pollers", "Long polls waiting for a change", labels=["zkidc"])
        load_seconds = GaugeMetricFamily(
            "soa_gateway_cache_load_seconds",
            "Seconds the last load or resync of the services cache took",
            labels=["zkidc", "kind"],
        )
        groups_read = GaugeMetricFamily(
            "soa_gateway_cache_groups_read",
            "Services read by the last load or resync (a resync skips the unchanged)",
            labels=["zkidc", "kind"],
        )
        counters = {
            name: CounterMetricFamily("soa_gateway_" + name, text, labels=["zkidc"])
            for name, text in (
                ("registrations", "Instances registered or replaced"),
                ("renews", "Heartbeats accepted"),
                ("cancels", "Instances cancelled"),
                ("recreated", "Ephemeral members re-created after a session expiry"),
                ("evicted", "Instances evicted for silence"),
                ("marked_unhealthy", "Instances published as DEAD for silence"),
            )
        }
        for name, catalog in self.gateway.registry.started().items():
            connected.add_metric([name, catalog.cluster.state], 1.0 if catalog.cluster.connected else 0.0)
            stale.add_metric([name], 1.0 if catalog.stale else 0.0)
            if catalog.tree.loaded:
                groups = catalog.tree.groups()
                services.add_metric([name], len(groups))
                members.add_metric([name], sum(len(group.leaves) for group in groups.values()))
            last = catalog.tree.last_load
            if last is not None:
                load_seconds.add_metric([name, last.kind], last.seconds)
                groups_read.add_metric([name, last.kind], last.read)
            owned.add_metric([name], catalog.instances.owned)
            pollers.add_metric([name], catalog.changes.waiting)
            figures = {**catalog.instances.counters, **catalog.evictor.counters}
            for counter_name, family in counters.items():
                family.add_metric([name], figures.get(counter_name, 0))
        yield from (connected, stale, services, members, owned, pollers, load_seconds, groups_read, *counters.values())


@blueprint.get("/metrics")
def metrics():
    return Response(generate_latest(current().metrics.registry), content_type=CONTENT_TYPE_LATEST)


def render(problem):
    return Response(problem.message + "\n", status=problem.status, content_type="text/plain")


DIALECT = Dialect("metrics", ("/metrics",), blueprint, render)
