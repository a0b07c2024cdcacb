"""``/openapi.json``: an OpenAPI 3 document built from the running app.

Every route of every dialect is listed. A view says which marshmallow schemas
it validates with through ``documented()``; the same schema objects are
then turned into parameters and request bodies by apispec, so the document
cannot drift from the validation.
"""

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, current_app, jsonify

from .context import current
from .dialect import Dialect

blueprint = Blueprint("openapi", __name__)
_SKIP = {"HEAD", "OPTIONS"}
_CONVERTER = re.compile(r"<(?:[a-z]+:)?([A-Za-z_]\w*)>")


def documented(summary=None, query=None, form=None, body=None, body_many=False, responses=None):
    """Attach what a view accepts: ``query``/``form``/``body`` are marshmallow schemas."""

    def mark(view):
        view.openapi = {
            "summary": summary,
            "query": query,
            "form": form,
            "body": body,
            "body_many": body_many,
            "responses": responses or {},
        }
        return view

    return mark


# Who may call: the same key, however the dialect's clients send it (gateway/keys.py).
SECURITY_SCHEMES = {
    "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
    "Bearer": {"type": "http", "scheme": "bearer"},
    "PolarisToken": {"type": "apiKey", "in": "header", "name": "X-Polaris-Token"},
    "ApiKeyQuery": {"type": "apiKey", "in": "query", "name": "key"},
}
_PUBLIC = {"health", "openapi", "metrics"}  # blueprints answered without a key
_HIDDEN = {"ui"}  # the console's HTML pages are not API

# Each dialect's answer envelope, as its envelope.py renders it.
_ANSWERS = {
    "admin": {
        "type": "object",
        "required": ["code"],
        "properties": {
            "code": {"type": "integer", "enum": [0, 1], "description": "1 done, 0 refused"},
            "reason": {"type": "string", "description": "why, when code is 0"},
        },
    },
    "discovery": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "integer", "description": "0 done, else an Ecode"},
            "message": {"type": "string"},
            "ttl": {"type": "integer"},
            "data": {},
        },
    },
    "polaris": {
        "type": "object",
        "required": ["code", "info"],
        "properties": {
            "code": {"type": "integer", "description": "200000 done, else status * 1000 + detail"},
            "info": {"type": "string"},
        },
    },
    "instance": {"type": "object", "description": "JSON answers; plain text 'ok' and errors are text/plain"},
    "health": {"type": "object", "properties": {"status": {"type": "string"}}},
    "openapi": {"type": "object"},
}


def _responses(dialect):
    if dialect == "metrics":
        return {
            "200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}
        }
    ref = {"$ref": "#/components/schemas/%sAnswer" % dialect}
    content = {"application/json": {"schema": ref}}
    if dialect == "instance":
        content["text/plain"] = {"schema": {"type": "string"}}
    return {
        "200": {"description": "answer in the dialect's envelope", "content": content},
        "default": {"description": "error in the dialect's envelope", "content": content},
    }


def _name(schema):
    cls = schema if isinstance(schema, type) else type(schema)
    dialect = cls.__module__.split(".")[1] if cls.__module__.startswith("gateway.") else cls.__module__
    return "%s.%s" % (dialect, cls.__name__)


def _schema_ref(schema, many=False):
    return {"type": "array", "items": schema} if many else schema


def build(app):
    spec = APISpec(
        title="soa-gateway",
        version="1",
        openapi_version="3.0.3",
        info={
            "description": "Service registry gateway over ZooKeeper: admin, discovery, Polaris and instance dialects."
        },
        plugins=[MarshmallowPlugin(schema_name_resolver=_name)],
    )
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    for dialect, answer in _ANSWERS.items():
        spec.components.schema("%sAnswer" % dialect, answer)
    paths = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        dialect = rule.endpoint.split(".", 1)[0]
        if rule.endpoint == "static" or dialect in _HIDDEN or rule.endpoint.endswith("_slash"):
            continue  # a path with a trailing slash answers as the one without
        view = app.view_functions[rule.endpoint]
        doc = getattr(view, "openapi", {})
        path = _CONVERTER.sub(r"{\1}", rule.rule)
        operations = paths.setdefault(path, {})
        for method in sorted(rule.methods - _SKIP):
            operation = {
                "operationId": "%s_%s_%s" % (dialect, rule.endpoint.rsplit(".", 1)[-1], method.lower()),
                "tags": [dialect],
                "summary": doc.get("summary") or (view.__doc__ or rule.endpoint).strip().splitlines()[0],
                "responses": doc.get("responses") or _responses(dialect),
            }
            if dialect in _PUBLIC:
                operation["security"] = []
            if rule.arguments:
                operation["parameters"] = [
                    {"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
                    for name in sorted(rule.arguments)
                ]
            if doc.get("query") is not None:
                operation.setdefault("parameters", []).append({"in": "query", "schema": doc["query"]})
            content = {}
            if doc.get("body") is not None and method != "GET":
                content["application/json"] = {"schema": _schema_ref(doc["body"], doc.get("body_many"))}
            if doc.get("form") is not None and method != "GET":
                content["application/x-www-form-urlencoded"] = {"schema": doc["form"]}
            if content:
                operation["requestBody"] = {"content": content}
            operations[method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    document["security"] = [{name: []} for name in SECURITY_SCHEMES]  # any one of them
    return document


@blueprint.get("/openapi.json")
def openapi():
    """This document."""
    gateway = current()
    if gateway.openapi is None:
        gateway.openapi = build(current_app)
    return jsonify(gateway.openapi)


def render(problem):
    return jsonify(error=problem.message), problem.status


DIALECT = Dialect("openapi", ("/openapi.json",), blueprint, render)
