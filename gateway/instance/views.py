"""Instance API endpoints.

Reads (list, get) come from the watch cache and show every member of the
service, whoever wrote it. Writes go through the shared lease mechanism
(``zk.instances``): an instance registers once, beats to stay HEALTHY, is
UN_HEALTHY after ``unhealthy_after`` seconds without a beat and removed
after ``remove_after``; a DISABLEd one ignores beats and never lapses.
"""
from flask import Blueprint, jsonify, request

from zk import codec
from zk.errors import NotFound

from ..access import authorize
from ..context import current
from ..openapi import documented
from ..params import BadRequest, json_body, schema_instance, single
from . import model, schemas
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
    """(parameters, identity, Catalog) of a write, once its key may write there
    and the service is in the namespace the write names."""
    args = from_body(schema)  # first: a client sending it all in the query string learns where it goes
    from_query(schemas.WriteQuery)
    who, catalog = identity(args), access("write", args)
    group = catalog.services().get(who.service)
    if group is not None and model.namespace_of(group) != who.namespace:
        raise BadRequest(
            "service %s is in namespace %s, not %s (service names are unique per zkidc)"
            % (who.service, model.namespace_of(group), who.namespace)
        )
    return args, who, catalog


def registered(catalog, who):
    """The member published for ``who`` through this API, or a clear 404."""
    leaves = catalog.instances.lookup(who.service, who.key, fresh=True)
    if not leaves or leaves[0].value is None:
        raise missing(catalog, who)
    return leaves[0].value


def missing(catalog, who):
    """NotFound for ``who``, saying why when the address is listed by someone else."""
    group = catalog.services().get(who.service)
    for shown in model.views(who.service, group) if group is not None else ():
        if _same_instance(shown, who):
            return NotFound(
                "%s was not registered through /api/instance (it is published by another API or writer); "
                "only instances registered here can beat, change status or deregister here" % who.describe()
            )
    return NotFound("%s is not registered; register it first" % who.describe())


def _same_instance(shown, who):
    return (shown["namespace"], shown["cluster"], shown["ip"], shown["port"]) == (
        who.namespace,
        who.cluster,
        who.ip,
        who.port,
    )


# -- reads ----------------------------------------------------------------------


@route("/api/instance/list", ["GET"])
@documented("The instances of a service", query=schemas.InstanceList)
def instance_list():
    args = from_query(schemas.InstanceList)
    catalog = access("read", args)
    service = args["serviceName"]
    group = catalog.services().get(service)
    shown = model.views(service, group) if group is not None else []
    wanted = set(args["clusters"])
    instances = [
        model.public(v)
        for v in shown
        if v["namespace"] == args["namespace"]
        and (not wanted or v["cluster"] in wanted)
        and (args["healthy"] is None or (v["status"] == model.HEALTHY) == args["healthy"])
    ]
    return jsonify(
        serviceName=service,
        clusters=sorted({v["cluster"] for v in instances}),
        instances=instances,
    )


@route("/api/instance", ["GET"])
@documented("One instance", query=schemas.Instance)
def instance_get():
    args = from_query(schemas.Instance)
    catalog = access("read", args)
    who = identity(args)
    group = catalog.services().get(who.service)
    for shown in model.views(who.service, group) if group is not None else ():
        if _same_instance(shown, who):
            return jsonify(model.public(shown))
    raise NotFound("%s is not registered" % who.describe())


# -- writes ---------------------------------------------------------------------


@route("/api/instance", ["POST"])
@documented("Register an instance (again: updated, never duplicated)", body=schemas.RegisterBody)
def instance_register():
    """Register, or register again: the same identity is updated, never duplicated."""
    args, who, catalog = write_target(schemas.RegisterBody)
    details = {k: args[k] for k in (*model.PUBLISHED_DETAILS, "metadata") if k in args}
    settings = timing()
    if catalog.services().get(who.service) is None:
        catalog.create_service(who.service, {"namespace": who.namespace})
    leaves = catalog.instances.lookup(who.service, who.key)
    if len(leaves) == 1 and leaves[0].value is not None:
        old = leaves[0].value
        status = model.kept_status(old)
        if model.unchanged(old, model.publish(who, status, old, details), settings.policy(status)):
            try:  # nothing to publish: a registration is then just a beat
                catalog.instances.renew(who.service, who.key)
                return success()
            except NotFound:
                pass  # evicted meanwhile: register it anew

    def build(old):
        return model.publish(who, model.kept_status(old), old, details)

    def policy(old):
        return settings.policy(model.kept_status(old))

    catalog.instances.register(who.service, who.key, build, policy)
    return success()


@route("/api/instance", ["DELETE"])
@documented("Deregister an instance at once", body=schemas.InstanceBody)
def instance_deregister():
    """Deregister at once. Needs ``write``: an application's own key must be
    able to take its instances out when it shuts down."""
    _, who, catalog = write_target(schemas.InstanceBody)
    try:
        catalog.instances.cancel(who.service, who.key)
    except NotFound:
        raise missing(catalog, who) from None
    return success()


@route("/api/instance/beat", ["PUT"])
@documented("Heartbeat of an instance", body=schemas.InstanceBody)
def instance_beat():
    """A beat keeps an instance HEALTHY and makes an UN_HEALTHY one HEALTHY
    again; a DISABLEd instance ignores it."""
    _, who, catalog = write_target(schemas.InstanceBody)
    if model.state_of(registered(catalog, who)) == model.DISABLE:
        return success()
    try:
        member = catalog.instances.renew(who.service, who.key)
    except NotFound:
        raise missing(catalog, who) from None
    if member.status == codec.DEAD and not member.instance.get("lapsed"):  # set UN_HEALTHY by hand
        _publish(catalog, who, model.HEALTHY)
    return success()


@route("/api/instance/status", ["PUT"])
@documented("Set the status of an instance: HEALTHY, UN_HEALTHY or DISABLE", body=schemas.StatusBody)
def instance_status():
    args, who, catalog = write_target(schemas.StatusBody)
    if model.state_of(registered(catalog, who)) != args["status"]:
        _publish(catalog, who, args["status"])
    return success()


def _publish(catalog, who, status):
    """Replace the member (a new znode, so readers that never re-read see it)."""
    try:
        catalog.instances.replace(
            who.service, who.key, lambda old: model.publish(who, status, old), policy=timing().policy(status)
        )
    except NotFound:
        raise missing(catalog, who) from None
