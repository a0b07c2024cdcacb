"""The Twitter ServerSet member format, written strictly and read leniently.

Finagle's ``zk2!`` resolver, twitter.common and Aurora read members as UTF-8
JSON with ``serviceEndpoint``, ``additionalEndpoints`` and ``status``. We
always write that shape; we read whatever is there as well as it can be read,
because other writers share the tree, but route to a member exactly when
those readers would (``Member.alive``): a status other than ``ALIVE``, or
none, a port that is not a JSON integer, data that is not JSON get no
traffic. What a member says is shown as it is, never "fixed".
"""

import ipaddress
import json
import logging
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, NoReturn

from .errors import InvalidName

log = logging.getLogger(__name__)

ALIVE, STOPPED, DEAD = "ALIVE", "STOPPED", "DEAD"
STATUSES = (ALIVE, STOPPED, DEAD, "STARTING", "STOPPING", "WARNING", "UNKNOWN")  # Finagle's

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(r"(?=.{1,253}$)%s(\.%s)*\.?" % (_LABEL, _LABEL))
_DOTTED_DIGITS = re.compile(r"[0-9.]+")


def check_host(host: object) -> str:
    """The host of a server or instance, as every dialect takes it: an IPv4 or
    IPv6 address (returned in its canonical spelling, one identity per
    address) or an RFC 1123 host name. Digits and dots only must be an IPv4
    address (``10.0.0.256`` is no name a resolver would look up). Raises
    InvalidName whose message (``must be ...``) follows the parameter's name."""
    if not isinstance(host, str) or not host:
        raise InvalidName("host", "is required")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if _DOTTED_DIGITS.fullmatch(host):
        raise InvalidName("host", "must be an IPv4 address, not %r" % host[:256])
    if not _HOSTNAME.fullmatch(host):
        raise InvalidName(
            "host",
            "must be an IP address or a host name (RFC 1123: labels of 1..63 letters, digits and '-',"
            " not starting or ending with '-'), not %r" % host[:256],
        )
    return host


def valid_port(port: object) -> bool:
    return isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535


class NotStrictJson(ValueError):
    """NaN, Infinity or a number no double holds: Python's json takes them,
    Jackson-based ServerSet readers (Finagle's) drop a member holding one."""


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise NotStrictJson("%s is too large a number" % text[:32])
    return number


def loads(text: str | bytes, **options: Any) -> Any:
    """Strict JSON text -> value; NotStrictJson (a ValueError) for NaN and Infinity."""
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite, **options)


def dumps(value: object) -> bytes:
    """Value -> the strict, deterministic JSON bytes written to ZooKeeper."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Member:
    """One server or instance as published under a service node."""

    host: str
    port: int
    status: str | None = ALIVE  # as written; None when it says none
    additional: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (host, port)
    metadata: dict[str, str] = field(default_factory=dict)  # str -> str
    shard: int | None = None
    instance: dict[str, Any] = field(default_factory=dict)  # dialect fields, ignored by ServerSet readers
    # False when ServerSet readers skip the member (not JSON, a port that is
    # not a JSON integer): then nothing routes to it, whatever its status says.
    serverset: bool = True

    @property
    def alive(self) -> bool:
        """Receives traffic: what Finagle's resolver routes to, and nothing else."""
        return self.serverset and self.status == ALIVE


def encode(member: Member) -> bytes:
    """Member -> ServerSet JSON bytes (deterministic: same member, same bytes)."""
    doc: dict[str, Any] = {
        "serviceEndpoint": {"host": member.host, "port": int(member.port)},
        "additionalEndpoints": {name: {"host": h, "port": int(p)} for name, (h, p) in member.additional.items()},
        "status": member.status,
        "metadata": {str(k): str(v) for k, v in member.metadata.items()},
    }
    if member.shard is not None:
        doc["shard"] = int(member.shard)
    if member.instance:
        doc["instance"] = member.instance
    return dumps(doc)


