"""Discovery instances on the contract's tree, without HTTP.

An instance (appid, env, zone, hostname) is a leased member of the service
``<appid>``: ServerSet JSON whose first addr is the ``serviceEndpoint``,
every addr an ``additionalEndpoints`` entry named by its scheme (``http``,
``http_1`` for a second one), status 1 ``ALIVE`` and 2 ``STOPPED``, and the
discovery fields under ``instance``. Leases, replacement and eviction are
``zk.instances``'s; this module only says what is published and how a view
of an (appid, env) is shown.

Timestamps. ``reg_timestamp``, ``up_timestamp`` and ``dirty_timestamp`` are
written into the member when it is registered (the registering replica's
clock, nanoseconds), so every replica shows the same values.
``renew_timestamp`` is the lease node's mtime (ZooKeeper's clock), shown
up to a second late (``Views``).
``latest_timestamp`` is computed from ZooKeeper stats only; see
``latest_timestamp()``.
"""

import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from zk import codec
from zk.codec import ALIVE, STOPPED, Member
from zk.errors import InvalidName
from zk.instances import identity_key
from zk.status import Policy

from ..memo import LIMIT, Memo

SOURCE = "discovery"
UP, DOWN = 1, 2  # status; the fetch filter is a bit mask of them (3 = all)
_NS_PER_MS = 1_000_000


@dataclass(frozen=True)
class Settings:
    """The ``[discovery]`` config section (checked when the config is loaded)."""

    ttl: float = 90.0  # seconds without renew before an instance is evicted
    renew_interval: float = 30.0  # how often clients renew (self-preservation's expectation)
    poll_timeout: float = 30.0  # seconds a poll waits before -304
    zone: str = ""  # this replica's zone in ``nodes`` (default: the zkidc's name)

    @property
    def policy(self):
        return Policy(ttl=self.ttl, renew_interval=self.renew_interval)


def identity(appid, env, zone, hostname):
    """The lease key of an instance: its identity in the original, hashed."""
    return identity_key(SOURCE, appid, env, zone, hostname)


# -- publishing ------------------------------------------------------------


def parse_addr(addr):
    """``scheme://host:port`` -> (scheme, host, port); ValueError says what is wrong."""
    try:
        parts = urlsplit(addr)
        port = parts.port
    except ValueError as exc:
        raise ValueError("addr %r is not scheme://host:port (%s)" % (addr[:256], exc)) from None
    if not parts.scheme or not parts.netloc:
        raise ValueError("addr %r is not scheme://host:port" % addr[:256])
    try:
        host = codec.check_host(parts.hostname)
    except InvalidName as exc:
        raise ValueError("addr %r: host %s" % (addr[:256], exc.message)) from None
    if port is None or not codec.valid_port(port):
        raise ValueError("addr %r needs a port between 1 and 65535" % addr[:256])
    return parts.scheme.lower(), host, port


def build(args, old, now):
    """The Member to publish for a register with ``args`` (loaded parameters).

    ``old``: the member published before for the same identity, or None.
    A re-register keeps ``reg_timestamp`` and ``up_timestamp`` (the
    original keeps up_timestamp; an instance coming up from status 2 gets a
    new one) and gets a new ``dirty_timestamp``.
    """
    endpoints = [parse_addr(addr) for addr in args["addrs"]]
    additional = {}
    for scheme, host, port in endpoints:
        name, n = scheme, 0
        while name in additional:
            n += 1
            name = "%s_%d" % (scheme, n)
        additional[name] = (host, port)
    before = old.instance if old is not None else {}
    reg = before.get("reg_timestamp")
    up = before.get("up_timestamp")
    was_up = old is not None and old.alive
    status = args["status"]
    instance = {
        "zone": args["zone"],
        "env": args["env"],
        "appid": args["appid"],
        "hostname": args["hostname"],
        "addrs": list(args["addrs"]),
        "color": args.get("color", ""),
        "version": args.get("version", ""),
        "metadata": dict(args.get("metadata") or {}),
        "reg_timestamp": reg if isinstance(reg, int) else now,
        "up_timestamp": up if isinstance(up, int) and (was_up or status != UP) else now,
        "dirty_timestamp": now,
        "registeredBy": SOURCE,
    }
    _, host, port = endpoints[0]
    return Member(host, port, ALIVE if status == UP else STOPPED, additional, instance["metadata"], None, instance)


# -- showing -----------------------------------------------------------------


def members_version(group):
    """The zxid of the last change to the members of ``group``.

    ``pzxid`` moves on every member created or deleted, a member's
    ``mzxid`` on every change of its data; the service node's own data
    (attributes other dialects edit) is left out, so editing them does not
    look like a change of instances.
    """
    return max([group.pzxid] + [leaf.stat.mzxid for leaf in group.leaves.values()])


