"""Long polls (``GET /discovery/poll`` and ``/discovery/polls``) answered
before Flask.

Discovery SDKs keep a long poll parked for the appids they follow, and one
change wakes every poller of the appid at once; how soon the last of
thousands hears of it depends on what each answer costs after the wake.
This lane (see gateway/lane.py) takes a GET poll whose parameters load, whose
key may read every appid, on a fresh cache, and waits with the view's own
``poll_answer``. Anything else it leaves to the view before it starts; an
error once the poll started (an appid unknown when it starts, -404, or
anything met after it parked) it answers in the discovery envelope itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.wrappers import Request

from ..access import allowed
from ..lane import Answer, Lane, Prepared
from .service import poll_answer
from .views import given, poll_args

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment
    from flask import Flask

    from ..app import Gateway


class PollLane(Lane):
    method = "GET"
    paths = {"/discovery/poll": "poll", "/discovery/polls": "polls"}
    dialect = "discovery"

    def __init__(self, app: Flask, wsgi_app: WSGIApplication, gateway: Gateway) -> None:
        super().__init__(app, wsgi_app, gateway)
        self.discovery = gateway.state("discovery")

    def prepare(self, environ: WSGIEnvironment, endpoint: str) -> Prepared | None:
        name = "Poll" if endpoint == "poll" else "Polls"
        params = given(Request(environ, populate_request=False, shallow=True).args)
        since, args = poll_args(name, params)
        key, catalog = allowed(self.gateway, environ, "read", params, since)
        if catalog.stale:  # the view says so in its answer's header
            return None

        def run() -> Answer:
            return Answer(200, poll_answer(self.discovery, catalog, since, args, name))

        return Prepared(key, catalog, run, list(since))
