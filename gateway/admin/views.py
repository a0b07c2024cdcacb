"""Admin endpoints, each with and without a trailing slash."""

import functools
import json

from flask import Blueprint, current_app

from ..access import authorize
from ..context import current
from ..openapi import documented
from ..params import collect, schema_instance, single
from . import schemas, service
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
    if not args.keys() & {"search", "offset", "limit", "counts"}:
        return ok(services=[{"service": name} for name in service.names(catalog)], stale=catalog.stale)
    found = service.search(
        catalog, args.get("search", ""), args.get("offset", 0), args.get("limit"), args.get("counts", False)
    )
    return ok(services=found.services, total=found.total, stale=catalog.stale)


@route("addservice", ["POST"])
@accepts(schemas.Service, "Create a service (idempotent)")
def addservice(args, params):
    catalog = authorize("write", params, args["destName"])
    existed = service.add(catalog, args["destName"])
    return ok(service=args["destName"], existed=existed)


@route("delservice", ["POST"])
@accepts(schemas.DeleteService, "Delete a service; one with servers only with force=true")
def delservice(args, params):
    catalog = authorize("delete", params, args["destName"])
    service.delete(catalog, args["destName"], force=args["force"])
    return ok(service=args["destName"])


@route("serverlist", ["GET", "POST"])
@accepts(schemas.ServerList, "List the servers (members) of a service")
def serverlist(args, params):
    catalog = authorize("read", params, args["destName"])
    if args.get("details"):
        return ok(servers=service.details(catalog, args["destName"]), stale=catalog.stale)
    return _listing(catalog, service.servers(catalog, args["destName"]))


def _listing(catalog, group):
    """serverlist's answer, rendered once per cached snapshot of the service:
    the cache replaces a Group whenever anything in it changes."""
    listings = current().state("admin")
    stale = catalog.stale

    def render():
        servers = [service.server(leaf) for _, leaf in sorted(group.leaves.items())]
        return json.dumps({"code": 1, "servers": servers, "stale": stale}, separators=(",", ":")).encode() + b"\n"

    body = listings.get((catalog.name, group.name), group, render, stale)
    return current_app.response_class(body, mimetype="application/json")


def _server_key(catalog, args):
    """The member key a request names: serverKey, or the member at serverHost:serverPort."""
    return service.server_key(
        catalog, args["destName"], args.get("serverKey"), args.get("serverHost"), args.get("serverPort")
    )


@route("addserver", ["POST"])
@accepts(schemas.AddServer, "Add a server (idempotent for the same host and port)")
def addserver(args, params):
    catalog = authorize("write", params, args["destName"])
    added = service.add_server(catalog, args["destName"], args["serverHost"], args["serverPort"])
    return ok(key=added.key, existed=added.existed)


@route("delserver", ["POST"])
@accepts(schemas.DeleteServer, "Delete a server by its member key, or by host and port")
def delserver(args, params):
    catalog = authorize("write", params, args["destName"])
    key = _server_key(catalog, args)
    service.delete_server(catalog, args["destName"], key)
    return ok(key=key)


@route("setserver", ["POST"])
@accepts(schemas.SetServer, "Drain (STOPPED) or enable (ALIVE) a server; idempotent")
def setserver(args, params):
    catalog = authorize("write", params, args["destName"])
    done = service.set_server(catalog, args["destName"], _server_key(catalog, args), args["status"])
    return ok(key=done.key, status=args["status"], changed=done.changed)
