"""The PolarisMesh dialect (seeds 001 and 004): client discover and management.

``POST /v1/Discover`` serves instances, routing, rate-limit and circuit
breaker rules and service lists from the watch caches; ``/naming/v1/...``
manages services and rules. Answers are ``{"code": 200000, "info": ...}``
with HTTP status code // 1000.
"""

from ..config import Config
from ..dialect import Dialect
from . import rules, shapes, views
from .envelope import render
from .lane import DiscoverLane

# Rule management is a blueprint of its own, served as part of the dialect.
views.blueprint.register_blueprint(rules.blueprint)


def _answers(config: Config) -> shapes.Answers:
    """Prepared answers per zkidc."""
    return shapes.Answers()


DIALECT = Dialect("polaris", ("/v1/", "/naming/"), views.blueprint, render, lanes=(DiscoverLane,), state=_answers)

__all__ = ["DIALECT"]
