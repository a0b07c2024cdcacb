"""The instance API (seed 003): Nacos-style list, get, register, deregister,
beat and status of instances under ``/api/instance``.

Writes answer ``success`` as plain text; errors answer their HTTP status
with a plain text message (``Param 'serviceName' is required``).
"""

from ..config import Config
from ..dialect import Dialect
from . import model
from .envelope import render
from .views import blueprint


def _timing(config: Config) -> model.Timing:
    """The [instance] section, read once when the app is built."""
    return model.Timing(**config.section("instance"))


DIALECT = Dialect("instance", ("/api/instance",), blueprint, render, state=_timing)

__all__ = ["DIALECT"]
