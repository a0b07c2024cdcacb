"""What the discovery endpoints do, without HTTP: plain functions over a Catalog.

Each takes already-loaded parameters (``schemas.py``), the dialect's state
(``Discovery``) and the Catalog the caller may use; reads return the
already-encoded JSON of the answer's ``data`` (bytes), writes return
nothing, and failures are the errors of ``zk.errors``. The views and the
long-poll lane (``lane.py``) call the same functions.
"""

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from zk.catalog import Catalog
from zk.errors import NotFound

from . import model
from .envelope import NOT_MODIFIED_BODY, ok_body


class Discovery:
    """Per app: the [discovery] settings and the rendered views of each zkidc."""

    def __init__(self, settings: model.Settings):
        self.settings = settings
        self._views: dict[str, model.Views] = {}

    def views(self, catalog: Catalog) -> model.Views:
        views = self._views.get(catalog.name)
        if views is None or views.catalog is not catalog:
            views = self._views[catalog.name] = model.Views(catalog)
        return views


# -- writes -------------------------------------------------------------------


def identity(args: Mapping[str, Any]) -> str:
    """The lease key of the instance a register, renew or cancel names."""
    return model.identity(args["appid"], args["env"], args["zone"], args["hostname"])


def register(discovery: Discovery, catalog: Catalog, args: Mapping[str, Any]) -> None:
    """Register an instance; the same zone, env, appid and hostname replaces it."""
    now = time.time_ns()
    catalog.instances.register(
        args["appid"], identity(args), lambda old: model.build(args, old, now), discovery.settings.policy
    )


def renew(catalog: Catalog, args: Mapping[str, Any]) -> None:
    """Renew an instance; NotFound when it must register again."""
    catalog.instances.renew(args["appid"], identity(args))


def cancel(catalog: Catalog, args: Mapping[str, Any]) -> None:
    """Take an instance out at once."""
    catalog.instances.cancel(args["appid"], identity(args))


# -- reads --------------------------------------------------------------------


class Fresh(NamedTuple):
    """An appid a long poll answers: its view is newer than the client's."""

    appid: str
    body: bytes  # the encoded data of its answer


def unknown(appid: str, env: str, zone: str = "") -> NotFound:
    if zone:
        return NotFound("appid %s has no instances in env %s and zone %s" % (appid, env, zone))
    return NotFound("appid %s has no instances in env %s" % (appid, env))


def fetch(discovery: Discovery, catalog: Catalog, appid: str, env: str, zone: str, status: int) -> bytes:
    """The instances of an appid in an env (and zone) with a status in the mask ``status``."""
    view = discovery.views(catalog).get(appid, env, zone, status)
    if not view.zone_known:
        raise unknown(appid, env, zone if view.known else "")
    return view.body


def fetchs(discovery: Discovery, catalog: Catalog, appids: Iterable[str], env: str, zone: str, status: int) -> bytes:
    """fetch for several appids, ``{"appid": data, ...}``; unknown ones are
    left out, as in the original."""
    views = discovery.views(catalog)
    found = []
    for appid in dict.fromkeys(appids):
        view = views.get(appid, env, zone, status)
        if view.zone_known:
            found.append((appid, view.body))
    return by_appid(found)


def by_appid(pairs: Iterable[tuple[str, bytes]]) -> bytes:
    """``{"appid": data, ...}`` from already-encoded data."""
    return b"{%s}" % b",".join(json.dumps(appid).encode() + b":" + body for appid, body in pairs)


def since(name: str, args: Mapping[str, Any]) -> dict[str, int]:
    """{appid: latest_timestamp} of a loaded Poll or Polls (``name``); an
    appid given twice counts from its earlier timestamp."""
    if name == "Poll":
        return {args["appid"]: args["latest_timestamp"]}
    stamps: dict[str, int] = {}
    for appid, stamp in zip(args["appid"], args["latest_timestamp"], strict=True):
        stamps[appid] = min(stamp, stamps.get(appid, stamp))
    return stamps


def poll(
    discovery: Discovery, catalog: Catalog, since: Mapping[str, int], env: str, zone: str, many: bool = False
) -> bytes | None:
    """Long poll: the data of the appids newer than their timestamp (one
    appid's data, or ``{"appid": data, ...}`` when ``many``), at once or as
    soon as one changes; None after poll_timeout."""
    answer = wait(discovery, catalog, since, env, zone)
    return data_of(answer, many) if answer else None


def data_of(answer: list[Fresh], many: bool) -> bytes:
    """The data a poll (or, ``many``, polls) answers with, of a look's fresh appids."""
    return by_appid(answer) if many else answer[0].body


def poll_answer(
    discovery: Discovery, catalog: Catalog, since: Mapping[str, int], args: Mapping[str, Any], name: str
) -> bytes:
    """The body a poll (``name`` "Poll") or polls ends with, after waiting."""
    data = poll(discovery, catalog, since, args["env"], args["zone"], many=name != "Poll")
    return NOT_MODIFIED_BODY if data is None else ok_body(data)


class Look(NamedTuple):
    """What a poll sees in the cache now."""

    known: bool  # one of its appids has instances in its env
    fresh: list[Fresh]  # the appids to answer with, newer than the client's


def look(views: model.Views, since: Mapping[str, int], env: str, zone: str) -> Look:
    """The appids of ``since`` whose view is newer than the client's timestamp.

    Only status-1 instances are shown. An appid whose list is empty is never
    answered: the Go SDK ignores an empty answer but would take its new
    timestamp as a reason to ask again at once, looping.
    """
    known = False
    fresh: list[Fresh] = []
    for appid, stamp in since.items():
        view = views.get(appid, env, zone, model.UP)
        known = known or view.known
        if view.count and view.latest > stamp:
            fresh.append(Fresh(appid, view.body))
    return Look(known, fresh)


def wait(discovery: Discovery, catalog: Catalog, since: Mapping[str, int], env: str, zone: str) -> list[Fresh]:
    """Long poll: [Fresh(appid, data)] of the appids whose view is newer than the
    client's timestamp (``look``), at once or as soon as one changes; [] after
    poll_timeout. An appid unknown in ``env`` when the poll starts is -404
    (for polls: when all are unknown).
    """
    views = discovery.views(catalog)
    deadline = time.monotonic() + discovery.settings.poll_timeout
    first = True
    with catalog.changes.waiter(since) as waiter:
        while True:
            waiter.arm()
            now = look(views, since, env, zone)
            if first and not now.known:
                raise unknown(", ".join(since), env)
            first = False
            if now.fresh:
                return now.fresh
            if not waiter.wait(deadline - time.monotonic()):
                return []


def nodes(catalog: Catalog) -> bytes:
    """The gateway replicas serving this zkidc; status 0 = up."""
    listing = [{"addr": r["addr"], "status": 0, "zone": r["zone"]} for r in catalog.replicas.listing()]
    return json.dumps(listing, separators=(",", ":")).encode()
