"""The ops console (issue 16): HTML pages at /ui/ and the API explorer at /docs.

Errors answer as an HTML page with the status and the message.
"""

from ..config import Config
from ..dialect import Dialect
from .session import Sessions
from .views import blueprint, render


def _sessions(config: Config) -> Sessions:
    settings = config.ui()
    return Sessions(settings.secret, settings.session_seconds)


DIALECT = Dialect("ui", ("/ui", "/docs"), blueprint, render, state=_sessions)

__all__ = ["DIALECT"]
