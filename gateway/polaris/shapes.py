"""What Polaris shows of the ZooKeeper data, and the discover answers prepared from it.

Everything here is computed from ZooKeeper data only (node data, zxids,
ZooKeeper's own timestamps), never from this process's clock or state, so
every gateway replica over the same data shows the same answers with the
same revisions. A revision is a digest of the answer it labels: it changes
exactly when the answer does.

Answers are built once per cached snapshot (a Group, a rules Leaf, the
services dict) and kept with it; asking again about an unchanged service
costs a dictionary lookup and an identity check.
"""

import hashlib
import json
import math
import re
import time
from functools import cached_property
from typing import NamedTuple

from zk import codec
from zk.codec import DEFAULT_NAMESPACE, MAX_WEIGHT
from zk.errors import NotFound
from zk.status import healthy, isolated

from ..memo import Memo
from . import codes
from .codes import PolarisError, dumps

TIME = "%Y-%m-%d %H:%M:%S"
DEFAULT_WEIGHT = 100
TEXT_ATTRIBUTES = ("ports", "business", "department", "comment")


def timestamp(ms):
    """ZooKeeper milliseconds as Polaris shows times (UTC, to the second)."""
    return time.strftime(TIME, time.gmtime(ms / 1000.0))


def now():
    return time.strftime(TIME, time.gmtime())


def digest(*parts):
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def _scalar_text(value):
    """A stored attribute as Polaris shows it: a string, a number as text, else ""."""
    if isinstance(value, str):
        return value
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else ""


def _strings(value):
    if not isinstance(value, dict):
        return {}
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def polaris_attributes(stored):
    """The Polaris attributes in a service node's JSON (odd values shown as well as they can be)."""
    attributes = {name: _scalar_text(stored.get(name)) for name in TEXT_ATTRIBUTES}
    attributes["namespace"] = _scalar_text(stored.get("namespace")) or DEFAULT_NAMESPACE
    attributes["metadata"] = _strings(stored.get("metadata"))
    return attributes


def wildcard(pattern):
    """``abc`` exact, ``abc*`` prefix, ``*abc*`` contains, ``*abc`` suffix."""
    if "*" not in pattern:
        return pattern.__eq__
    regex = re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)
    return lambda name: regex.fullmatch(name) is not None


# -- instances ----------------------------------------------------------------


def _weight(*candidates):
    for value in candidates:
        if isinstance(value, bool):
            continue
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, float) and math.isfinite(value):  # the instance API's weights may be fractions
            value = round(value)
        if isinstance(value, int):
            return max(0, min(MAX_WEIGHT, value))
    return DEFAULT_WEIGHT


def instance_id(namespace, service, host, port):
    """Polaris's id of an instance registered without one."""
    return hashlib.sha1(("%s##%s##%s##%d" % (namespace, service, host, port)).encode("utf-8")).hexdigest()


def instance(namespace, service, leaf):
    """One member as a Polaris instance, whichever dialect or writer made it."""
    member = leaf.value
    extra, metadata = member.instance, member.metadata
    given_id = extra.get("id")
    priority = extra.get("priority")
    shape = {
        "id": given_id
        if isinstance(given_id, str) and given_id
        else instance_id(namespace, service, member.host, member.port),
        "service": service,
        "namespace": namespace,
        "host": member.host,
        "port": member.port,
        "protocol": _scalar_text(extra.get("protocol")) or metadata.get("protocol", ""),
        "version": _scalar_text(extra.get("version")) or metadata.get("version", ""),
        "priority": priority if isinstance(priority, int) and not isinstance(priority, bool) and priority >= 0 else 0,
        "weight": _weight(extra.get("weight"), metadata.get("weight")),
        "enableHealthCheck": False,
        "healthy": healthy(member),
        "isolate": isolated(member),
        "metadata": dict(metadata),
        "mtime": timestamp(leaf.stat.mtime),
        "revision": digest(leaf.name, leaf.stat.mzxid)[:32],
    }
    location = {name: _scalar_text(extra.get(name)) for name in ("region", "zone", "campus")}
    if any(location.values()):  # only when the member says where it is
        shape["location"] = location
    return shape


