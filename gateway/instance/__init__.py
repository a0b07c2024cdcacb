"""The instance API (seed 003): Nacos-style list, get, register, deregister,
beat and status of instances under ``/api/instance``.

Writes answer ``success`` as plain text; errors answer their HTTP status
with a plain text message (``Param 'serviceName' is required``).
"""
from .envelope import render
from .views import blueprint

PREFIXES = ("/api/instance",)

__all__ = ["PREFIXES", "blueprint", "render"]
