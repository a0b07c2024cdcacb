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

Under the gateway's worker a poll with nothing to answer yet parks without
its greenlet (``ParkedPoll``, gateway/parking.py): it keeps its appids and
timestamps, env and zone, and is answered from the same ``look`` as a
poll waiting in its greenlet. Polls woken by one change share the encoded
answer of the view they wait on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.wrappers import Request

from zk.catalog import Catalog

from .. import logs
from ..access import allowed
from ..lane import Answer, Lane, ParkedRequest, Prepared
from .envelope import NOT_MODIFIED_BODY, ok_body
from .service import Discovery, data_of, look, poll_answer, unknown
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
        if not self.can_park(environ):

            def run() -> Answer | ParkedRequest:
                return Answer(200, poll_answer(self.discovery, catalog, since, args, name))

            return Prepared(key, catalog, run, list(since))
        env, zone, many = args["env"], args["zone"], name != "Poll"
        discovery = self.discovery

        def look_or_park() -> Answer | ParkedRequest:
            now = look(discovery.views(catalog), since, env, zone)
            if not now.known:
                raise unknown(", ".join(since), env)
            if now.fresh:
                return Answer(200, ok_body(data_of(now.fresh, many)))
            begun = environ[logs.BEGUN]
            return ParkedPoll(self, begun, endpoint, key, catalog, discovery, since, env, zone, many)

        return Prepared(key, catalog, look_or_park, list(since))


class ParkedPoll(ParkedRequest):
    """A poll parked by the worker: its appids with their timestamps, env and zone."""

    __slots__ = ("discovery", "since", "env", "zone", "many")
    _shared: tuple[bytes, bytes] = (b"", b"")  # (a view's data, its answer): one encoding per wake

    def __init__(
        self,
        lane: PollLane,
        begun: logs.Begun,
        endpoint: str,
        key: str | None,
        catalog: Catalog,
        discovery: Discovery,
        since: dict[str, int],
        env: str,
        zone: str,
        many: bool,
    ) -> None:
        super().__init__(lane, begun, endpoint, key, catalog, discovery.settings.poll_timeout)
        self.discovery, self.since, self.env, self.zone, self.many = discovery, since, env, zone, many

    @property
    def services(self) -> list[str]:
        return list(self.since)

    def file(self) -> None:
        self.catalog.changes.add(self.since, self)

    def unfile(self) -> None:
        self.catalog.changes.remove(self.since, self)

    def body(self) -> bytes | None:
        fresh = look(self.discovery.views(self.catalog), self.since, self.env, self.zone).fresh
        if not fresh:
            return None
        data = data_of(fresh, self.many)
        shared = ParkedPoll._shared
        if shared[0] is not data:  # the polls of one view, woken together, share its answer
            shared = ParkedPoll._shared = (data, ok_body(data))
        return shared[1]

    def expired_body(self) -> bytes:
        return NOT_MODIFIED_BODY