# -- services -------------------------------------------------------------------


class Service:
    """What Polaris shows of one service snapshot (a Group); built on first use."""

    def __init__(self, group):
        self.group = group
        self.name = group.name

    @cached_property
    def attributes(self):
        stored = codec.decode_attributes(self.group.data)
        stat = self.group.stat
        attributes = polaris_attributes(stored)
        attributes["ctime"] = _scalar_text(stored.get("ctime")) or timestamp(stat.ctime)
        attributes["mtime"] = _scalar_text(stored.get("mtime")) or timestamp(stat.mtime)
        attributes["revision"] = _scalar_text(stored.get("revision")) or digest(self.name, stat.mzxid)
        return attributes

    @property
    def namespace(self):
        return self.attributes["namespace"]

    @cached_property
    def members(self):
        """The members that can be read, by znode name."""
        return [leaf for _, leaf in sorted(self.group.leaves.items()) if leaf.value is not None]

    @cached_property
    def healthy_count(self):
        return sum(1 for leaf in self.members if leaf.value.alive)

    @cached_property
    def shape(self):
        """The service as discover shows it (types 1 and 6)."""
        a = self.attributes
        return {
            "name": self.name,
            "namespace": a["namespace"],
            "metadata": a["metadata"],
            "ports": a["ports"],
            "business": a["business"],
            "department": a["department"],
            "comment": a["comment"],
            "ctime": a["ctime"],
            "mtime": a["mtime"],
            "revision": a["revision"],
            "platform_id": "",
        }

    @property
    def listing(self):
        """The service as the management query shows it, with its counts."""
        shape = dict(self.shape)
        del shape["platform_id"]
        shape["total_instance_count"] = len(self.members)
        shape["healthy_instance_count"] = self.healthy_count
        return shape

    @cached_property
    def instances(self):
        return [instance(self.namespace, self.name, leaf) for leaf in self.members]

    @cached_property
    def revision(self):
        """Of the type 1 answer: the service and all its instances."""
        return digest(self.shape, self.instances)

    @cached_property
    def discovered(self):
        """(full answer, no-change answer) of discover type 1, serialized."""
        service = dict(self.shape, revision=self.revision)
        full = {
            "code": codes.SUCCESS,
            "info": codes.info(codes.SUCCESS),
            "type": "INSTANCE",
            "service": service,
            "instances": self.instances,
        }
        return dumps(full), _unchanged("INSTANCE", self.name, self.namespace, self.revision)

    def answer(self, revision):
        """(code, body) of discover type 1 for a client holding ``revision``."""
        full, unchanged = self.discovered
        if self.revision and revision == self.revision:
            return codes.NO_CHANGE, unchanged
        return codes.SUCCESS, full

    def has_member(self, hosts, ports=None):
        return any(leaf.value.host in hosts and (ports is None or leaf.value.port in ports) for leaf in self.members)


def _unchanged(kind, name, namespace, revision):
    doc = {
        "code": codes.NO_CHANGE,
        "info": codes.info(codes.NO_CHANGE),
        "type": kind,
        "service": {"name": name, "namespace": namespace, "revision": revision},
    }
    return dumps(doc)


# -- rules ------------------------------------------------------------------------


class RuleSource(NamedTuple):
    """Where a discover type's rules come from and where its answer puts them."""

    kind: str  # the kind of rules (zk.rules.KINDS)
    field: str  # the field of the answer


RULE_ANSWERS = {  # discover type -> RuleSource
    "ROUTING": RuleSource("routing", "routing"),
    "RATE_LIMIT": RuleSource("ratelimit", "rateLimit"),
    "CIRCUIT_BREAKER": RuleSource("circuitbreaker", "circuitBreaker"),
}


