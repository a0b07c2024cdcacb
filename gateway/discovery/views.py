"""The eight discovery endpoints (seed 000) under /discovery/.

Parameters follow the original: GET reads the query string; POST the query
string and the form body together, and a JSON body only with a JSON
content type. Repeated keys are lists; empty values are dropped.
"""

from flask import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from ..access import authorize
from ..context import current
from ..openapi import documented
from ..params import collect
from . import schemas, service
from .envelope import ok

blueprint = Blueprint("discovery", __name__, url_prefix="/discovery")
READ, WRITE = ["GET", "POST"], ["POST"]
_SCHEMAS = {
    name: schemas.loader(getattr(schemas, name))
    for name in ("Nodes", "Instance", "Register", "Fetch", "Fetchs", "Poll", "Polls")
}


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
    return args, authorize(right, params, args["appid"])


@blueprint.route("/register", methods=WRITE)
@documented(
    "Register an instance; the same zone, env, appid and hostname replaces it",
    form=schemas.Register,
    body=schemas.Register,
)
def register():
    args, catalog = _instance("Register")
    service.register(_discovery(), catalog, args)
    return ok()


@blueprint.route("/renew", methods=WRITE)
@documented("Renew an instance (-404: register again)", form=schemas.Instance, body=schemas.Instance)
def renew():
    args, catalog = _instance("Instance")
    service.renew(catalog, args)
    return ok()


@blueprint.route("/cancel", methods=WRITE)
@documented("Cancel an instance at once", form=schemas.Instance, body=schemas.Instance)
def cancel():
    args, catalog = _instance("Instance")
    service.cancel(catalog, args)
    return ok()


@blueprint.route("/fetch", methods=READ)
@documented("The instances of an appid in an env (and zone)", query=schemas.Fetch)
def fetch():
    params = parameters()
    args = load("Fetch", params)
    catalog = authorize("read", params, args["appid"])
    return ok(service.fetch(_discovery(), catalog, args["appid"], args["env"], args["zone"], args["status"]))


@blueprint.route("/fetchs", methods=READ)
@documented("fetch for several appids; unknown ones are left out", query=schemas.Fetchs)
def fetchs():
    """Like fetch for several appids; unknown ones are left out, as in the original."""
    params = parameters()
    args = load("Fetchs", params)
    for appid in dict.fromkeys(args["appid"]):
        catalog = authorize("read", params, appid)
    return ok(service.fetchs(_discovery(), catalog, args["appid"], args["env"], args["zone"], args["status"]))


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
    return Response(service.poll_answer(_discovery(), catalog, since, args, name), mimetype="application/json")


def poll_args(name, params):
    """({appid: latest_timestamp}, loaded args) of a Poll or Polls request."""
    args = load(name, params)
    return service.since(name, args), args


@blueprint.route("/nodes", methods=READ)
@documented("The gateway replicas serving this zkidc", query=schemas.Nodes)
def nodes():
    """The gateway replicas serving this zkidc; status 0 = up."""
    params = parameters()
    load("Nodes", params)
    catalog = authorize("read", params)
    return ok(service.nodes(catalog))
