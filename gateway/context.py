"""The running gateway, as a request reaches it.

A module of its own, importing no blueprint, so that what the views import
(access.py, health.py, ...) never imports the app factory (app.py), which
imports every dialect's views.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from .app import Gateway

EXTENSION = "soa"  # the app's Gateway, in app.extensions


def current() -> Gateway:
    """The Gateway of the app handling the current request."""
    return current_app.extensions[EXTENSION]