class RuleAnswer:
    """Discover types 3, 4, 5 of one service: its rules of one kind."""

    def __init__(self, kind, service, namespace, leaf):
        self.kind = kind
        self.leaf = leaf
        self.namespace = namespace
        self.rules = leaf.value if leaf is not None else []
        field = RULE_ANSWERS[kind].field
        # An empty set of rules has no revision: it is always answered in full.
        self.revision = digest(kind, service, namespace, self.rules) if self.rules else ""
        if kind == "RATE_LIMIT":
            body = {"rules": self.rules, "revision": self.revision}
        elif self.rules:
            body = dict(self.rules[0], revision=self.revision)
        else:
            body = {"service": service, "namespace": namespace, "inbounds": [], "outbounds": [], "revision": ""}
        full = {
            "code": codes.SUCCESS,
            "info": codes.info(codes.SUCCESS),
            "type": kind,
            "service": {"name": service, "namespace": namespace, "revision": self.revision},
            field: body,
        }
        self.full = dumps(full)
        self.unchanged = _unchanged(kind, service, namespace, self.revision)


# -- the per-app cache ------------------------------------------------------------


class Answers:
    """Prepared answers per zkidc, replaced when their snapshot is.

    Views of one service (``Service``, ``RuleAnswer``) are kept one per
    service and kind, as many as the tree has; listings, one per set of
    filters a client asks, are a ``Memo`` of their own.
    """

    MAX_LISTINGS = 256  # a listing holds every service of a namespace

    def __init__(self):
        self._services = {}  # (zkidc, service) -> Service
        self._rules = {}  # (zkidc, service, type) -> RuleAnswer
        self._listings = Memo(self.MAX_LISTINGS)  # (zkidc, filters) -> (revision, full, unchanged)

    def service(self, zkidc, group):
        key = (zkidc, group.name)
        view = self._services.get(key)
        if view is None or view.group is not group:
            view = self._services[key] = Service(group)
        return view

    def in_namespace(self, catalog, name, namespace, code=codes.NOT_FOUND):
        """The Service view of ``name`` if the cache has it in ``namespace``, else PolarisError(code)."""
        try:
            group = catalog.service(name)
        except NotFound:
            self.forget(catalog.name, name)
            raise PolarisError(code, "service %s does not exist" % name) from None
        view = self.service(catalog.name, group)
        if view.namespace != namespace:
            raise PolarisError(code, "service %s is in namespace %s, not %s" % (name, view.namespace, namespace))
        return view

    def services(self, zkidc, groups):
        """Every service of a snapshot; forgets services that are gone."""
        views = [self.service(zkidc, group) for group in groups.values()]
        if len(self._services) > 2 * len(groups) + 64:
            self._services = {k: v for k, v in self._services.items() if k[0] != zkidc or k[1] in groups}
        return views

    def forget(self, zkidc, name):
        self._services.pop((zkidc, name), None)

    def rules(self, zkidc, kind, service, namespace, leaf):
        key = (zkidc, service, kind)
        answer = self._rules.get(key)
        if answer is None or answer.leaf is not leaf or answer.namespace != namespace:
            answer = self._rules[key] = RuleAnswer(kind, service, namespace, leaf)
        return answer

    def listing(self, zkidc, groups, request):
        """Discover type 6: (revision, full answer, no-change answer) for a namespace."""
        filters = (
            request["namespace"],
            request["name"],
            request["business"],
            tuple(sorted(request["metadata"].items())),
        )
        return self._listings.get((zkidc, filters), groups, lambda: self._listing(zkidc, groups, filters))

    def _listing(self, zkidc, groups, filters):
        namespace, name, business, metadata = filters
        named = wildcard(name) if name else None
        shown = []
        for view in sorted(self.services(zkidc, groups), key=lambda v: v.name):
            a = view.attributes
            if a["namespace"] != namespace or (named and not named(view.name)):
                continue
            if business and business.lower() not in a["business"].lower():
                continue
            if any(a["metadata"].get(k) != v for k, v in metadata):
                continue
            shown.append(view.shape)
        revision = digest("SERVICES", filters, shown) if shown else ""
        full = {
            "code": codes.SUCCESS,
            "info": codes.info(codes.SUCCESS),
            "type": "SERVICES",
            "service": {"name": name, "namespace": namespace, "revision": revision},
            "services": shown,
        }
        return revision, dumps(full), _unchanged("SERVICES", name, namespace, revision)
