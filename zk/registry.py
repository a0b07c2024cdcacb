"""All configured zkidcs of one gateway process.

One Catalog (and so one kazoo client) per zkidc per process, created on
first use so that it is made after gunicorn forks its workers.
"""

import threading
from collections.abc import Callable, Mapping
from typing import Any

from .catalog import Catalog
from .cluster import Cluster
from .errors import UnknownZkidc
from .evictor import EvictionSettings
from .paths import Layout


class Registry:
    def __init__(
        self,
        zkidcs: Mapping[str, Mapping[str, Any]],
        root: str = "/soa/services",
        handler: str = "threading",
        op_timeout: float = 1.5,
        eviction: EvictionSettings | None = None,
        replica: str = "gateway",
        zone: str | None = None,
    ) -> None:
        """``zkidcs``: name -> dict(hosts=..., session_timeout=..., auth=(scheme, cred) or None)."""
        self.settings = dict(zkidcs)
        self.eviction = eviction
        self.replica = replica
        self.zone = zone  # this replica's zone (discovery nodes); default: the zkidc's name
        self.layout = Layout(root)
        self.handler = handler
        self.op_timeout = op_timeout
        self._catalogs: dict[str, Catalog] = {}
        self._lock = threading.Lock()
        self.write_listener: Callable[[str, str, bool, bytes | None], object] | None = (
            None  # handed to every Cluster (audit trail)
        )

    @property
    def names(self) -> list[str]:
        return list(self.settings)

    def get(self, name: str) -> Catalog:
        """The Catalog of zkidc ``name``; UnknownZkidc when not configured."""
        catalog = self._catalogs.get(name)
        if catalog is not None:
            return catalog
        if name not in self.settings:
            raise UnknownZkidc("unknown zkidc %r; configured: %s" % (str(name)[:64], ", ".join(sorted(self.settings))))
        with self._lock:
            catalog = self._catalogs.get(name)
            if catalog is None:
                s = self.settings[name]
                cluster = Cluster(
                    name,
                    s["hosts"],
                    session_timeout=s.get("session_timeout", 30.0),
                    auth=s.get("auth"),
                    handler=self.handler,
                    op_timeout=self.op_timeout,
                    protect=s.get("protect", False),
                    recursive_watches=s.get("recursive_watches", True),
                )
                cluster.write_listener = self.write_listener
                catalog = Catalog(cluster, self.layout, self.eviction, self.replica, self.zone)
                catalog.start()
                self._catalogs[name] = catalog
        return catalog

    def started(self) -> dict[str, Catalog]:
        """name -> Catalog of the zkidcs in use so far."""
        return dict(self._catalogs)

    def stop(self) -> None:
        for catalog in self._catalogs.values():
            catalog.stop()
        self._catalogs.clear()
