"""Polaris client discover (``POST /v1/Discover``) and service management
(``/naming/v1/services``). Rule management is in ``rules.py``.

The zkidc comes from the ``zkidc`` query parameter or the ``X-Zkidc``
header; the key from ``X-Polaris-Token`` (or the gateway's other headers).
"""
import uuid

from flask import Blueprint, request
from marshmallow import ValidationError

from zk.errors import NotEmpty, NotFound, Unavailable

from ..access import authorize
from ..context import current
from ..keys import Forbidden
from ..openapi import documented
from ..params import BadRequest, json_body, schema_instance
from . import codes, schemas, shapes
from .codes import PolarisError
from .envelope import answer, batch, expect, failure, respond

blueprint = Blueprint("polaris", __name__)


def answers():
    return current().state("polaris")


def params():
    """What authorize() needs; Polaris's own ``keys`` parameter is a metadata filter, not a key."""
    return {"zkidc": request.args.get("zkidc")}


def query(schema=schemas.Query):
    """The query string, checked: a call takes only the parameters ``schema`` declares."""
    return schema_instance(schema).load(request.args)


def body():
    try:
        doc = json_body()
    except BadRequest as exc:
        raise PolarisError(codes.PARSE, exc.message) from None
    if doc is None:
        raise PolarisError(codes.PARSE, "the request has no body")
    return doc


def in_namespace(catalog, name, namespace, code=codes.NOT_FOUND, fresh=False):
    """The Service view of ``name`` if it is in ``namespace``, else PolarisError(code).

    ``fresh``: a service the cache does not know yet is looked for in
    ZooKeeper too (writers; readers keep to the cache).
    """
    if fresh and catalog.tree.group(name) is None:
        catalog.tree.sync(name)
    return answers().in_namespace(catalog, name, namespace, code)


# -- batches ------------------------------------------------------------------


def _items(doc):
    if not isinstance(doc, list):
        raise PolarisError(codes.PARSE, "the body must be a JSON array")
    if not doc:
        raise PolarisError(codes.EMPTY)
    if len(doc) > schemas.MAX_BATCH:
        raise PolarisError(codes.TOO_MANY, "%d items; at most %d per request" % (len(doc), schemas.MAX_BATCH))
    for number, item in enumerate(doc, 1):
        if not isinstance(item, dict):
            raise PolarisError(codes.PARSE, "item %d is not a JSON object" % number)
    return doc


def write_batch(right, schema, apply, echo, service_of):
    """Check every item of a batch, then apply each; one response per item.

    Nothing is written unless every item is valid and the key may touch
    every item's service; the answer then says which items stopped it.
    ``apply(catalog, item)`` returns (code, detail) or (code, detail, echo).
    """
    expect(size=0, responses=[])
    catalog = authorize(right, params())
    query()
    items = _items(body())
    loaded, refused = [], []
    for raw in items:
        try:
            loaded.append(schema_instance(schema).load(raw))
            refused.append(None)
        except ValidationError as exc:
            loaded.append(None)
            refused.append(schemas.item_error(schema, exc))
    held = codes.BAD_REQUEST
    if not any(refused):
        held = codes.FORBIDDEN
        for number, item in enumerate(loaded):
            try:
                authorize(right, params(), service_of(catalog, item))
            except Forbidden as exc:
                refused[number] = (codes.FORBIDDEN, exc.message)
    if any(refused):
        stopped = "not applied: item %s of the batch was refused" % ", ".join(
            str(number) for number, r in enumerate(refused, 1) if r
        )
        verdicts = [r or (held, stopped) for r in refused]
        return batch([(code, codes.info(code, detail), echo(raw)) for (code, detail), raw in zip(verdicts, items)])
    return batch(list(_apply_all(catalog, items, loaded, apply, echo)))


def _apply_all(catalog, items, loaded, apply, echo):
    down = None
    for raw, item in zip(items, loaded):
        if down:
            yield codes.STORE, down, echo(raw)
            continue
        try:
            code, detail, *shown = apply(catalog, item)
            yield code, codes.info(code, detail), shown[0] if shown else echo(raw)
        except Exception as exc:  # noqa: BLE001 - each item answers for itself
            code, text = failure(exc)
            if isinstance(exc, Unavailable):
                down = codes.info(codes.STORE, "not applied: " + exc.message)
            yield code, text, echo(raw)


# -- service management -------------------------------------------------------------


def _service_echo(raw):
    return {"service": {"name": raw.get("name", ""), "namespace": raw.get("namespace") or schemas.DEFAULT_NAMESPACE}}


def _named(catalog, item):
    return item["name"]


@blueprint.post("/naming/v1/services")
@documented("Create services (batch)", body=schemas.ServiceCreate, body_many=True)
def create_services():
    return write_batch("write", schemas.ServiceCreate, _create, _service_echo, _named)


@blueprint.put("/naming/v1/services")
@documented("Update services (batch); fields left out keep their value", body=schemas.ServiceUpdate, body_many=True)
def update_services():
    return write_batch("write", schemas.ServiceUpdate, _update, _service_echo, _named)


