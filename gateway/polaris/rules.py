"""Rule management on Polaris's paths: ``/naming/v1/routings``,
``/naming/v1/ratelimits`` and ``/naming/v1/circuitbreakers``.

Each path takes a batch create (POST), update (PUT) and delete (POST
``.../delete``) and a query (GET). A routing rule and a circuit breaker are
one per service, named by their service; rate limits are many per service,
each named by the id the gateway gives it. Rules are kept in
``/soa/rules/<service>/<kind>`` (see zk/rules.py) and a rule's service must
exist in the rule's namespace.

The endpoints are a blueprint of their own, nested in the Polaris dialect's
(gateway/polaris/__init__.py): ``polaris.rules.<kind>_<action>``.
"""

import uuid
from dataclasses import dataclass

from flask import Blueprint

from ..access import authorize
from ..openapi import documented
from . import codes, schemas, shapes
from .batch import Applied
from .codes import PolarisError
from .envelope import answer, expect
from .views import in_namespace, params, query, write_batch

blueprint = Blueprint("rules", __name__)
STAMPS = ("id", "ctime", "mtime", "revision")  # what the gateway sets on a rule


@dataclass(frozen=True)
class Kind:
    kind: str  # in ZooKeeper (zk.rules.KINDS)
    path: str  # under /naming/v1
    field: str  # of each response of a batch
    plural: str  # of a query's answer
    schema: type  # of a create
    update: type  # of an update
    ref: type  # of a delete
    query: type
    many: bool  # many rules per service, each named by its id (else one, named by its service)
    ids: bool  # rules carry an id

    def echo(self, raw):
        shown = {"service": raw.get("service", ""), "namespace": raw.get("namespace") or schemas.DEFAULT_NAMESPACE}
        if self.ids:
            shown = {"id": raw.get("id", ""), **shown, "name": raw.get("name", "")}
        return {self.field: shown}


KINDS = (
    Kind(
        "routing",
        "routings",
        "routing",
        "routings",
        schemas.Routing,
        schemas.Routing,
        schemas.RoutingRef,
        schemas.RuleQuery,
        False,
        False,
    ),
    Kind(
        "ratelimit",
        "ratelimits",
        "rateLimit",
        "rateLimits",
        schemas.RateLimit,
        schemas.RateLimitUpdate,
        schemas.RateLimitRef,
        schemas.RateLimitQuery,
        True,
        True,
    ),
    Kind(
        "circuitbreaker",
        "circuitbreakers",
        "circuitBreaker",
        "circuitBreakers",
        schemas.CircuitBreaker,
        schemas.CircuitBreaker,
        schemas.CircuitBreakerRef,
        schemas.RuleQuery,
        False,
        True,
    ),
)


def _content(rule):
    return {k: v for k, v in rule.items() if k not in STAMPS}


def _stamped(kind, item, old=None):
    stamp = shapes.now()
    old = old or {}
    rule = dict(item, ctime=old.get("ctime") or stamp, mtime=stamp, revision=uuid.uuid4().hex)
    if kind.ids:
        rule["id"] = old.get("id") or uuid.uuid4().hex
    return rule


def _service(catalog, item):
    return item.get("service")


def _locate(catalog, kind, item):
    """The service holding the rule ``item`` names (by id or by service), or None."""
    if not kind.many or item.get("service"):
        return item.get("service")
    for service, rules in catalog.rules.every(kind.kind):
        if any(rule.get("id") == item["id"] for rule in rules):
            return service
    return None


def _same_name(rules, item, ignore=None):
    return any(r.get("name") == item["name"] and r.get("id") != ignore for r in rules)


def create(kind):
    def apply(catalog, item):
        in_namespace(catalog, item["service"], item["namespace"], codes.NO_SERVICE, fresh=True)
        made = {}

        def change(rules):
            if not kind.many and rules:
                raise PolarisError(codes.EXISTED, "service %s already has a %s rule" % (item["service"], kind.field))
            if kind.many and _same_name(rules, item):
                raise PolarisError(
                    codes.EXISTED, "service %s already has a rule named %s" % (item["service"], item["name"])
                )
            made.update(_stamped(kind, {k: v for k, v in item.items() if k != "id"}))
            return rules + [made]

        catalog.rules.edit(item["service"], kind.kind, change)
        return Applied(codes.SUCCESS, None, kind.echo(made))

    return write_batch("write", kind.schema, apply, kind.echo, _service)


