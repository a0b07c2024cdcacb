"""The discovery dialect (seed 000, bilibili/discovery): register, renew,
cancel, fetch, fetchs, poll, polls and nodes under /discovery/.

Answers ``{"code": N, "message": "...", "ttl": 1, "data": ...}`` with HTTP
200; codes 0, -304, -400, -401, -403, -404, -409, -500.
"""
from .envelope import render
from .lane import PollLane
from .views import blueprint

PREFIXES = ("/discovery/",)

__all__ = ["PREFIXES", "PollLane", "blueprint", "render"]
