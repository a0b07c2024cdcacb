"""What the Polaris endpoints accept, checked before anything is written.

Each field that Polaris gives its own code keeps it (``FIELD_CODES``); any
other mistake is 400103 invalid parameter; ``null`` counts as absent.

A body may carry every field of the Polaris message it stands for, as the
SDKs and console send them (protobuf JSON: the field's JSON name or its
proto name); those the gateway does not use are accepted and dropped. Any
other field, and any query parameter a call does not take, is refused with
400103 naming it: Polaris's own decoder would ignore it, and with it a typo.
"""

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, pre_load, validate, validates_schema

from zk.codec import DEFAULT_NAMESPACE, check_host
from zk.errors import InvalidName
from zk.paths import check_service

from ..errors import validation_message
from ..params import BadRequest, Params, ignoring, single, unknown
from . import codes
from .codes import PolarisError

NAMESPACE = re.compile(r"[0-9A-Za-z./:_-]{1,64}")
DURATION = re.compile(r"[0-9]+(ms|s|m|h)")
MAX_BATCH = 100
MAX_PAGE = 100

# In the order Polaris checks them: the first failing field names the code.
SERVICE_CODES = {
    "name": codes.BAD_NAME,
    "namespace": codes.BAD_NAMESPACE,
    "metadata": codes.BAD_METADATA,
    "ports": codes.BAD_PORTS,
    "business": codes.BAD_BUSINESS,
    "department": codes.BAD_DEPARTMENT,
    "comment": codes.BAD_COMMENT,
}
RULE_CODES = {"service": codes.BAD_NAME, "namespace": codes.BAD_NAMESPACE}

# The fields of Polaris's messages, JSON and proto names, from
# polarismesh/specification (api/v1/service_manage/service.proto, request.proto,
# traffic_manage/routing.proto, ratelimit.proto, fault_tolerance/circuitbreaker.proto).
SERVICE = (
    "name",
    "namespace",
    "metadata",
    "ports",
    "business",
    "department",
    "cmdb_mod1",
    "cmdb_mod2",
    "cmdb_mod3",
    "comment",
    "owners",
    "token",
    "ctime",
    "mtime",
    "revision",
    "platform_id",
    "total_instance_count",
    "healthy_instance_count",
    "user_ids",
    "group_ids",
    "remove_user_ids",
    "remove_group_ids",
    "id",
    "editable",
    "export_to",
    "sync_to_global_registry",
    "isolate_instance_count",
    "service_status",
    "deleteable",
    "service_type",
    "extended_metadata",
)
DISCOVER_REQUEST = ("type", "service", "Filter", "Direction")
ROUTING = ("service", "namespace", "inbounds", "outbounds", "ctime", "mtime", "revision", "service_token", "rules")
RATE_LIMIT = (
    "id",
    "service",
    "namespace",
    "subset",
    "priority",
    "resource",
    "type",
    "labels",
    "amounts",
    "action",
    "disable",
    "report",
    "ctime",
    "mtime",
    "revision",
    "service_token",
    "adjuster",
    "regex_combine",
    "amount_mode",
    "amountMode",
    "failover",
    "cluster",
    "method",
    "arguments",
    "name",
    "etime",
    "max_queue_delay",
    "concurrencyAmount",
    "custom_response",
    "customResponse",
    "metadata",
    "editable",
    "deleteable",
)
CIRCUIT_BREAKER = (
    "id",
    "version",
    "name",
    "namespace",
    "service",
    "service_namespace",
    "serviceNamespace",
    "inbounds",
    "outbounds",
    "token",
    "owners",
    "business",
    "department",
    "comment",
    "ctime",
    "mtime",
    "revision",
    "rules",
)
AMOUNT = ("maxAmount", "validDuration", "precision", "startAmount", "minAmount")


def service_name(value):
    try:
        check_service(value)
    except InvalidName as exc:
        raise ValidationError(exc.message) from None


def namespace(value):
    if not NAMESPACE.fullmatch(value):
        raise ValidationError("namespace must be 1..64 characters of [0-9A-Za-z-./:_]")