def update(kind):
    def apply(catalog, item):
        in_namespace(catalog, item["service"], item["namespace"], codes.NO_SERVICE, fresh=True)

        def change(rules):
            for number, old in enumerate(rules):  # noqa: B007 - number is the rule found, used below
                if not kind.many or old.get("id") == item["id"]:
                    break
            else:
                raise PolarisError(codes.NOT_FOUND, "service %s has no such %s rule" % (item["service"], kind.field))
            if kind.many and _same_name(rules, item, ignore=item["id"]):
                raise PolarisError(
                    codes.EXISTED, "service %s already has a rule named %s" % (item["service"], item["name"])
                )
            if _content(old) == _content(item):
                return rules
            return rules[:number] + [_stamped(kind, _content(item), old)] + rules[number + 1 :]

        written = catalog.rules.edit(item["service"], kind.kind, change)
        return Applied(codes.SUCCESS if written else codes.NO_NEED_UPDATE)

    return write_batch("write", kind.update, apply, kind.echo, _service)


def delete(kind):
    def target(rule, item):
        if kind.many and rule.get("id") != item["id"]:
            return False
        return item.get("namespace", rule.get("namespace")) == rule.get("namespace")

    def apply(catalog, item):
        service = _locate(catalog, kind, item)
        if service is not None:  # deleting what is not there succeeds
            catalog.rules.edit(service, kind.kind, lambda rules: [r for r in rules if not target(r, item)])
        return Applied(codes.SUCCESS)

    return write_batch("delete", kind.ref, apply, kind.echo, lambda catalog, item: _locate(catalog, kind, item))


def listing(kind):
    expect(amount=0, size=0, **{kind.plural: []})
    catalog = authorize("read", params())
    wanted = query(kind.query)
    exact = {k: wanted[k] for k in ("service", "namespace", "id", "name", "disable") if k in wanted}
    found = [
        rule
        for _, rules in catalog.rules.every(kind.kind)
        for rule in rules
        if all(rule.get(k) == v for k, v in exact.items())
        and wanted.get("method", "") in str((rule.get("method") or {}).get("value", ""))
    ]
    found.sort(key=lambda rule: (str(rule.get("mtime", "")), str(rule.get("revision", ""))), reverse=True)
    page = found[wanted["offset"] : wanted["offset"] + wanted["limit"]]
    if wanted.get("brief"):
        page = [
            {k: rule.get(k) for k in ("id", "name", "service", "namespace", "disable", "ctime", "mtime")}
            for rule in page
        ]
    return answer(codes.SUCCESS, amount=len(found), size=len(page), **{kind.plural: page})


def _register(kind, action, handler, path, method, summary, **schemas_used):
    def view():
        return handler(kind)

    view.__name__ = view.__qualname__ = "%s_%s" % (kind.kind, action)
    view.__doc__ = summary
    documented(summary, **schemas_used)(view)
    blueprint.add_url_rule(path, view.__name__, view, methods=[method])


for _kind in KINDS:
    _base = "/naming/v1/" + _kind.path
    _register(
        _kind,
        "create",
        create,
        _base,
        "POST",
        "Create %s rules (batch)" % _kind.kind,
        body=_kind.schema,
        body_many=True,
    )
    _register(
        _kind, "update", update, _base, "PUT", "Update %s rules (batch)" % _kind.kind, body=_kind.update, body_many=True
    )
    _register(
        _kind,
        "delete",
        delete,
        _base + "/delete",
        "POST",
        "Delete %s rules (batch)" % _kind.kind,
        body=_kind.ref,
        body_many=True,
    )
    _register(_kind, "query", listing, _base, "GET", "Query %s rules" % _kind.kind, query=_kind.query)
