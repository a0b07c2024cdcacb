"""The admin dialect (seed 002): services and servers for ops teams.

Answers ``{"code": 1, ...}`` on success and ``{"code": 0, "reason": ...}``
with a fitting HTTP status on failure.
"""
from .envelope import render
from .views import blueprint

PREFIXES = ("/",)

__all__ = ["PREFIXES", "blueprint", "render"]
