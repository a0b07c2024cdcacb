"""Polaris client discover (``POST /v1/Discover``) and service management
(``/naming/v1/services``). Rule management is in ``rules.py``.

The zkidc comes from the ``zkidc`` query parameter or the ``X-Zkidc``
header; the key from ``X-Polaris-Token`` (or the gateway's other headers).
"""

from flask import Blueprint, request

from ..access import authorize
from ..context import current
from ..openapi import documented
from ..params import BadRequest, json_body, schema_instance
from . import batch, codes, schemas, service
from .codes import PolarisError
from .envelope import answer, expect, respond

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
    """service.in_namespace() with this app's prepared answers."""
    return service.in_namespace(answers(), catalog, name, namespace, code, fresh)


# -- batches ------------------------------------------------------------------


def write_batch(right, schema, apply, echo, service_of):
    """A batch write (see batch.py): ``apply(catalog, item)`` for each item,
    once every item loads with ``schema`` and the key may do ``right`` on
    ``service_of(catalog, item)``."""
    expect(size=0, responses=[])
    catalog = authorize(right, params())
    query()
    items = batch.items(body())

    def permit(item):
        authorize(right, params(), service_of(catalog, item))

    code, answered = batch.answer(batch.run(catalog, items, schema, apply, echo, permit))
    return respond(answered, code)


def _with_answers(apply):
    """``apply(answers, catalog, item)`` as the batch calls it."""
    return lambda catalog, item: apply(answers(), catalog, item)


# -- service management -------------------------------------------------------------


def _named(catalog, item):
    return item["name"]


@blueprint.post("/naming/v1/services")
@documented("Create services (batch)", body=schemas.ServiceCreate, body_many=True)
def create_services():
    return write_batch(
        "write", schemas.ServiceCreate, _with_answers(service.create_service), service.echo_service, _named
    )


@blueprint.put("/naming/v1/services")
@documented("Update services (batch); fields left out keep their value", body=schemas.ServiceUpdate, body_many=True)
def update_services():
    return write_batch(
        "write", schemas.ServiceUpdate, _with_answers(service.update_service), service.echo_service, _named
    )


@blueprint.post("/naming/v1/services/delete")
@documented("Delete services (batch); deleting a missing service succeeds", body=schemas.ServiceRef, body_many=True)
def delete_services():
    return write_batch(
        "delete", schemas.ServiceRef, _with_answers(service.delete_service), service.echo_service, _named
    )


@blueprint.get("/naming/v1/services")
@documented("Query services with filters, offset and limit", query=schemas.ServiceQuery)
def query_services():
    expect(amount=0, size=0, services=[])
    catalog = authorize("read", params())
    found = service.query_services(answers(), catalog, query(schemas.ServiceQuery))
    return answer(codes.SUCCESS, amount=found.amount, size=len(found.services), services=found.services)


# -- client discover ----------------------------------------------------------------


@blueprint.post("/v1/Discover")
@documented(
    "Client discover: type 1 instances, 3 routing, 4 rate limits, 5 circuit breaker, 6 services",
    body=schemas.DiscoverRequest,
)
def discover():
    """Type 1 is answered before Flask when everything is ordinary (lane.py);
    this view answers the rest, and every error."""
    kind, wanted = schemas.discover_request(body())
    expect(type=kind, service={"name": wanted["name"], "namespace": wanted["namespace"]})
    query()
    catalog = authorize("read", params(), None if kind == "SERVICES" else wanted["name"])
    code, answered = service.discover(answers(), catalog, kind, wanted)
    return respond(answered, code)
