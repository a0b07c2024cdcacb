"""Polaris return codes (code.proto) and their texts (codeinfo.go).

The HTTP status of an answer is its code // 1000.
"""

import json

from ..params import BadRequest

INFO = {
    200000: "execute success",
    200001: "discover data is no change",
    200002: "update data is no change, no need to update",
    400000: "bad request",
    400001: "request decode failed",
    400002: "empty request",
    400003: "batch size over the limit",
    400004: "invalid discover resource",
    400103: "invalid parameter",
    400110: "invalid namespace name",
    400120: "invalid service name",
    400124: "invalid service ports",
    400125: "invalid service business",
    400126: "invalid service department",
    400128: "invalid service comment",
    400150: "the length of metadata is too long or metadata contains invalid characters",
    400201: "existed resource",
    400202: "not found resource",
    400204: "some instances existed in service",
    400205: "some routings existed in service",
    400301: "not found service",
    401000: "unauthorized",
    403001: "token verify exception",
    409000: "data is conflict, please try again",
    # not Polaris's: the gateway keeps HTTP status = code // 1000 for what it
    # refuses unread (a body over 1 MiB, a request line over the limit)
    413000: "request entity too large",
    414000: "request uri too long",
    500000: "execute exception",
    500001: "store layer exception",
}

SUCCESS = 200000
NO_CHANGE = 200001
NO_NEED_UPDATE = 200002
BAD_REQUEST = 400000
PARSE = 400001
EMPTY = 400002
TOO_MANY = 400003
BAD_RESOURCE = 400004
INVALID = 400103
BAD_NAMESPACE = 400110
BAD_NAME = 400120
BAD_PORTS = 400124
BAD_BUSINESS = 400125
BAD_DEPARTMENT = 400126
BAD_COMMENT = 400128
BAD_METADATA = 400150
EXISTED = 400201
NOT_FOUND = 400202
HAS_INSTANCES = 400204
HAS_RULES = 400205
NO_SERVICE = 400301
UNAUTHORIZED = 401000
FORBIDDEN = 403001
CONFLICT = 409000
TOO_LARGE = 413000
TOO_LONG = 414000
FAILED = 500000
STORE = 500001


def info(code, detail=None):
    """Polaris's text for ``code``, with our detail after a colon."""
    text = INFO.get(code, "")
    return "%s: %s" % (text, detail) if detail and detail != text else text


def dumps(doc):
    """An answer's JSON body."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def status(code):
    return code // 1000


def batch_code(codes):
    """The code of a batch: the common one, else 400000 or 500000 when any failed."""
    distinct = set(codes)
    if len(distinct) == 1:
        return distinct.pop()
    if any(code >= 500000 for code in distinct):
        return FAILED
    if any(code >= 400000 for code in distinct):
        return BAD_REQUEST
    return SUCCESS


class PolarisError(BadRequest):
    """A client's mistake that carries its own Polaris code (always a 4xx one)."""

    def __init__(self, code, message=None):
        super().__init__(message or INFO.get(code, "error"))
        self.code = code
