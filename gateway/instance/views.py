"""Instance API endpoints.

Reads (list, get) come from the watch cache and show every member of the
service, whoever wrote it. Writes go through the shared lease mechanism
(``zk.instances``): an instance registers once, beats to stay HEALTHY, is
UN_HEALTHY after ``unhealthy_after`` seconds without a beat and removed
after ``remove_after``; a DISABLEd one ignores beats and never lapses.
"""

from flask import Blueprint, jsonify, request

from ..access import authorize
from ..context import current
from ..openapi import documented
from ..params import BadRequest, json_body, schema_instance, single
from . import model, schemas, service
from .envelope import success

blueprint = Blueprint("instance", __name__)


def timing():
    return current().state("instance")


def route(path, methods):
    def register(view):
        blueprint.add_url_rule(path, view.__name__, view, methods=methods, strict_slashes=False)
        return view

    return register


# -- parameters ---------------------------------------------------------------


def from_query(schema):
    return schema_instance(schema).load(single(request.args))


def from_body(schema):
    doc = json_body()
    if not isinstance(doc, dict):
        raise BadRequest("the request body must be a JSON object with serviceName, ip and port")
    return schema_instance(schema).load(doc)


def access(right, args):
    """The Catalog, once the key may do ``right`` on the service."""
    params = {name: args.get(name) or request.args.get(name) for name in ("key", "keys", "zkidc")}
    return authorize(right, params, args["serviceName"])


def identity(args):
    return model.Identity(args["namespace"], args["cluster"], args["serviceName"], args["ip"], args["port"])


def write_target(schema):
    """(parameters, identity, Catalog) of a write, once its key may write there."""
    args = from_body(schema)  # first: a client sending it all in the query string learns where it goes
    from_query(schemas.WriteQuery)
    return args, identity(args), access("write", args)


# -- reads ----------------------------------------------------------------------


@route("/api/instance/list", ["GET"])
@documented("The instances of a service", query=schemas.InstanceList)
def instance_list():
    args = from_query(schemas.InstanceList)
    catalog = access("read", args)
    found = service.listing(catalog, args["serviceName"], args["namespace"], args["clusters"], args["healthy"])
    return jsonify(serviceName=found.service, clusters=found.clusters, instances=found.instances)


@route("/api/instance", ["GET"])
@documented("One instance", query=schemas.Instance)
def instance_get():
    args = from_query(schemas.Instance)
    catalog = access("read", args)
    return jsonify(service.get(catalog, identity(args)))


# -- writes ---------------------------------------------------------------------


@route("/api/instance", ["POST"])
@documented("Register an instance (again: updated, never duplicated)", body=schemas.RegisterBody)
def instance_register():
    """Register, or register again: the same identity is updated, never duplicated."""
    args, who, catalog = write_target(schemas.RegisterBody)
    details = {k: args[k] for k in (*model.PUBLISHED_DETAILS, "metadata") if k in args}
    service.register(catalog, timing(), who, details)
    return success()


@route("/api/instance", ["DELETE"])
@documented("Deregister an instance at once", body=schemas.InstanceBody)
def instance_deregister():
    """Deregister at once. Needs ``write``: an application's own key must be
    able to take its instances out when it shuts down."""
    _, who, catalog = write_target(schemas.InstanceBody)
    service.deregister(catalog, who)
    return success()


@route("/api/instance/beat", ["PUT"])
@documented("Heartbeat of an instance", body=schemas.InstanceBody)
def instance_beat():
    """A beat keeps an instance HEALTHY and makes an UN_HEALTHY one HEALTHY
    again; a DISABLEd instance ignores it."""
    _, who, catalog = write_target(schemas.InstanceBody)
    service.beat(catalog, timing(), who)
    return success()


@route("/api/instance/status", ["PUT"])
@documented("Set the status of an instance: HEALTHY, UN_HEALTHY or DISABLE", body=schemas.StatusBody)
def instance_status():
    args, who, catalog = write_target(schemas.StatusBody)
    service.set_status(catalog, timing(), who, args["status"])
    return success()
