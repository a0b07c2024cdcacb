"""Parameters of the instance API, validated before any ZooKeeper call.

Every failure is a BadRequest naming the parameter the way this API's
clients expect (``Param 'serviceName' is required``). An empty value of an
optional parameter means its default, as in ``?namespace=&clusters=``.

Besides the seed's parameters every call accepts, unused, those of Nacos's
own instance API (``NACOS``, from its InstanceController and Java client),
so Nacos-style clients keep working; anything else is refused.
"""

from marshmallow import ValidationError, fields, pre_load, validate

from zk.codec import DEFAULT_NAMESPACE, MAX_WEIGHT
from zk.paths import is_service

from ..params import UNKNOWN, BadRequest, Host, Metadata, ignoring
from .model import DEFAULT_CLUSTER, STATUSES

_NAME_RULE = "must be 1..128 characters of [0-9A-Za-z._:-], not '.' or '..'"


def _messages(kind):
    return {"required": "is required", "null": "is required", "invalid": "must be %s" % kind}


def _name(value):
    if not is_service(value):
        raise ValidationError("%s, not %r" % (_NAME_RULE, value[:140]))


def _string_field(**options):
    """A marshmallow String field with this dialect's error messages."""
    return fields.String(error_messages=_messages("a string"), **options)


def _port(strict):
    return fields.Integer(
        required=True,
        strict=strict,
        validate=validate.Range(1, 65535, error="must be between 1 and 65535"),
        error_messages=_messages("an integer"),
    )


class Clusters(fields.String):
    """A comma separated list of cluster names; empty means all."""

    def _deserialize(self, value, attr, data, **kwargs):
        names = [n.strip() for n in super()._deserialize(value, attr, data, **kwargs).split(",")]
        names = [n for n in names if n]
        for name in names:
            _name(name)
        return names


NACOS = (
    "namespaceId",
    "groupName",
    "clusterName",
    "weight",
    "enabled",
    "enable",
    "healthy",
    "ephemeral",
    "metadata",
    "beat",
    "clientIP",
    "udpPort",
    "healthyOnly",
    "app",
)


class _Params(ignoring(*NACOS)):  # type: ignore[misc]  # a base made by ignoring()
    key = _string_field(load_only=True)
    keys = _string_field(load_only=True)
    zkidc = _string_field(validate=validate.Length(1, 64, error="must be 1..64 characters"))

    @pre_load
    def _empty_means_default(self, data, **kwargs):
        return {k: v for k, v in data.items() if v is not None and v != ""}

    def handle_error(self, error, data, **kwargs):
        """The first failing parameter, in the order they are documented."""
        messages = self.explained(error.messages)
        messages = messages if isinstance(messages, dict) else {"_schema": messages}
        for name in [n for n in self.fields if n in messages] + [n for n in messages if n not in self.fields]:
            text = messages[name]
            while isinstance(text, list | dict):
                text = next(iter(text.values() if isinstance(text, dict) else text), "is invalid")
            if name == "_schema":
                raise BadRequest(str(text)) from None
            if str(text).startswith(UNKNOWN):
                text = "is unknown" + str(text)[len(UNKNOWN) :]
            raise BadRequest("Param '%s' %s" % (name, str(text).rstrip("."))) from None


class WriteQuery(_Params):
    """The query string of a write (its parameters are in the JSON body)."""


class Service(_Params):
    namespace = _string_field(load_default=DEFAULT_NAMESPACE, validate=_name)
    serviceName = _string_field(required=True, validate=_name)


class InstanceList(Service):
    clusters = Clusters(load_default=list, error_messages=_messages("a comma separated list of clusters"))
    healthy = fields.Boolean(load_default=None, error_messages=_messages("true, false or empty"))


class Instance(Service):
    """One instance, from a query string: port may be spelled as text."""

    cluster = _string_field(load_default=DEFAULT_CLUSTER, validate=_name)
    ip = Host(required=True, error_messages=_messages("an IP address or a host name"))
    port = _port(strict=False)


class InstanceBody(Instance):
    """One instance, from a JSON body: port must be a JSON integer."""

    port = _port(strict=True)


class Weight(fields.Float):
    """A finite number 0..MAX_WEIGHT (Nacos's bounds), kept whole when it is."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ValidationError("must be a number")
        number = super()._deserialize(value, attr, data, **kwargs)
        return int(number) if number.is_integer() else number


class RegisterBody(InstanceBody):
    """A registration: the instance, and what it publishes beside its address."""

    weight = Weight(
        allow_nan=False,
        validate=validate.Range(0, MAX_WEIGHT, error="must be between 0 and %d" % MAX_WEIGHT),
        error_messages={**_messages("a number"), "too_large": "must be between 0 and %d" % MAX_WEIGHT},
    )
    enabled = fields.Boolean(error_messages=_messages("true or false"))
    metadata = Metadata()


class StatusBody(InstanceBody):
    status = _string_field(
        required=True,
        validate=validate.OneOf(STATUSES, error="must be one of %s, not {input!r}" % ", ".join(STATUSES)),
    )