@blueprint.post("/naming/v1/services/delete")
@documented("Delete services (batch); deleting a missing service succeeds", body=schemas.ServiceRef, body_many=True)
def delete_services():
    return write_batch("delete", schemas.ServiceRef, _delete, _service_echo, _named)


def _create(catalog, item):
    stamp = shapes.now()
    attributes = dict(item, ctime=stamp, mtime=stamp, revision=uuid.uuid4().hex)
    name = attributes.pop("name")
    if catalog.create_service(name, attributes):
        return codes.SUCCESS, None
    try:
        where = "in namespace %s" % answers().service(catalog.name, catalog.service(name)).namespace
    except NotFound:
        where = "meanwhile"
    return codes.EXISTED, "service %s exists %s; names are unique per zkidc" % (name, where)


def _update(catalog, item):
    name = item["name"]
    in_namespace(catalog, name, item["namespace"], fresh=True)

    def change(stored):
        current = shapes.polaris_attributes(stored)
        edits = {k: item[k] for k in schemas.EDITABLE if k in item and item[k] != current[k]}
        if not edits:
            return None
        return dict(stored, **edits, namespace=current["namespace"], mtime=shapes.now(), revision=uuid.uuid4().hex)

    return (codes.SUCCESS if catalog.edit_attributes(name, change) else codes.NO_NEED_UPDATE), None


def _delete(catalog, item):
    name = item["name"]
    try:
        view = in_namespace(catalog, name, item["namespace"], fresh=True)
    except PolarisError:
        return codes.SUCCESS, None  # not there (in that namespace): nothing to delete
    kinds = catalog.rules.kinds(name)
    if kinds:
        return codes.HAS_RULES, "service %s still has %s rules; delete them first" % (name, " and ".join(kinds))
    try:
        catalog.delete_service(name)
    except NotFound:
        pass
    except NotEmpty:
        count = len(view.group.leaves)
        return codes.HAS_INSTANCES, "service %s still has children (%d members); delete them first" % (name, count)
    return codes.SUCCESS, None


def _filters(query):
    """Predicates on a Service view for the query's filters."""
    tests = []
    if "name" in query:
        named = shapes.wildcard(query["name"])
        tests.append(lambda v: named(v.name))
    if "namespace" in query:
        tests.append(lambda v: v.namespace == query["namespace"])
    if "business" in query:
        business = query["business"].lower()
        tests.append(lambda v: business in v.attributes["business"].lower())
    if "department" in query:
        tests.append(lambda v: v.attributes["department"] == query["department"])
    if "keys" in query:
        tests.append(lambda v: v.attributes["metadata"].get(query["keys"]) == query["values"])
    if "host" in query:
        hosts = {h.strip() for h in query["host"].split(",") if h.strip()}
        ports = {int(p) for p in query["port"].split(",")} if "port" in query else None
        tests.append(lambda v: v.has_member(hosts, ports))
    return tests


@blueprint.get("/naming/v1/services")
@documented("Query services with filters, offset and limit", query=schemas.ServiceQuery)
def query_services():
    expect(amount=0, size=0, services=[])
    catalog = authorize("read", params())
    wanted = query(schemas.ServiceQuery)
    tests = _filters(wanted)
    views = answers().services(catalog.name, catalog.services())
    matched = [v for v in views if all(test(v) for test in tests)]
    matched.sort(key=lambda v: (-v.group.stat.mzxid, v.name))  # last modified first
    page = matched[wanted["offset"] : wanted["offset"] + wanted["limit"]]
    return answer(codes.SUCCESS, amount=len(matched), size=len(page), services=[v.listing for v in page])


# -- client discover ----------------------------------------------------------------


@blueprint.post("/v1/Discover")
@documented("Client discover: type 1 instances, 3 routing, 4 rate limits, 5 circuit breaker, 6 services",
            body=schemas.DiscoverRequest)
def discover():
    """Type 1 is answered before Flask when everything is ordinary (lane.py);
    this view answers the rest, and every error."""
    kind, wanted = schemas.discover_request(body())
    expect(type=kind, service={"name": wanted["name"], "namespace": wanted["namespace"]})
    query()
    if kind == "SERVICES":
        catalog = authorize("read", params())
        revision, full, unchanged = answers().listing(catalog.name, catalog.services(), wanted)
    else:
        catalog = authorize("read", params(), wanted["name"])
        view = in_namespace(catalog, wanted["name"], wanted["namespace"])
        if kind == "INSTANCE":
            code, prepared = view.answer(wanted["revision"])
            return respond(prepared, code)
        leaf = catalog.rules.leaf(view.name, shapes.RULE_ANSWERS[kind][0])
        prepared = answers().rules(catalog.name, kind, view.name, view.namespace, leaf)
        revision, full, unchanged = prepared.revision, prepared.full, prepared.unchanged
    if revision and wanted["revision"] == revision:
        return respond(unchanged, codes.NO_CHANGE)
    return respond(full, codes.SUCCESS)
