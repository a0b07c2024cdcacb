"""The admin dialect's answers: code 1 with data, or code 0 with a reason."""

from flask import jsonify


def ok(**data):
    return jsonify(code=1, **data)


def render(problem):
    return jsonify(code=0, reason=problem.message), problem.status
