"""The discovery dialect (seed 000, bilibili/discovery): register, renew,
cancel, fetch, fetchs, poll, polls and nodes under /discovery/.

Answers ``{"code": N, "message": "...", "ttl": 1, "data": ...}`` with HTTP
200; codes 0, -304, -400, -401, -403, -404, -409, -500.
"""

from ..config import Config
from ..dialect import Dialect
from . import model
from .envelope import render
from .lane import PollLane
from .service import Discovery
from .views import blueprint


def _state(config: Config) -> Discovery:
    """The [discovery] settings and the rendered views of each zkidc."""
    return Discovery(model.Settings(**config.section("discovery")))


DIALECT = Dialect("discovery", ("/discovery/",), blueprint, render, lanes=(PollLane,), state=_state)

__all__ = ["DIALECT"]
