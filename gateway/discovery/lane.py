"""Long polls (``GET /discovery/poll`` and ``/discovery/polls``) answered
before Flask.

Discovery SDKs keep a long poll parked for the appids they follow, and one
change wakes every poller of the appid at once; how soon the last of
thousands hears of it depends on what each answer costs after the wake.
This lane (see gateway/lane.py) takes a GET poll whose parameters load, whose
key may read every appid, on a fresh cache: it waits with the view's own
``_wait`` and answers the prepared bytes. Everything else goes on to the
view, including an appid unknown when the poll starts (-404), which is
raised before any waiting.
"""
from werkzeug.wrappers import Request

from ..access import allowed
from ..lane import Lane
from .service import poll_answer
from .views import given, poll_args


class PollLane(Lane):
    method = "GET"
    paths = {"/discovery/poll": "poll", "/discovery/polls": "polls"}
    dialect = "discovery"

    def __init__(self, app, wsgi_app):
        super().__init__(app, wsgi_app)
        self.discovery = app.extensions["discovery"]

    def answer(self, environ, endpoint):
        name = "Poll" if endpoint == "poll" else "Polls"
        params = given(Request(environ, populate_request=False, shallow=True).args)
        since, args = poll_args(name, params)
        key, catalog = allowed(self.gateway, environ, "read", params, since)
        if catalog.stale:
            return None
        return key, catalog, 200, poll_answer(self.discovery, catalog, since, args, name)
