"""The discovery dialect's answers: ``{code, message, ttl, data}``, HTTP 200
except for what is too large to take (413 and 414, codes -413 and -414)."""

from flask import Response, jsonify

NOT_MODIFIED = -304
NOT_MODIFIED_BODY = b'{"code":-304,"message":"not modified","ttl":1}'
_CODES = {400: -400, 401: -401, 403: -403, 404: -404, 409: -409, 413: -413, 414: -414}
_TOO_LARGE = (413, 414)  # a body, a write or a request line: HTTP says so too


def code_of(status):
    return _CODES.get(status) or (-500 if status >= 500 else -400)


def ok_body(data=None):
    """The body of a success; ``data`` is already-encoded JSON (bytes) or None."""
    if data is None:
        return b'{"code":0,"message":"","ttl":1}'
    return b'{"code":0,"message":"","ttl":1,"data":%s}' % data


def ok(data=None):
    return Response(ok_body(data), mimetype="application/json")


def render(problem):
    status = problem.status if problem.status in _TOO_LARGE else 200
    return jsonify(code=code_of(problem.status), message=problem.message, ttl=1), status
