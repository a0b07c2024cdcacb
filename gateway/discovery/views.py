"""The eight discovery endpoints (seed 000) under /discovery/.

Parameters follow the original: GET reads the query string; POST the query
string and the form body together, and a JSON body only with a JSON
content type. Repeated keys are lists; empty values are dropped.
"""
import json
import time

from flask import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from zk.errors import NotFound

from ..access import authorize
from ..context import current
from ..openapi import documented
from ..params import collect
from . import model, schemas
from .envelope import NOT_MODIFIED_BODY, ok, ok_body

blueprint = Blueprint("discovery", __name__, url_prefix="/discovery")
READ, WRITE = ["GET", "POST"], ["POST"]
_SCHEMAS = {name: schemas.loader(getattr(schemas, name)) for name in ("Nodes", "Instance", "Register", "Fetch", "Fetchs", "Poll", "Polls")}


class Discovery:
    """Per app: the [discovery] settings and the rendered views of each zkidc."""

    def __init__(self, settings):
        self.settings = settings
        self._views = {}

    def views(self, catalog):
        views = self._views.get(catalog.name)
        if views is None or views.catalog is not catalog:
            views = self._views[catalog.name] = model.Views(catalog)
        return views


def _discovery():
    return current().state("discovery")


def parameters():
    return given(collect() if request.method == "POST" else request.args)


def given(params):
    """The parameters without empty values, as the original drops them."""
    return MultiDict([(k, v) for k, v in params.items(multi=True) if v != ""])


def load(name, params):
    return _SCHEMAS[name](params)


def _instance(name, right="write"):
    params = parameters()
    args = load(name, params)
    catalog = authorize(right, params, args["appid"])
    return args, catalog, model.identity(args["appid"], args["env"], args["zone"], args["hostname"])


@blueprint.route("/register", methods=WRITE)
@documented("Register an instance; the same zone, env, appid and hostname replaces it", form=schemas.Register, body=schemas.Register)
def register():
    args, catalog, key = _instance("Register")
    now = time.time_ns()
    catalog.instances.register(args["appid"], key, lambda old: model.build(args, old, now), _discovery().settings.policy)
    return ok()


@blueprint.route("/renew", methods=WRITE)
@documented("Renew an instance (-404: register again)", form=schemas.Instance, body=schemas.Instance)
def renew():
    args, catalog, key = _instance("Instance")
    catalog.instances.renew(args["appid"], key)
    return ok()


@blueprint.route("/cancel", methods=WRITE)
@documented("Cancel an instance at once", form=schemas.Instance, body=schemas.Instance)
def cancel():
    args, catalog, key = _instance("Instance")
    catalog.instances.cancel(args["appid"], key)
    return ok()


def _unknown(appid, env, zone=""):
    if zone:
        return NotFound("appid %s has no instances in env %s and zone %s" % (appid, env, zone))
    return NotFound("appid %s has no instances in env %s" % (appid, env))


@blueprint.route("/fetch", methods=READ)
@documented("The instances of an appid in an env (and zone)", query=schemas.Fetch)
def fetch():
    params = parameters()
    args = load("Fetch", params)
    catalog = authorize("read", params, args["appid"])
    view = _discovery().views(catalog).get(args["appid"], args["env"], args["zone"], args["status"])
    if not view.zone_known:
        raise _unknown(args["appid"], args["env"], args["zone"] if view.known else "")
    return ok(view.body)


def _by_appid(pairs):
    """``{"appid": data, ...}`` from already-encoded data."""
    return b"{%s}" % b",".join(json.dumps(appid).encode() + b":" + body for appid, body in pairs)


@blueprint.route("/fetchs", methods=READ)
@documented("fetch for several appids; unknown ones are left out", query=schemas.Fetchs)
def fetchs():
    """Like fetch for several appids; unknown ones are left out, as in the original."""
    params = parameters()
    args = load("Fetchs", params)
    appids = list(dict.fromkeys(args["appid"]))
    for appid in appids:
        catalog = authorize("read", params, appid)
    views = _discovery().views(catalog)
    found = []
    for appid in appids:
        view = views.get(appid, args["env"], args["zone"], args["status"])
        if view.zone_known:
            found.append((appid, view.body))
    return ok(_by_appid(found))


@blueprint.route("/poll", methods=READ)
@documented("Long poll: answers when the appid changes after latest_timestamp, else -304", query=schemas.Poll)
def poll():
    return _long_poll("Poll")


@blueprint.route("/polls", methods=READ)
@documented("poll for several appids, one latest_timestamp each", query=schemas.Polls)
def polls():
    return _long_poll("Polls")


def _long_poll(name):
    params = parameters()
    since, args = poll_args(name, params)
    for appid in since:
        catalog = authorize("read", params, appid)
    return Response(poll_answer(_discovery(), catalog, since, args, name), mimetype="application/json")


def poll_args(name, params):
    """({appid: latest_timestamp}, loaded args) of a Poll or Polls request."""
    args = load(name, params)
    if name == "Poll":
        return {args["appid"]: args["latest_timestamp"]}, args
    since = {}
    for appid, stamp in zip(args["appid"], args["latest_timestamp"]):
        since[appid] = min(stamp, since.get(appid, stamp))
    return since, args


def poll_answer(discovery, catalog, since, args, name):
    """The body a poll (``name`` "Poll") or polls ends with, after waiting."""
    answer = _wait(discovery, catalog, since, args["env"], args["zone"])
    if not answer:
        return NOT_MODIFIED_BODY
    return ok_body(answer[0][1] if name == "Poll" else _by_appid(answer))


def _wait(discovery, catalog, since, env, zone):
    """Long poll: [(appid, data)] of the appids whose view is newer than the
    client's timestamp, at once or as soon as one changes; [] after
    poll_timeout.

    Only status-1 instances are shown. An appid whose list is empty is never
    answered: the Go SDK ignores an empty answer but would take its new
    timestamp as a reason to ask again at once, looping. An appid unknown in
    ``env`` when the poll starts is -404 (for polls: when all are unknown).
    """
    views = discovery.views(catalog)
    deadline = time.monotonic() + discovery.settings.poll_timeout
    first = True
    with catalog.changes.waiter(since) as waiter:
        while True:
            waiter.arm()
            known, answer = False, []
            for appid, stamp in since.items():
                view = views.get(appid, env, zone, model.UP)
                known = known or view.known
                if view.count and view.latest > stamp:
                    answer.append((appid, view.body))
            if first and not known:
                raise _unknown(", ".join(since), env)
            first = False
            if answer:
                return answer
            if not waiter.wait(deadline - time.monotonic()):
                return []


@blueprint.route("/nodes", methods=READ)
@documented("The gateway replicas serving this zkidc", query=schemas.Nodes)
def nodes():
    """The gateway replicas serving this zkidc; status 0 = up."""
    params = parameters()
    load("Nodes", params)
    catalog = authorize("read", params)
    listing = [{"addr": r["addr"], "status": 0, "zone": r["zone"]} for r in catalog.replicas.listing()]
    return ok(json.dumps(listing, separators=(",", ":")).encode())