def item_error(schema, error):
    """(code, detail) of a ValidationError of one item: its field's code, else 400103."""
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    for name, code in schema.FIELD_CODES.items():
        if name in messages:
            return code, "%s: %s" % (name, validation_message(messages[name]))
    return codes.INVALID, validation_message(messages)


class Choice(fields.Field):
    """A protobuf enum: sent as its name or its number, kept as its name."""

    def __init__(self, names, **kwargs):
        kwargs.setdefault("metadata", {"description": "one of %s, or its number" % ", ".join(names)})
        super().__init__(**kwargs)
        self.names = names

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(self.names):
            return self.names[value]
        if isinstance(value, str) and value in self.names:
            return value
        raise ValidationError("must be one of %s" % ", ".join(self.names))


class _Item(Params):
    FIELD_CODES = RULE_CODES

    @pre_load
    def _absent(self, data, **kwargs):
        if not isinstance(data, dict):
            raise ValidationError("must be a JSON object")
        return {k: v for k, v in data.items() if v is not None and not (k == "namespace" and v == "")}


# -- services ---------------------------------------------------------------


class ServiceRef(_Item, ignoring(*SERVICE)):  # type: ignore[misc]  # a base made by ignoring()
    FIELD_CODES = SERVICE_CODES

    name = fields.String(required=True, validate=service_name)
    namespace = fields.String(load_default=DEFAULT_NAMESPACE, validate=namespace)


def _metadata(**kwargs):
    return fields.Dict(
        keys=fields.String(validate=validate.Length(max=128)),
        values=fields.String(validate=validate.Length(max=4096)),
        validate=validate.Length(max=64, error="at most 64 pairs"),
        **kwargs,
    )


class ServiceUpdate(ServiceRef):
    """Fields left out keep their value."""

    metadata = _metadata()
    ports = fields.String(validate=validate.Length(max=8192))
    business = fields.String(validate=validate.Length(max=128))
    department = fields.String(validate=validate.Length(max=1024))
    comment = fields.String(validate=validate.Length(max=1024))


EDITABLE = ("metadata", "ports", "business", "department", "comment")


class ServiceCreate(ServiceUpdate):
    @post_load
    def _defaults(self, item, **kwargs):
        return {"metadata": {}, "ports": "", "business": "", "department": "", "comment": "", **item}


class Query(Params):
    """Query string of any call: unknown parameters are refused (400103).
    ``key`` and ``keys`` are taken as everywhere, but unused: the key travels
    in a header here."""

    zkidc = fields.String()
    key = fields.String(load_only=True)
    keys = fields.String(load_only=True)

    def load(self, args, **kwargs):
        """``args``: a request's query string; empty values count as absent."""
        try:
            return super().load({k: v for k, v in single(args).items() if v != ""}, **kwargs)
        except BadRequest as exc:
            raise PolarisError(codes.INVALID, exc.message) from None
        except ValidationError as exc:
            raise PolarisError(codes.INVALID, validation_message(exc.messages)) from None


class Listing(Query):
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=MAX_PAGE, validate=validate.Range(min=0))

    @post_load
    def _page(self, query, **kwargs):
        return dict(query, limit=min(query["limit"], MAX_PAGE))


class ServiceQuery(Listing):
    name = fields.String()
    namespace = fields.String()
    business = fields.String()
    department = fields.String()
    host = fields.String()
    port = fields.String()
    keys = fields.String()
    values = fields.String()

    @validates_schema
    def _pairs(self, data, **kwargs):
        for host in filter(None, (h.strip() for h in data.get("host", "").split(","))):
            try:
                check_host(host)
            except InvalidName as exc:
                raise ValidationError(exc.message, "host") from None
        if "port" in data:
            if "host" not in data:
                raise ValidationError("port needs host", "port")
            if not all(p.strip().isdigit() for p in data["port"].split(",")):
                raise ValidationError("ports are numbers separated by commas", "port")
        if ("keys" in data) != ("values" in data):
            raise ValidationError("keys and values go together", "keys")


