"""The admin dialect (seed 002): services and servers for ops teams.

Answers ``{"code": 1, ...}`` on success and ``{"code": 0, "reason": ...}``
with a fitting HTTP status on failure.
"""

from ..config import Config
from ..dialect import Dialect
from ..memo import Memo
from .envelope import render
from .views import blueprint


def _listings(config: Config) -> Memo:
    """serverlist's rendered answers, per (zkidc, service) (views._listing)."""
    return Memo()


DIALECT = Dialect("admin", ("/",), blueprint, render, state=_listings)

__all__ = ["DIALECT"]
