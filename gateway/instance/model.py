"""What the instance API publishes, and how it reads any member.

An instance is identified by namespace, cluster, service name, IP and port;
its member carries those under ``instance`` and its status as the
ServerSet status (HEALTHY is ALIVE, UN_HEALTHY is DEAD, DISABLE is
STOPPED), so that outside readers and the other dialects agree with it.
Members written by anyone else are read as well as they can be.
"""

import logging
import math
import time
from dataclasses import dataclass
from dataclasses import replace as evolve

from zk import codec
from zk.codec import DEFAULT_NAMESPACE
from zk.instances import identity_key

# The statuses and their rules are zk.status's (STATUSES: schemas.py imports it from here).
from zk.status import LAPSED, STATUSES, Policy, isolated, lapse_policy, published, status_of  # noqa: F401

log = logging.getLogger(__name__)

DEFAULT_CLUSTER = "DEFAULT_CLUSTER"
REGISTERED_BY = "instance"

_STAMPS = ("lease", "policy", LAPSED)  # what the lease mechanism adds
DEFAULT_WEIGHT = 1.0  # Nacos's, shown for members that publish none
PUBLISHED_DETAILS = ("weight", "enabled")  # registration fields kept under instance and, as text, in metadata


@dataclass(frozen=True)
class Identity:
    namespace: str
    cluster: str
    service: str
    ip: str
    port: int

    @property
    def key(self):
        return identity_key(self.namespace, self.cluster, self.service, self.ip, self.port)

    @property
    def instance_id(self):
        return instance_id(self.cluster, self.service, self.ip, self.port)

    @property
    def address(self):
        return ("[%s]:%d" if ":" in self.ip else "%s:%d") % (self.ip, self.port)

    def describe(self):
        return "instance %s (namespace %s)" % (self.instance_id, self.namespace)


def instance_id(cluster, service, ip, port):
    return "%s#%s@%s:%s" % (cluster, service, ip, port)


@dataclass(frozen=True)
class Timing:
    """The ``[instance]`` config section (checked when the config is loaded): when silent instances lapse."""

    beat_interval: float = 5.0
    unhealthy_after: float = 10.0
    remove_after: float = 20.0

    def policy(self, status):
        """When an instance in ``status`` lapses (see zk.status.lapse_policy)."""
        return lapse_policy(status, self.beat_interval, self.unhealthy_after, self.remove_after)


def details_of(member):
    """What a registration published beside its address: weight, enabled, metadata."""
    details = {k: member.instance[k] for k in PUBLISHED_DETAILS if k in member.instance}
    details["metadata"] = {k: v for k, v in member.metadata.items() if k not in details}
    return details


def _metadata_text(value):
    """A registration detail as metadata text (booleans as true/false)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def publish(identity, status, old=None, details=None):
    """The member to publish for ``identity`` in ``status``.

    ``details``: a registration's ``weight``, ``enabled`` and ``metadata``
    (those it gave); None keeps what ``old`` published. ``enabled=false``
    publishes STOPPED: not routed (CONTRACT §4).
    """
    if details is None:
        details = details_of(old) if old is not None else {}
    given = {k: details[k] for k in PUBLISHED_DETAILS if k in details}
    registered = old.instance.get("registeredAt") if old is not None else None
    return codec.Member(
        identity.ip,
        identity.port,
        published(status, given.get("enabled")),
        metadata={**details.get("metadata", {}), **{k: _metadata_text(v) for k, v in given.items()}},
        instance={
            **given,
            "namespace": identity.namespace,
            "cluster": identity.cluster,
            "serviceName": identity.service,
            "ip": identity.ip,
            "port": identity.port,
            "instanceId": identity.instance_id,
            "registeredBy": REGISTERED_BY,
            # how the discovery dialect lists it: env is the namespace, zone the cluster
            "env": identity.namespace,
            "zone": identity.cluster,
            "hostname": identity.address,
            "registeredAt": registered if isinstance(registered, int) else int(time.time() * 1000),
        },
    )


def unchanged(old, new, policy):
    """True when publishing ``new`` over ``old`` would change nothing."""
    stripped = {k: v for k, v in old.instance.items() if k not in _STAMPS}
    return evolve(old, instance=stripped) == new and Policy.of(old) == policy


def _nonempty_string(doc, name, default):
    """``doc[name]`` if it is a non-empty string, else ``default``."""
    value = doc.get(name)
    return value if isinstance(value, str) and value else default


def _weight(*candidates):
    """The first finite non-negative number among ``candidates`` (numbers or text)."""
    for value in candidates:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                continue
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
            return value
    return DEFAULT_WEIGHT


def view(service, leaf, namespace=DEFAULT_NAMESPACE):
    """How the instance API shows a member, or None when it is unreadable.

    ``namespace``: what a member that does not say is in (the service's).
    """
    member = leaf.value
    if member is None:
        log.debug("instance API skips %s/%s: not a ServerSet member", service, leaf.name)
        return None
    cluster = _nonempty_string(member.instance, "cluster", DEFAULT_CLUSTER)
    return {
        "namespace": _nonempty_string(member.instance, "namespace", namespace),
        "instanceId": instance_id(cluster, service, member.host, member.port),
        "cluster": cluster,
        "serviceName": service,
        "ip": member.host,
        "port": member.port,
        "status": status_of(member),
        "weight": _weight(member.instance.get("weight"), member.metadata.get("weight")),
        "enabled": not isolated(member),
        "metadata": details_of(member)["metadata"],
    }


def namespace_of(group):
    """A service's namespace: its node's attribute, ``default`` when it has none."""
    return _nonempty_string(codec.decode_attributes(group.data), "namespace", DEFAULT_NAMESPACE)


def views(service, group):
    """Every readable member of a service, in a stable order."""
    namespace = namespace_of(group)
    shown = (view(service, leaf, namespace) for leaf in group.leaves.values())
    return sorted((v for v in shown if v is not None), key=lambda v: (v["cluster"], v["ip"], v["port"], v["namespace"]))


def public(shown):
    """A view as the instance API answers it (the namespace is a filter, not a field)."""
    return {k: v for k, v in shown.items() if k != "namespace"}
