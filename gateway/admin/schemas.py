"""Parameters of the admin endpoints, validated before any ZooKeeper call.

Each endpoint takes exactly the parameters of seed 002 (and ``force`` on
delservice); anything else is refused, so a typo such as ``forse=true``
never passes as if it had been understood.
"""
from marshmallow import ValidationError, fields, validate

from zk.errors import InvalidName
from zk.paths import check_member_key, check_service

from ..params import Host, Ignored, Params


def _rule(check):
    def validator(value):
        try:
            check(value)
        except InvalidName as exc:
            raise ValidationError(exc.message) from None

    return validator


class _Params(Params):
    zkidc = fields.String(validate=validate.Length(min=1, max=64))
    key = fields.String(metadata={"description": "the caller's key (or send X-Api-Key)"})
    keys = fields.String(metadata={"description": "the same, as older scripts spell it"})


class ServiceList(_Params):
    destName = Ignored()  # the seed's own servicelist example sends it


class Service(_Params):
    destName = fields.String(required=True, validate=_rule(check_service))


class DeleteService(Service):
    force = fields.Boolean(load_default=False)


class AddServer(Service):
    serverHost = Host(required=True)
    serverPort = fields.Integer(required=True, strict=False, validate=validate.Range(1, 65535))


class DeleteServer(Service):
    serverKey = fields.String(required=True, validate=_rule(check_member_key))
