"""Liveness and readiness for load balancers and orchestrators."""
from flask import Blueprint, jsonify

from .app import current

PREFIXES = ("/healthz", "/readyz")
blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz():
    """Per zkidc: connected or not, cache fresh or not. 503 until the default
    zkidc is connected and its cache loaded: a replica that would answer
    reads with "no view yet" is not ready either."""
    gateway = current()
    zkidcs = {}
    for name in gateway.config.zkidcs:
        catalog = gateway.registry.started().get(name)
        if catalog is None:
            zkidcs[name] = {"state": "not started", "cache": "empty"}
        else:
            zkidcs[name] = {"state": catalog.cluster.state, "cache": cache_state(catalog)}
    default = gateway.config.default_zkidc
    ready = zkidcs[default] == {"state": "connected", "cache": "fresh"}
    body = {"status": "ready" if ready else "not ready", "default_zkidc": default, "zkidcs": zkidcs}
    return jsonify(body), 200 if ready else 503


def cache_state(catalog):
    """fresh (watched and current), stale (last view, connection down) or empty."""
    return "fresh" if not catalog.stale else ("stale" if catalog.tree.loaded else "empty")


def console_state(catalog):
    """How the console shows a zkidc: connected, stale, loading or unreachable."""
    cache = cache_state(catalog)
    if cache == "fresh":
        return "connected"
    if cache == "stale":
        return "stale"
    return "loading" if catalog.cluster.connected else "unreachable"


def render(problem):
    return jsonify(status="error", reason=problem.message), problem.status
