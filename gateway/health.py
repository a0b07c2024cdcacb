"""Liveness and readiness for load balancers and orchestrators."""

from flask import Blueprint, jsonify

from .context import current
from .dialect import Dialect

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz():
    """Per zkidc: connected or not, cache fresh or not, and a running load's
    progress. 503 until the default zkidc is connected and its cache loaded:
    a replica that would answer reads with "no view yet" is not ready."""
    gateway = current()
    zkidcs = {}
    for name in gateway.config.zkidcs:
        catalog = gateway.registry.started().get(name)
        if catalog is None:
            zkidcs[name] = {"state": "not started", "cache": "empty"}
        else:
            zkidcs[name] = {"state": catalog.cluster.state, **cache_state(catalog.tree)}
    default = gateway.config.default_zkidc
    # A resync after a reconnect serves the last view meanwhile (stale): still ready.
    ready = zkidcs[default]["state"] == "connected" and zkidcs[default]["cache"] in ("fresh", "stale")
    body = {"status": "ready" if ready else "not ready", "default_zkidc": default, "zkidcs": zkidcs}
    return jsonify(body), 200 if ready else 503


def cache_state(tree):
    """A tree's cache as /readyz shows it: ``fresh``, ``stale`` (behind
    ZooKeeper, still serving), ``loading`` (nothing to serve yet) or
    ``empty``; with the running load's progress in services."""
    progress = tree.progress
    if not tree.stale:
        state = {"cache": "fresh"}
    else:
        state = {"cache": "stale" if tree.loaded else ("loading" if progress.running else "empty")}
    if progress.running:
        state[progress.kind] = {"services": progress.done, "total": progress.total}
    if tree.last_load is not None:
        state["last_load_seconds"] = round(tree.last_load.seconds, 3)
    return state


def console_state(catalog):
    """How the console shows a zkidc: connected, stale, loading or unreachable."""
    cache = cache_state(catalog.tree)["cache"]
    if cache == "fresh":
        return "connected"
    if cache == "stale":
        return "stale"
    return "loading" if cache == "loading" or catalog.cluster.connected else "unreachable"


def render(problem):
    return jsonify(status="error", reason=problem.message), problem.status


DIALECT = Dialect("health", ("/healthz", "/readyz"), blueprint, render)