# -- discover ---------------------------------------------------------------

DISCOVER_TYPES = {1: "INSTANCE", 3: "ROUTING", 4: "RATE_LIMIT", 5: "CIRCUIT_BREAKER", 6: "SERVICES"}
_DISCOVER_NAMES = {name: number for number, name in DISCOVER_TYPES.items()}


def _service_string(service, name):
    """The string ``service[name]`` of a discover request, "" when absent."""
    value = service.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PolarisError(codes.PARSE, "service.%s must be a string" % name)
    return value


class DiscoverService(Schema):
    name = fields.String(
        metadata={"description": "the service (for type 6 an optional filter: exact, prefix* or *contains*)"}
    )
    namespace = fields.String(metadata={"description": "empty means default"})
    revision = fields.String(metadata={"description": "the revision the client has: 200001 when unchanged"})
    business = fields.String()
    metadata = fields.Dict(keys=fields.String(), values=fields.String())


class DiscoverRequest(Schema):
    """The body of ``POST /v1/Discover``, for the OpenAPI document only:
    ``discover_request()`` checks it by hand (it is on every client's poll)."""

    type = fields.Integer(
        validate=validate.OneOf(sorted(DISCOVER_TYPES)),
        metadata={
            "description": "1 INSTANCE, 3 ROUTING, 4 RATE_LIMIT, 5 CIRCUIT_BREAKER, 6 SERVICES (the name works too)"
        },
    )
    service = fields.Nested(DiscoverService)


_DISCOVER_FIELDS = frozenset(DISCOVER_REQUEST)
_SERVICE_FIELDS = frozenset(SERVICE)


def _unknown(doc, names, where=""):
    """What to say of each field of ``doc`` that is not one of ``names``."""
    return ["%s%s: %s" % (where, name, unknown(name, names)) for name in sorted(doc.keys() - names)]


def discover_request(doc):
    """(type name, service dict) of a discover request, or PolarisError.

    Hand-written rather than a Schema: it is on every client's poll.
    """
    if not isinstance(doc, dict):
        raise PolarisError(codes.PARSE, "the body must be a JSON object")
    refused = _unknown(doc, _DISCOVER_FIELDS)
    kind = doc.get("type", 0)
    if isinstance(kind, bool) or not isinstance(kind, int | str):
        raise PolarisError(codes.PARSE, "type must be a number or a name")
    kind = DISCOVER_TYPES.get(kind) or (kind if kind in _DISCOVER_NAMES else None)
    if kind is None:
        raise PolarisError(
            codes.BAD_RESOURCE,
            "type %s is not served; use one of %s"
            % (doc.get("type", 0), ", ".join("%d %s" % pair for pair in DISCOVER_TYPES.items())),
        )
    service = doc.get("service")
    service = {} if service is None else service
    if not isinstance(service, dict):
        raise PolarisError(codes.PARSE, "service must be a JSON object")
    refused += _unknown(service, _SERVICE_FIELDS, "service.")
    if refused:
        raise PolarisError(codes.INVALID, "; ".join(refused))
    request = {name: _service_string(service, name) for name in ("name", "namespace", "revision", "business")}
    request["namespace"] = request["namespace"] or DEFAULT_NAMESPACE
    if not NAMESPACE.fullmatch(request["namespace"]):
        raise PolarisError(codes.BAD_NAMESPACE, "namespace must be 1..64 characters of [0-9A-Za-z-./:_]")
    metadata = service.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise PolarisError(codes.PARSE, "service.metadata must map strings to strings")
    request["metadata"] = metadata
    if kind != "SERVICES":  # for type 6 the name is an optional filter (``*`` forms)
        try:
            check_service(request["name"])
        except InvalidName as exc:
            raise PolarisError(codes.BAD_NAME, exc.message) from None
    return kind, request


# -- rules ------------------------------------------------------------------


class MatchString(Params):
    type = Choice(("EXACT", "REGEX", "NOT_EQUALS", "IN", "NOT_IN", "RANGE"), load_default="EXACT")
    value = fields.String(load_default="")
    value_type = Choice(("TEXT", "PARAMETER", "VARIABLE"), load_default="TEXT")


