"""Evicting instances that stopped renewing, on one replica at a time.

Replicas take turns through a lock: one EPHEMERAL node,
``/soa/gateway/evictor``. Whoever's session holds it sweeps; if that replica
dies its session (and so the lock) goes, and another one takes over at its
next sweep. Leases are read from the watch cache, so a sweep costs nothing
in ZooKeeper until it actually evicts.

Self-preservation (Eureka's rule): when the renews seen in the last window
fall below ``threshold`` of what the registered instances should send, the
gateway is more likely cut off from its clients than they are all dead; it
then evicts only instances silent for ``long_silence``. Each sweep evicts at
most ``max_fraction`` of the instances of such policies; policies without
self-preservation (the instance API's) lapse on time however many lapse at once.

Below ``min_instances`` leased instances self-preservation stays off: there
one dead instance alone drops the renew rate under the threshold and would
stay listed for an hour, the very complaint of bilibili/discovery#68.
"""
import collections
import logging
import math
import time
from dataclasses import dataclass
from typing import NamedTuple

from kazoo.exceptions import NodeExistsError, NoNodeError

from .errors import Unavailable
from .status import Policy, Silence, lapsed, last_renew_ms, silence
from .tree import Leaf

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvictionSettings:
    interval: float = 5.0  # seconds between sweeps
    threshold: float = 0.85  # self-preservation below this share of expected renews
    window: float = 60.0  # seconds of renews to compare
    long_silence: float = 3600.0  # evicted even under self-preservation
    max_fraction: float = 0.15  # of all leased instances per sweep
    min_instances: float = 10  # fewer leased instances than this are never protected


class Silent(NamedTuple):
    """A leased instance as a sweep sees it."""

    silent: float  # seconds since its last renew
    service: str
    leaf: Leaf
    policy: Policy


class Evictor:
    def __init__(self, instances, settings=None, replica="gateway", clock=time.time):
        self.instances = instances
        self.catalog = instances.catalog
        self.cluster = instances.cluster
        self.settings = settings or EvictionSettings()
        self.replica = replica
        self.clock = clock
        self.lock_path = self.catalog.layout.beside("gateway") + "/evictor"
        self._renews = collections.deque()  # (time, cumulative leaf updates)
        self._stopped = False
        self.leading_since = None
        self.protecting = False
        self.counters = {"evicted": 0, "marked_unhealthy": 0, "sweeps": 0}

    def start(self):
        self.cluster.handler.spawn(self._run)

    def stop(self):
        self._stopped = True

    def _run(self):
        sleep = self.cluster.handler.sleep_func
        while not self._stopped:
            sleep(self.settings.interval)
            if self._stopped or not self.cluster.connected:
                continue
            try:
                if self.lead():
                    self.sweep()
                self.instances.forget_foreign()
            except Unavailable as exc:
                log.warning("eviction sweep skipped: %s", exc.message)
            except Exception:
                log.exception("eviction sweep failed")

    def lead(self):
        """True while this process's session holds the eviction lock."""
        try:
            self.cluster.call("create", self.lock_path, self.replica.encode(), ephemeral=True, makepath=True)
        except NodeExistsError:
            try:
                _, stat = self.cluster.call("get", self.lock_path)
            except NoNodeError:
                return False  # released just now; try again next sweep
            if stat.ephemeralOwner != self.cluster.session_id:
                self.leading_since = None
                return False
        if self.leading_since is None:
            self.leading_since = self.clock()
            self._renews.clear()
            log.info("this replica now evicts lapsed instances on zkidc %s", self.cluster.name)
        return True

    def _renew_rate(self, now):
        """Renews per minute seen over the window, or None until a window passed."""
        updates = self.instances.leases.leaf_updates
        self._renews.append((now, updates))
        while len(self._renews) > 1 and now - self._renews[1][0] >= self.settings.window:
            self._renews.popleft()
        start, first = self._renews[0]
        if now - start < self.settings.window * 0.999:
            return None
        return (updates - first) * 60.0 / (now - start)

    def sweep(self):
        """Evict or mark what has lapsed; returns the number of changes made."""
        now = self.clock()
        self.counters["sweeps"] += 1
        leases = self.instances.leases.groups()
        leased, expected = [], 0.0
        for service, group in self.catalog.services().items():
            lease_group = leases.get(service)
            for leaf in group.leaves.values():
                member = leaf.value
                key = member.instance.get("lease") if member is not None else None
                if not key:
                    continue  # admin or outside members never lapse
                policy = Policy.of(member)
                lease = lease_group.leaves.get(key) if lease_group else None
                leased.append(Silent(now - last_renew_ms(leaf, lease) / 1000.0, service, leaf, policy))
                if policy.ttl is not None:
                    expected += 60.0 / max(policy.renew_interval, 0.001)
        rate = self._renew_rate(now)
        # Until a whole window has been watched, assume the worst and protect.
        self.protecting = (
            len(leased) >= self.settings.min_instances
            and expected > 0
            and (rate is None or rate < self.settings.threshold * expected)
        )
        # The cap guards self-preservation's policies only; marking UN_HEALTHY removes
        # nobody, so it spends none of it.
        budget = max(1, math.floor(len(leased) * self.settings.max_fraction))
        changes = capped = 0
        for silent, service, leaf, policy in sorted(leased, key=lambda item: -item.silent):
            action = silence(leaf.value, policy, silent)
            if action is Silence.EVICT:
                if policy.self_preservation:
                    if self.protecting and silent <= self.settings.long_silence:
                        continue
                    if capped >= budget:
                        continue
                if self.instances.evict(service, leaf):
                    changes += 1
                    capped += policy.self_preservation
                    self.counters["evicted"] += 1
                    log.info("evicted %s/%s: no renew for %.0f s", service, leaf.name, silent)
            elif action is Silence.MARK:
                if self._mark_unhealthy(service, leaf):
                    changes += 1
        self._drop_orphan_leases(leases, now)
        return changes

    def _mark_unhealthy(self, service, leaf):
        key = leaf.value.instance["lease"]
        try:
            self.instances.replace(
                service,
                key,
                lapsed,
                heartbeat=False,
            )
        except Exception as exc:  # it may have renewed or gone meanwhile
            log.info("could not mark %s/%s unhealthy: %s", service, leaf.name, exc)
            return False
        self.counters["marked_unhealthy"] += 1
        return True

    def _drop_orphan_leases(self, leases, now):
        """Leases whose member vanished (its replica died) and that nobody renews."""
        services = self.catalog.services()
        for service, group in leases.items():
            members = services.get(service)
            for key, lease in group.leaves.items():
                if now - lease.stat.mtime / 1000.0 < Policy().ttl:
                    continue
                if members is None or not self.instances.lookup(service, key):
                    self.instances.delete_lease(service, key, lease.stat.version)