def _digits(text: str) -> int | None:
    """``int(text)`` for plain ASCII digits, else None (``"\u00b2".isdigit()`` is
    True, yet int() refuses it)."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else None


class _Endpoint(NamedTuple):
    host: str
    port: int
    strict: bool  # the port was a JSON integer (ServerSet readers skip any other)


def _endpoint(value: object) -> _Endpoint | None:
    """An endpoint's host and port, or None."""
    if not isinstance(value, dict):
        return None
    host, port = value.get("host"), value.get("port")
    strict = valid_port(port)
    if isinstance(port, str):
        port = _digits(port)
    if not isinstance(host, str) or not host or not isinstance(port, int) or not valid_port(port):
        return None
    return _Endpoint(host, port, strict)


def _plain(text: str) -> Member | None:
    """Some writers store ``host:port`` as plain text."""
    host, sep, digits = text.strip().rpartition(":")
    port = _digits(digits) if sep else None
    if port is not None and valid_port(port) and host.strip("[]"):
        return Member(host=host.strip("[]"), port=port, status=None, serverset=False)
    return None


def decode(data: bytes | None) -> Member | None:
    """ServerSet bytes -> Member, or None when nothing usable is in there.

    Never raises: a member written by someone else must not break a listing.
    """
    try:
        return _decode(data)
    except RecursionError:  # JSON nested deeper than the parser goes
        return None


def _decode(data: bytes | None) -> Member | None:
    if not data:
        return None
    try:
        text = data.decode("utf-8")
    except (UnicodeDecodeError, AttributeError):
        return None
    try:
        doc = loads(text)
    except NotStrictJson:
        return None  # what ServerSet readers cannot parse is routed to by nobody
    except ValueError:
        return _plain(text)
    if not isinstance(doc, dict):
        return None
    main = _endpoint(doc.get("serviceEndpoint"))
    if main is None:
        return None
    extra = doc.get("additionalEndpoints")
    additional = {}
    if isinstance(extra, dict):
        for name, value in extra.items():
            ep = _endpoint(value)
            if ep is not None:
                additional[str(name)] = (ep.host, ep.port)
    status = doc.get("status")  # as written: Finagle routes to exactly "ALIVE"
    if status is not None and not isinstance(status, str):
        status = json.dumps(status)
    metadata = doc.get("metadata")
    metadata = (
        {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
        if isinstance(metadata, dict)
        else {}
    )
    shard = doc.get("shard")
    shard = shard if isinstance(shard, int) and not isinstance(shard, bool) else None
    instance = doc.get("instance")
    instance = instance if isinstance(instance, dict) else {}
    return Member(main.host, main.port, status, additional, metadata, shard, instance, main.strict)


def _no_constant(name: str) -> NoReturn:
    raise ValueError("%s is not strict JSON" % name)


def with_status(data: bytes, status: str | None) -> bytes | None:
    """Member bytes ``data`` with ``status`` replaced and everything else
    kept as it is (another writer's fields too); None when ``data`` is not
    a strict JSON object holding a ``serviceEndpoint``."""
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError, AttributeError):
        return None
    if not isinstance(doc, dict) or _endpoint(doc.get("serviceEndpoint")) is None:
        return None
    doc["status"] = status
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# A service whose attributes name no namespace is in this one: Polaris and the
# instance API, which both read and write the attribute, agree on it.
DEFAULT_NAMESPACE = "default"

# The largest weight a member may publish: Polaris's and Nacos's bound, which
# both dialects that show a weight (from the member's metadata) keep to.
MAX_WEIGHT = 10000


def decode_attributes(data: bytes | None) -> dict[str, Any]:
    """Service node data -> dict of attributes; empty or odd data gives {}."""
    if not data:
        return {}
    try:
        doc = loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError, AttributeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def encode_attributes(attrs: Mapping[str, Any]) -> bytes:
    return dumps(attrs)


def shared(member: Member | None) -> Member | None:
    """``member`` with its short strings interned: a cache of 100,000
    members holds the same keys, zones and statuses over and over, and
    one copy of each saves about 500 bytes a member."""
    if member is None:
        return None
    return replace(
        member,
        host=_shared(member.host),
        status=_shared(member.status),
        additional={_shared(name): (_shared(host), port) for name, (host, port) in member.additional.items()},
        metadata=_shared(member.metadata),
        instance=_shared(member.instance),
    )


def _shared(value: Any) -> Any:
    if isinstance(value, str):
        return sys.intern(value) if len(value) <= 64 else value
    if isinstance(value, dict):
        return {_shared(k): _shared(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shared(v) for v in value]
    return value
