"""The znode layout of the contract and its name rules.

``/soa/services/<service>/member_0000000042`` is a public interface: outside
consumers read it without the gateway, so every name is checked here before
any path is built from it.
"""

import posixpath
import re

from .errors import InvalidName

SERVICE_NAME = re.compile(r"[0-9A-Za-z._:-]{1,128}")
MEMBER_PREFIX = "member_"
MEMBER_KEY = re.compile(r"member_[0-9A-Za-z._:-]{1,120}")


def check_service(name: object) -> str:
    """Return ``name`` if it is a valid service name, else raise InvalidName."""
    if not isinstance(name, str) or not name:
        raise InvalidName("service", "service name is required")
    if name in (".", "..") or not SERVICE_NAME.fullmatch(name):
        raise InvalidName(
            "service",
            "invalid service name %r: 1..128 characters of [0-9A-Za-z._:-], not '.' or '..'" % name[:140],
        )
    return name


def check_member_key(key: object) -> str:
    """Return ``key`` if it names a member znode, else raise InvalidName."""
    if not isinstance(key, str) or not MEMBER_KEY.fullmatch(key):
        raise InvalidName("member", "invalid member key %r: expected member_<sequence>" % str(key)[:140])
    return key


def is_member(name: str) -> bool:
    """Only ``member_`` children are members; anything else is foreign."""
    return name.startswith(MEMBER_PREFIX)


def is_service(name: str) -> bool:
    return name not in (".", "..") and SERVICE_NAME.fullmatch(name) is not None


class Layout:
    """Where things live on one zkidc.

    Services are under ``root``; the gateway's own bookkeeping (leases, rules,
    replicas) lives beside it, never under a service node, because naive
    consumers list every child of a service.
    """

    BESIDE = ("leases", "rules", "gateway")  # what ``beside`` names: never the services root itself

    def __init__(self, root: str = "/soa/services") -> None:
        root = posixpath.normpath("/" + root.strip("/"))
        if root == "/":
            raise ValueError("the services root cannot be '/'")
        name = posixpath.basename(root)
        if name in self.BESIDE:
            raise ValueError(
                "the services root cannot be named %r: the gateway keeps its %s beside it, in %s" % (name, name, root)
            )
        self.root = root
        self.base = posixpath.dirname(root)

    def service(self, name: str) -> str:
        return "%s/%s" % (self.root, check_service(name))

    def member(self, service: str, key: str) -> str:
        return "%s/%s" % (self.service(service), check_member_key(key))

    def member_prefix(self, service: str) -> str:
        """Path prefix for a sequential create."""
        return "%s/%s" % (self.service(service), MEMBER_PREFIX)

    def beside(self, name: str) -> str:
        """A bookkeeping root beside the services root, e.g. ``/soa/leases``."""
        return posixpath.join(self.base, name)
