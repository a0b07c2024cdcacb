"""The instance API's answers: plain text for writes and errors, JSON for reads."""

from flask import Response


def text(body, status=200):
    return Response(body, status, mimetype="text/plain")


def success():
    return text("success")


def render(problem):
    return text(problem.message, problem.status)
