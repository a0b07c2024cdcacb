"""The PolarisMesh dialect (seeds 001 and 004): client discover and management.

``POST /v1/Discover`` serves instances, routing, rate-limit and circuit
breaker rules and service lists from the watch caches; ``/naming/v1/...``
manages services and rules. Answers are ``{"code": 200000, "info": ...}``
with HTTP status code // 1000.
"""
from . import rules  # noqa: F401 - registers the rule endpoints on the blueprint
from .envelope import render
from .lane import DiscoverLane
from .views import blueprint

PREFIXES = ("/v1/", "/naming/")

__all__ = ["PREFIXES", "DiscoverLane", "blueprint", "render"]
