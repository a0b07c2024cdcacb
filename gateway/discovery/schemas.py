"""Parameters of the discovery endpoints, validated before any ZooKeeper call.

Lists are repeated keys (``appid=a&appid=b``). Each endpoint takes the
parameters of seed 000 and, accepted but unused, the rest of what the
original server's argument structs (bilibili/discovery model/param.go) and
its Go SDK (naming/client.go: ``region`` on every call) send; anything else
is refused.
"""

from marshmallow import ValidationError, fields, validate, validates_schema

from zk.errors import InvalidName
from zk.paths import check_service

from ..params import Metadata, Params, ignoring, single
from .model import DOWN, UP, parse_addr

MAX_APPIDS = 512


def _appid(value):
    try:
        check_service(value)
    except InvalidName as exc:
        raise ValidationError(exc.message.replace("service name", "appid")) from None


def _addr(value):
    try:
        parse_addr(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def _label(**options):
    return fields.String(validate=validate.Length(min=1, max=256), **options)


class _Params(Params):
    zkidc = fields.String(validate=validate.Length(min=1, max=64))
    key = fields.String(load_only=True, metadata={"description": "the caller's key (or send X-Api-Key)"})
    keys = fields.String(load_only=True, metadata={"description": "the same, as older scripts spell it"})


# What the original's peers and SDK send to the writes, unused here
# (replication between discovery nodes, the SDK's region).
_ORIGINAL_WRITES = ignoring("region", "replication", "from_zone", "dirty_timestamp", "latest_timestamp")


class Nodes(_Params):
    pass


class Instance(_Params, _ORIGINAL_WRITES):  # type: ignore[valid-type, misc]  # a base made by ignoring()
    """renew and cancel."""

    zone = _label(required=True)
    env = _label(required=True)
    appid = fields.String(required=True, validate=_appid)
    hostname = _label(required=True)


class Register(Instance):
    addrs = fields.List(fields.String(validate=_addr), required=True, validate=validate.Length(min=1, max=64))
    status = fields.Integer(required=True, strict=False, validate=validate.OneOf([UP, DOWN]))
    color = fields.String(load_default="", validate=validate.Length(max=256))
    version = fields.String(load_default="", validate=validate.Length(max=256))
    metadata = Metadata(load_default=dict)


class Fetch(_Params):
    appid: fields.Field = fields.String(required=True, validate=_appid)  # a list in Fetchs
    env = _label(required=True)
    zone = fields.String(load_default="", validate=validate.Length(max=256))  # empty: every zone
    status = fields.Integer(required=True, strict=False, validate=validate.OneOf([UP, DOWN, UP | DOWN]))


class Fetchs(Fetch):
    appid = fields.List(fields.String(validate=_appid), required=True, validate=validate.Length(min=1, max=MAX_APPIDS))


class Poll(_Params):
    appid: fields.Field = fields.String(required=True, validate=_appid)  # a list in Polls
    env = _label(required=True)
    zone = fields.String(load_default="", validate=validate.Length(max=256))  # empty: every zone
    hostname = _label()
    latest_timestamp: fields.Field = fields.Integer(
        strict=False, load_default=0, validate=validate.Range(min=0)
    )  # as appid


class Polls(Poll):
    appid = fields.List(fields.String(validate=_appid), required=True, validate=validate.Length(min=1, max=MAX_APPIDS))
    latest_timestamp = fields.List(fields.Integer(strict=False, validate=validate.Range(min=0)), load_default=list)

    @validates_schema
    def _counts(self, data, **kwargs):
        appids, stamps = data.get("appid", []), data.get("latest_timestamp", [])
        if len(appids) != len(stamps):
            raise ValidationError(
                "give one latest_timestamp per appid (%d appid, %d latest_timestamp)" % (len(appids), len(stamps)),
                "latest_timestamp",
            )


def loader(schema_class):
    """``load(params)`` for a MultiDict: List fields take every value of their key."""
    schema = schema_class()
    lists = {name for name, field in schema.fields.items() if isinstance(field, fields.List)}

    def load(params):
        return schema.load(single(params, lists))

    return load
