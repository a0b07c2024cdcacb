"""Admin endpoints, each with and without a trailing slash."""
import functools
import json

from flask import Blueprint, current_app

from zk.codec import Member

from ..access import authorize
from ..openapi import documented
from ..params import collect, schema_instance, single
from . import schemas
from .envelope import ok

blueprint = Blueprint("admin", __name__)


def route(name, methods):
    def register(view):
        blueprint.add_url_rule("/" + name, name, view, methods=methods)
        blueprint.add_url_rule("/%s/" % name, name + "_slash", view, methods=methods)
        return view

    return register


def accepts(schema, summary):
    """Validate the merged parameters with ``schema``; call ``view(args, params)``.

    Parameters may come in the query string, a form body or a JSON body, so
    the same schema documents all three.
    """

    def wrap(view):
        @functools.wraps(view)
        def validated():
            params = collect()
            return view(schema_instance(schema).load(single(params)), params)

        return documented(summary, query=schema, form=schema, body=schema)(validated)

    return wrap


@route("servicelist", ["GET", "POST"])
@accepts(schemas.ServiceList, "List the services of a zkidc")
def servicelist(args, params):
    catalog = authorize("read", params)
    names = sorted(catalog.services())
    return ok(services=[{"service": name} for name in names], stale=catalog.stale)


@route("addservice", ["POST"])
@accepts(schemas.Service, "Create a service (idempotent)")
def addservice(args, params):
    catalog = authorize("write", params, args["destName"])
    created = catalog.create_service(args["destName"])
    return ok(service=args["destName"], existed=not created)


@route("delservice", ["POST"])
@accepts(schemas.DeleteService, "Delete a service; one with servers only with force=true")
def delservice(args, params):
    catalog = authorize("delete", params, args["destName"])
    catalog.delete_service(args["destName"], force=args["force"])
    return ok(service=args["destName"])


@route("serverlist", ["GET", "POST"])
@accepts(schemas.Service, "List the servers (members) of a service")
def serverlist(args, params):
    catalog = authorize("read", params, args["destName"])
    return _listing(catalog, catalog.service(args["destName"]))


def _listing(catalog, group):
    """serverlist's answer, rendered once per cached snapshot of the service:
    the cache replaces a Group whenever anything in it changes."""
    listings = current_app.extensions.setdefault("admin.listings", {})
    key, stale = (catalog.name, group.name), catalog.stale
    hit = listings.get(key)
    if hit is None or hit[0] is not group or hit[1] != stale:
        servers = [_server(leaf) for _, leaf in sorted(group.leaves.items())]
        body = json.dumps({"code": 1, "servers": servers, "stale": stale}, separators=(",", ":")).encode() + b"\n"
        if len(listings) >= 4096:
            listings.clear()
        hit = listings[key] = (group, stale, body)
    return current_app.response_class(hit[2], mimetype="application/json")


def _server(leaf):
    member = leaf.value
    if member is None:  # written by someone else in a shape we cannot read
        return {"host": None, "port": None, "key": leaf.name, "raw": leaf.data[:512].decode("utf-8", "replace")}
    return {"host": member.host, "port": member.port, "key": leaf.name, "status": member.status}


@route("addserver", ["POST"])
@accepts(schemas.AddServer, "Add a server (idempotent for the same host and port)")
def addserver(args, params):
    service, host, port = args["destName"], args["serverHost"], args["serverPort"]
    catalog = authorize("write", params, service)
    key = catalog.find_member(service, host, port)
    if key is not None:
        return ok(key=key, existed=True)
    key = catalog.add_member(service, Member(host, port, instance={"registeredBy": "admin"}))
    return ok(key=key, existed=False)


@route("delserver", ["POST"])
@accepts(schemas.DeleteServer, "Delete a server by its member key")
def delserver(args, params):
    catalog = authorize("write", params, args["destName"])
    catalog.delete_member(args["destName"], args["serverKey"])
    return ok(key=args["serverKey"])
