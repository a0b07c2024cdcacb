"""Admin endpoints, each with and without a trailing slash."""
import functools
import json

from flask import Blueprint, current_app

from zk.errors import NotFound

from ..access import authorize
from ..context import current
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
    groups = catalog.services()
    if not args.keys() & {"search", "offset", "limit", "counts"}:
        return ok(services=[{"service": name} for name in sorted(groups)], stale=catalog.stale)
    search = args.get("search", "").casefold()
    names = sorted(name for name in groups if search in name.casefold())
    start = args.get("offset", 0)
    page = names[start:] if args.get("limit") is None else names[start : start + args["limit"]]
    services = [{"service": name} for name in page]
    if args.get("counts"):
        for entry in services:
            members = [leaf.value for leaf in groups[entry["service"]].leaves.values()]
            entry["members"] = len(members)
            entry["alive"] = sum(1 for member in members if member is not None and member.alive)
    return ok(services=services, total=len(names), stale=catalog.stale)


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
@accepts(schemas.ServerList, "List the servers (members) of a service")
def serverlist(args, params):
    catalog = authorize("read", params, args["destName"])
    group = catalog.service(args["destName"])
    if args.get("details"):
        servers = [_details(catalog, group.name, leaf) for _, leaf in sorted(group.leaves.items())]
        return ok(servers=servers, stale=catalog.stale)
    return _listing(catalog, group)


def _listing(catalog, group):
    """serverlist's answer, rendered once per cached snapshot of the service:
    the cache replaces a Group whenever anything in it changes."""
    listings = current().state("admin")
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


def _details(catalog, service, leaf):
    """A server as ``details=true`` lists it: who registered it and, for an
    application's instance, its zone and last heartbeat (lease mtime, ms)."""
    shown = _server(leaf)
    instance = leaf.value.instance if leaf.value is not None else {}
    origin = instance.get("registeredBy")
    shown["origin"] = origin if isinstance(origin, str) else "other"
    zone = instance.get("zone")
    shown["zone"] = zone if isinstance(zone, str) else None
    shown["heartbeat"] = catalog.last_heartbeat(service, leaf)
    shown["ephemeral"] = bool(leaf.stat.ephemeralOwner)
    return shown


def _server_key(catalog, args):
    """The member key a request names: serverKey, or the member at serverHost:serverPort."""
    if "serverKey" in args:
        return args["serverKey"]
    service, host, port = args["destName"], args["serverHost"], args["serverPort"]
    key = catalog.find_member(service, host, port)
    if key is None:
        raise NotFound("service %s has no server at %s:%d on zkidc %s" % (service, host, port, catalog.name))
    return key


@route("addserver", ["POST"])
@accepts(schemas.AddServer, "Add a server (idempotent for the same host and port)")
def addserver(args, params):
    service, host, port = args["destName"], args["serverHost"], args["serverPort"]
    catalog = authorize("write", params, service)
    key, existed = catalog.add_server(service, host, port, "admin")
    return ok(key=key, existed=existed)


@route("delserver", ["POST"])
@accepts(schemas.DeleteServer, "Delete a server by its member key, or by host and port")
def delserver(args, params):
    catalog = authorize("write", params, args["destName"])
    key = _server_key(catalog, args)
    catalog.delete_member(args["destName"], key)
    return ok(key=key)


@route("setserver", ["POST"])
@accepts(schemas.SetServer, "Drain (STOPPED) or enable (ALIVE) a server; idempotent")
def setserver(args, params):
    catalog = authorize("write", params, args["destName"])
    key, changed = catalog.set_status(args["destName"], _server_key(catalog, args), args["status"])
    return ok(key=key, status=args["status"], changed=changed)
