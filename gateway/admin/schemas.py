"""Parameters of the admin endpoints, validated before any ZooKeeper call.

Each endpoint takes exactly the parameters of seed 002 (and ``force`` on
delservice, and the ops additions: servicelist's search, offset, limit and
counts, serverlist's details, servers named by host and port, setserver);
anything else is refused, so a typo such as ``forse=true``
never passes as if it had been understood.
"""

from marshmallow import ValidationError, fields, validate, validates_schema

from zk.codec import ALIVE, STOPPED
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
    """Without search, offset, limit and counts the answer is the seed's."""

    destName = Ignored()  # the seed's own servicelist example sends it
    search = fields.String(
        validate=validate.Length(max=128), metadata={"description": "services whose name contains this (any case)"}
    )
    offset = fields.Integer(
        strict=False, validate=validate.Range(min=0), metadata={"description": "skip this many (sorted by name)"}
    )
    limit = fields.Integer(
        strict=False, validate=validate.Range(min=0), metadata={"description": "answer at most this many"}
    )
    counts = fields.Boolean(metadata={"description": "add members and ALIVE members per service"})


class Service(_Params):
    destName = fields.String(required=True, validate=_rule(check_service))


class ServerList(Service):
    details = fields.Boolean(metadata={"description": "add origin, zone, last heartbeat and ephemeral per server"})


class DeleteService(Service):
    force = fields.Boolean(load_default=False)


class AddServer(Service):
    serverHost = Host(required=True)
    serverPort = fields.Integer(required=True, strict=False, validate=validate.Range(1, 65535))


class _Server(Service):
    """One server of the service: by its member key, or by host and port."""

    serverKey = fields.String(validate=_rule(check_member_key))
    serverHost = Host()
    serverPort = fields.Integer(strict=False, validate=validate.Range(1, 65535))

    @validates_schema
    def _one_way(self, data, **kwargs):
        by_address = "serverHost" in data or "serverPort" in data
        if ("serverKey" in data) == by_address or (by_address and not ("serverHost" in data and "serverPort" in data)):
            raise ValidationError("give serverKey, or serverHost and serverPort")


class DeleteServer(_Server):
    pass


class SetServer(_Server):
    status = fields.String(required=True, validate=validate.OneOf([ALIVE, STOPPED]))
