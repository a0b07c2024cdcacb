"""What went wrong, as an HTTP status and a message any client may see.

Each dialect renders this in its own envelope (``<dialect>/envelope.py``);
the app sends every error of a URL to the dialect that owns its prefix, so
even routing errors and oversized bodies answer in the right shape.
"""

import logging
from dataclasses import dataclass

from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge

from zk import errors as zk

from .keys import Forbidden, Unauthorized
from .params import MAX_BODY, BadRequest

log = logging.getLogger(__name__)

_STATUS = [
    (BadRequest, 400),
    (zk.InvalidName, 400),
    (zk.UnknownZkidc, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (zk.NotFound, 404),
    (zk.AlreadyExists, 409),
    (zk.NotEmpty, 409),
    (zk.Unsupported, 409),
    (zk.Conflict, 409),
    (zk.TooLarge, 413),
    (zk.Unavailable, 503),
]


@dataclass(frozen=True)
class Problem:
    status: int
    message: str
    error: Exception


def validation_message(messages):
    """marshmallow's {field: [msg]} as one readable line."""
    if isinstance(messages, dict):
        parts = []
        for name, value in messages.items():
            text = validation_message(value)
            parts.append("%s: %s" % (name, text) if name != "_schema" else text)
        return "; ".join(parts)
    if isinstance(messages, list):
        return "; ".join(validation_message(m) for m in messages)
    return str(messages).rstrip(".")


def describe(error):
    if isinstance(error, ValidationError):
        return Problem(400, validation_message(error.messages), error)
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return Problem(status, error.message, error)
    if isinstance(error, HTTPException):
        return Problem(error.code or 500, _http_message(error), error)
    log.exception("unexpected error", exc_info=error)
    return Problem(500, "internal error", error)


def _http_message(error):
    """Werkzeug's errors in a plain sentence of ours, not its prose for browsers."""
    from flask import request

    if isinstance(error, NotFound):
        return "no endpoint %s %s" % (request.method, request.path[:256])
    if isinstance(error, RequestEntityTooLarge):
        return "request body is larger than the limit of %d bytes (1 MiB)" % MAX_BODY
    if error.code == 405 and getattr(error, "valid_methods", None):
        return "method %s is not allowed here: use %s" % (
            request.method,
            " or ".join(m for m in error.valid_methods if m not in ("HEAD", "OPTIONS")),
        )
    return error.description or error.name