def latest_timestamp(group, zxid=None):
    """The view's ``latest_timestamp``: nanoseconds, from ZooKeeper stats only.

    ``service ctime (ms) * 1e6 + (zxid of the last member change - service czxid)``

    - Identical on every replica for the same ZooKeeper state: only stats
      that every replica reads the same enter it, no local clock.
    - Strictly increasing on every change of the view: each create, delete
      or data change of a member moves pzxid or an mzxid to a new zxid,
      larger than every earlier one; a pure time formula cannot do this,
      because ZooKeeper records no time for a deletion, only the parent's
      pzxid.
    - Unchanged by renews: they write lease nodes outside /soa/services.
    - Nanosecond scale and close to the real time: it starts at the
      service's creation time and counts one nanosecond per ZooKeeper
      transaction since (a leader election adds 2^32 to zxids, about 4.3 s).
    - Granularity: one appid. ZooKeeper tracks deletions per parent node and
      every env of an appid shares the service node, so a change in env
      ``uat`` also moves the timestamp of ``prod`` of the same appid (its
      pollers get an unchanged list once). If the service node is deleted and
      created again its ctime starts the count anew, later than before.
    """
    stat = group.stat
    if stat is None:
        return 0
    return stat.ctime * _NS_PER_MS + ((members_version(group) if zxid is None else zxid) - stat.czxid)


def is_discovery(member):
    """Members this dialect can show: they carry env, zone and hostname."""
    if member is None:
        return False
    inst = member.instance
    return all(isinstance(inst.get(k), str) for k in ("env", "zone", "hostname"))


def status_of(member):
    return UP if member.alive else DOWN


def _int(value, default):
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def show(leaf, group, renewed_ms):
    """One instance as the original shows it."""
    member = leaf.value
    inst = member.instance
    dirty = _int(inst.get("dirty_timestamp"), leaf.stat.ctime * _NS_PER_MS)
    addrs = inst.get("addrs")
    if not (isinstance(addrs, list) and all(isinstance(a, str) for a in addrs)):
        # written by another dialect: its endpoints, named by scheme; a bare
        # ServerSet endpoint is taken for HTTP
        addrs = ["%s://%s:%d" % (name.split("_")[0], h, p) for name, (h, p) in member.additional.items()]
        addrs = addrs or ["http://%s:%d" % (member.host, member.port)]
    metadata = inst.get("metadata")
    return {
        "zone": inst["zone"],
        "env": inst["env"],
        "appid": str(inst.get("appid", group.name)),
        "hostname": inst["hostname"],
        "color": str(inst.get("color", "")),
        "version": str(inst.get("version", "")),
        "metadata": metadata if isinstance(metadata, dict) else member.metadata,
        "addrs": addrs,
        "status": status_of(member),
        "reg_timestamp": _int(inst.get("reg_timestamp"), dirty),
        "up_timestamp": _int(inst.get("up_timestamp"), dirty),
        "renew_timestamp": renewed_ms * _NS_PER_MS if renewed_ms else dirty,
        "dirty_timestamp": dirty,
        "latest_timestamp": latest_timestamp(group, leaf.stat.mzxid),
    }


@dataclass(frozen=True)
class View:
    """What fetch and poll answer for (appid, env, zone, status mask)."""

    known: bool  # (appid, env) has instances at all
    zone_known: bool  # ... in the asked zone (or no zone asked)
    count: int  # instances listed
    latest: int  # latest_timestamp
    body: bytes  # the JSON of ``data``: {"instances": {zone: [...]}, "latest_timestamp": n}


def _dumps(doc):
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def make_view(group, lease_group, env, zone, mask, stale):
    zones = {}
    known = False
    count = 0
    latest = 0
    if group is not None:
        latest = latest_timestamp(group)
        for name in sorted(group.leaves):
            leaf = group.leaves[name]
            member = leaf.value
            if not is_discovery(member) or member.instance["env"] != env:
                continue
            known = True
            where = member.instance["zone"]
            if zone and where != zone:
                continue
            listed = zones.setdefault(where, [])
            if status_of(member) & mask:
                lease = lease_group.leaves.get(member.instance.get("lease")) if lease_group else None
                listed.append(show(leaf, group, lease.stat.mtime if lease else None))
                count += 1
    data = {"instances": zones, "latest_timestamp": latest}
    if stale:
        data["stale"] = True
    return View(known, known and (not zone or zone in zones), count, latest, _dumps(data))


class Views:
    """Views of one zkidc, rendered once per snapshot and reused.

    The watch cache publishes immutable snapshots, so a view is current as
    long as the service's Group and its lease Group are the very objects it
    was made from; thousands of pollers woken by one change share one
    rendering. Renews change only the lease Group (``renew_timestamp``), and
    a large app's instances renew many times a second: for those the view is
    re-rendered at most once per ``lease_lag`` seconds.
    """

    def __init__(self, catalog, limit=LIMIT, lease_lag=1.0, clock=time.monotonic):
        self.catalog = catalog
        self.lease_lag = lease_lag
        self.clock = clock
        self._memo = Memo(limit)

    def get(self, appid, env, zone, mask):
        catalog = self.catalog
        group = catalog.tree.group(appid)
        leases = catalog.instances.leases
        lease_group = leases.groups().get(appid) if leases.loaded else None
        stale = catalog.stale
        return self._memo.get(
            (appid, env, zone, mask),
            group,
            lambda: make_view(group, lease_group, env, zone, mask, stale),
            stale,
            lease_group,
            self.lease_lag,
            self.clock,
        )
