"""The ops console: server-rendered pages over the zk/ layer.

Reading needs no script. Every form that changes something carries the
session's CSRF token and is refused (403, nothing written) without it; the
session's key decides, on the server, what is shown and what is allowed.
"""

import functools
import math
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Blueprint, abort, g, jsonify, redirect, render_template, request, url_for

from zk.codec import ALIVE, STOPPED, decode_attributes

from ..access import authorize_key
from ..admin import schemas
from ..context import current
from ..health import console_state
from ..history import recent
from ..keys import Forbidden, Keys, Unauthorized
from ..params import BadRequest, schema_instance

blueprint = Blueprint("ui", __name__, template_folder="templates", static_folder="static", static_url_path="/ui/static")
PAGE = 50  # services per page
NOTICES = {
    "service-added": "Service added.",
    "service-existed": "The service was there already.",
    "service-deleted": "Service deleted.",
    "server-added": "Server added.",
    "server-existed": "A server at that address was there already.",
    "server-drained": "Server drained (STOPPED).",
    "server-enabled": "Server enabled (ALIVE).",
    "server-unchanged": "The server had that status already.",
    "server-deleted": "Server deleted.",
}
ACTIONS = {"drain": STOPPED, "enable": ALIVE}


def sessions():
    return current().state("ui")


def _signed_in():
    """(Session, KeyConfig) of the request's cookie, or None."""
    session = sessions().read(request.cookies)
    key = current().keys.named(session.key_name) if session else None
    if key is None:
        return None
    g.key_name = key.name
    return session, key


def page(view):
    """A page to read: sends a visitor without a valid session to the login form."""

    @functools.wraps(view)
    def wrapped(**kwargs):
        found = _signed_in()
        if found is None:
            return redirect(url_for("ui.login", next=request.full_path.rstrip("?")), 303)
        g.session, g.key = found
        return view(**kwargs)

    return wrapped


def action(view):
    """A form that changes something: needs a session and its CSRF token."""

    @functools.wraps(view)
    def wrapped(**kwargs):
        found = _signed_in()
        if found is None:
            raise Unauthorized("sign in first")
        g.session, g.key = found
        if not g.session.csrf_ok(request.form.get("csrf")):
            raise Forbidden("the form's CSRF token is missing or wrong; reload the page and try again", g.key.name)
        return view(**kwargs)

    return wrapped


def _done(endpoint, notice, **values):
    return redirect(url_for(endpoint, notice=notice, **values), 303)


def _may(right, zkidc, service=None):
    return Keys.may(g.key, right, zkidc, service)


CONSOLE_FIELDS = ("csrf", "action")  # the console's own, not the admin API's parameters


def _form(schema, **extra):
    """A form's admin parameters, checked by the admin API's own schema
    (which refuses parameters it does not know)."""
    form = {name: value for name, value in request.form.to_dict().items() if name not in CONSOLE_FIELDS}
    return schema_instance(schema).load({**form, **extra})


@blueprint.app_template_filter("when")
def _when(ms):
    """ZooKeeper's milliseconds since the epoch, as UTC."""
    if not ms:
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@blueprint.app_context_processor
def _globals():
    return {"notice": NOTICES.get(request.args.get("notice", "")), "session": g.get("session"), "key": g.get("key")}


# -- login ----------------------------------------------------------------


def _safe_next(target):
    """Only a path inside the console: never an open redirect."""
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/ui/"):
        return url_for("ui.home")
    return target


@blueprint.route("/ui/login", methods=["GET", "POST"])
def login():
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if _signed_in() is not None:
            return redirect(target, 303)
        return render_template("login.html", next=target, error=None)
    key = current().keys.identify(request.form.get("key", ""))
    if key is None:
        return render_template("login.html", next=target, error="Unknown key."), 401
    response = redirect(target, 303)
    sessions().start(response, key.name, request.is_secure)
    g.key_name = key.name
    return response


@blueprint.post("/ui/logout")
@action
def logout():
    response = redirect(url_for("ui.login"), 303)
    sessions().end(response, request.is_secure)
    return response


@blueprint.get("/")
def root():
    """A browser asking for the root gets the console; API clients a 404 as before."""
    if request.accept_mimetypes.accept_html and "text/html" in request.accept_mimetypes:
        return redirect(url_for("ui.home"), 302)
    abort(404)


# -- pages ----------------------------------------------------------------


@blueprint.get("/ui/")
@page
def home():
    gateway = current()
    zkidcs = []
    for name in gateway.config.zkidcs:
        if not _may("read", name):
            continue
        catalog = gateway.registry.get(name)
        row = {"name": name, "state": console_state(catalog), "services": None, "members": None, "alive": None}
        if catalog.tree.loaded:
            groups = catalog.services()
            members = [leaf.value for group in groups.values() for leaf in group.leaves.values()]
            row.update(
                services=len(groups), members=len(members), alive=sum(1 for m in members if m is not None and m.alive)
            )
        zkidcs.append(row)
    return render_template("home.html", zkidcs=zkidcs, default=gateway.config.default_zkidc)


