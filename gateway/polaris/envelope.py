"""Polaris answers: ``{"code": 200000, "info": "...", ...}`` with HTTP status code // 1000.

Every error of the dialect is rendered here. A view says what else its
answers carry (``size``/``responses`` for a batch, ``type``/``service`` for a
discover) with ``expect()``, so even an error raised before the view got
far (an unknown key, ZooKeeper down) answers in that endpoint's shape.
"""

from flask import current_app, g
from marshmallow import ValidationError

from zk import errors as zk

from ..errors import describe
from . import codes
from .codes import PolarisError, dumps

_BY_ERROR = (
    (PolarisError, None),
    (zk.InvalidName, codes.BAD_NAME),
    (zk.UnknownZkidc, codes.INVALID),
    (ValidationError, codes.INVALID),
    (zk.AlreadyExists, codes.EXISTED),
    (zk.NotEmpty, codes.HAS_INSTANCES),
    (zk.NotFound, codes.NOT_FOUND),
    (zk.Unavailable, codes.STORE),
)
_BY_STATUS = {
    401: codes.UNAUTHORIZED,
    403: codes.FORBIDDEN,
    409: codes.CONFLICT,
    413: codes.TOO_LARGE,
    414: codes.TOO_LONG,
}


def code_of(problem):
    """The Polaris code of a Problem (see gateway.errors.describe)."""
    for kind, code in _BY_ERROR:
        if isinstance(problem.error, kind):
            return code if code is not None else problem.error.code
    if problem.status in _BY_STATUS:
        return _BY_STATUS[problem.status]
    return codes.FAILED if problem.status >= 500 else codes.BAD_REQUEST


def failure(error):
    """(code, info) of an exception met while handling one item of a batch."""
    problem = describe(error)
    code = code_of(problem)
    return code, codes.info(code, problem.message)


def expect(**fields):
    """The fields (with their empty values) every answer of this request carries."""
    g.polaris_fields = fields


def respond(body, code):
    """An answer whose JSON body is already serialized."""
    return current_app.response_class(body, status=codes.status(code), mimetype="application/json")


def answer(code, detail=None, **fields):
    doc = {"code": code, "info": codes.info(code, detail)}
    doc.update(fields)
    return respond(dumps(doc), code)


def render(problem):
    code = code_of(problem)
    doc = {"code": code, "info": codes.info(code, problem.message)}
    for name, value in g.get("polaris_fields", {}).items():
        doc.setdefault(name, value)
    return respond(dumps(doc), code)