class MatchArgument(Params):
    type = Choice(("CUSTOM", "METHOD", "HEADER", "QUERY", "CALLER_SERVICE", "CALLER_IP"), load_default="CUSTOM")
    key = fields.String(load_default="")
    value = fields.Nested(MatchString, load_default=dict)


class Amount(ignoring(*AMOUNT)):  # type: ignore[misc]  # a base made by ignoring()
    maxAmount = fields.Integer(strict=True, required=True, validate=validate.Range(min=0))
    validDuration = fields.String(
        required=True, validate=validate.Regexp(DURATION, error="a duration such as 1s, 500ms, 1m or 1h")
    )


class RuleRef(_Item):
    """A rule's service; the service must exist in that namespace."""

    service = fields.String(required=True, validate=service_name)
    namespace = fields.String(load_default=DEFAULT_NAMESPACE, validate=namespace)


_ROUTES: dict[str, Any] = {"load_default": list}


class RoutingRef(RuleRef, ignoring(*ROUTING)):  # type: ignore[misc]  # a base made by ignoring()
    """What a routing delete needs: its service (a whole rule may be sent)."""


class Routing(RoutingRef):
    """One routing rule per service; its routes are kept as sent."""

    inbounds = fields.List(fields.Dict(), **_ROUTES)
    outbounds = fields.List(fields.Dict(), **_ROUTES)


class CircuitBreakerRef(RuleRef, ignoring(*CIRCUIT_BREAKER)):  # type: ignore[misc]  # a base made by ignoring()
    """What a circuit breaker delete needs: its service."""


class CircuitBreaker(CircuitBreakerRef):
    """One circuit breaker per service, in effect as soon as it is written."""

    inbounds = fields.List(fields.Dict(), **_ROUTES)
    outbounds = fields.List(fields.Dict(), **_ROUTES)
    name = fields.String(load_default="", validate=validate.Length(max=64))
    comment = fields.String(load_default="", validate=validate.Length(max=1024))


class RateLimit(RuleRef, ignoring(*RATE_LIMIT)):  # type: ignore[misc]  # a base made by ignoring()
    """Rate limits: many per service, each with an id the gateway gives it."""

    id = fields.String(validate=validate.Length(min=1, max=64))
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    priority = fields.Integer(strict=True, load_default=0, validate=validate.Range(min=0))
    resource = Choice(("QPS", "CONCURRENCY"), load_default="QPS")
    type = Choice(("GLOBAL", "LOCAL"), required=True)
    method = fields.Nested(MatchString, load_default=dict)
    arguments = fields.List(fields.Nested(MatchArgument), load_default=list)
    labels = fields.Dict(keys=fields.String(), values=fields.Nested(MatchString), load_default=dict)
    amounts = fields.List(fields.Nested(Amount), required=True, validate=validate.Length(min=1))
    action = fields.String(load_default="REJECT", validate=validate.OneOf(("REJECT", "UNIRATE")))
    disable = fields.Boolean(load_default=False)
    regex_combine = fields.Boolean(load_default=False)
    failover = Choice(("FAILOVER_LOCAL", "FAILOVER_PASS"), load_default="FAILOVER_LOCAL")
    max_queue_delay = fields.Integer(strict=True, load_default=1, validate=validate.Range(min=0))


class RateLimitUpdate(RateLimit):
    id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class RateLimitRef(_Item, ignoring(*RATE_LIMIT)):  # type: ignore[misc]  # a base made by ignoring()
    """What a rate limit delete needs: its id (service and namespace optional)."""

    id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    service = fields.String(validate=service_name)
    namespace = fields.String(validate=namespace)


class RuleQuery(Listing):
    service = fields.String()
    namespace = fields.String()


class RateLimitQuery(RuleQuery):
    id = fields.String()
    name = fields.String()
    method = fields.String()
    disable = fields.Boolean()
    brief = fields.Boolean(load_default=False)