@blueprint.get("/ui/<zkidc>/")
@page
def services(zkidc):
    catalog = authorize_key(g.key, "read", zkidc=zkidc)
    search = request.args.get("q", "")[:128]
    names = sorted(name for name in catalog.services() if search.casefold() in name.casefold())
    pages = max(1, math.ceil(len(names) / PAGE))
    number = min(max(_int(request.args.get("page"), 1), 1), pages)
    groups = catalog.services()
    rows = []
    for name in names[(number - 1) * PAGE : number * PAGE]:
        members = [leaf.value for leaf in groups[name].leaves.values()]
        rows.append(
            {"name": name, "members": len(members), "alive": sum(1 for m in members if m is not None and m.alive)}
        )
    return render_template(
        "services.html",
        zkidc=zkidc,
        rows=rows,
        search=search,
        page=number,
        pages=pages,
        total=len(names),
        stale=catalog.stale,
        may_write=_may("write", zkidc),
    )


def _int(text, default):
    try:
        return int(text)
    except (TypeError, ValueError):
        return default


@blueprint.get("/ui/<zkidc>/s/<service>")
@page
def service(zkidc, service):
    catalog = authorize_key(g.key, "read", service, zkidc)
    group = catalog.service(service)
    members = [_member(catalog, service, leaf) for _, leaf in sorted(group.leaves.items())]
    rules = {kind: catalog.rules.of(service, kind) for kind in catalog.rules.kinds(service)}
    return render_template(
        "service.html",
        zkidc=zkidc,
        service=service,
        members=members,
        version=group.version,
        stale=catalog.stale,
        attributes=decode_attributes(group.data),
        rules=rules,
        changes=recent.under(zkidc, catalog.layout.service(service)),
        may_write=_may("write", zkidc, service),
        may_delete=_may("delete", zkidc, service),
    )


@blueprint.get("/ui/<zkidc>/s/<service>/version")
@page
def version(zkidc, service):
    """What the page's script polls: the page reloads when this changes."""
    catalog = authorize_key(g.key, "read", service, zkidc)
    return jsonify(version=catalog.service(service).version)


def _member(catalog, service, leaf):
    member = leaf.value
    shown = {"key": leaf.name, "registered": leaf.stat.ctime, "ephemeral": bool(leaf.stat.ephemeralOwner)}
    if member is None:  # someone else's shape
        shown.update(address=None, raw=leaf.data[:512].decode("utf-8", "replace"))
        return shown
    instance = member.instance
    origin = instance.get("registeredBy")
    weight = instance.get("weight", member.metadata.get("weight"))
    shown.update(
        address="%s:%d" % (member.host, member.port)
        if ":" not in member.host
        else "[%s]:%d" % (member.host, member.port),
        status=member.status,
        origin=origin if isinstance(origin, str) else "other",
        zone=instance.get("zone") if isinstance(instance.get("zone"), str) else None,
        env=instance.get("env") if isinstance(instance.get("env"), str) else None,
        heartbeat=catalog.last_heartbeat(service, leaf),
        weight=weight,
        metadata=member.metadata,
        additional={name: "%s:%d" % endpoint for name, endpoint in member.additional.items()},
        settable=not leaf.stat.ephemeralOwner,
    )
    return shown


# -- changes --------------------------------------------------------------


@blueprint.post("/ui/<zkidc>/services")
@action
def add_service(zkidc):
    args = _form(schemas.Service)
    catalog = authorize_key(g.key, "write", args["destName"], zkidc)
    created = catalog.create_service(args["destName"])
    return _done("ui.service", "service-added" if created else "service-existed", zkidc=zkidc, service=args["destName"])


@blueprint.post("/ui/<zkidc>/s/<service>/delete")
@action
def delete_service(zkidc, service):
    args = _form(schemas.DeleteService)
    if args["destName"] != service:
        return _refuse("Type the service's name, %s, to delete it." % service)
    catalog = authorize_key(g.key, "delete", service, zkidc)
    catalog.delete_service(service, force=args["force"])
    return _done("ui.services", "service-deleted", zkidc=zkidc)


@blueprint.post("/ui/<zkidc>/s/<service>/servers")
@action
def add_server(zkidc, service):
    args = _form(schemas.AddServer, destName=service)
    catalog = authorize_key(g.key, "write", service, zkidc)
    _, existed = catalog.add_server(service, args["serverHost"], args["serverPort"], "admin")
    return _done("ui.service", "server-existed" if existed else "server-added", zkidc=zkidc, service=service)


@blueprint.post("/ui/<zkidc>/s/<service>/servers/<key>")
@action
def change_server(zkidc, service, key):
    act = request.form.get("action")
    if act not in ("drain", "enable", "delete"):
        return _refuse("action must be drain, enable or delete")
    schema_instance(schemas.DeleteServer).load({"destName": service, "serverKey": key})
    catalog = authorize_key(g.key, "write", service, zkidc)
    if act == "delete":
        catalog.delete_member(service, key)
        notice = "server-deleted"
    else:
        _, changed = catalog.set_status(service, key, ACTIONS[act])
        notice = ("server-drained" if act == "drain" else "server-enabled") if changed else "server-unchanged"
    return _done("ui.service", notice, zkidc=zkidc, service=service)


def _refuse(message):
    raise BadRequest(message)


@blueprint.get("/docs")
def docs():
    """The API explorer (Swagger UI, shipped in the package) over /openapi.json."""
    return render_template("docs.html")


def render(problem):
    """Every console error as a page: the status, the message, a way back."""
    return render_template("error.html", problem=problem), problem.status
