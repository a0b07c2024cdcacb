"""The gateway replicas serving one zkidc.

Each gateway process announces itself with an EPHEMERAL node
``/soa/gateway/replicas/<addr>@<session>`` holding ``{"addr", "zone"}``,
beside the services tree (never under it). The node lives exactly as long
as the process's ZooKeeper session; a new session announces again. The
session id in the name keeps the several gunicorn workers of one replica
(one session each) from colliding; the listing shows each address once.
"""

import json
import logging
from typing import TYPE_CHECKING, Any

from kazoo.exceptions import NodeExistsError

from .errors import Unavailable
from .tree import WatchedTree

if TYPE_CHECKING:
    from .catalog import Catalog

log = logging.getLogger(__name__)


def _decode(data: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("addr"), str) else None


class Replicas:
    def __init__(self, catalog: "Catalog", addr: str, zone: str) -> None:
        self.cluster = catalog.cluster
        self.addr = addr
        self.zone = zone
        self.path = catalog.layout.beside("gateway") + "/replicas"
        # One group per replica node (its data is the announcement), no leaves.
        self.tree: WatchedTree[dict[str, Any] | None] = WatchedTree(
            self.cluster, self.path, lambda name: True, lambda name: False, _decode
        )

    def start(self) -> None:
        self.tree.start()
        self.cluster.on_session(lambda new: new and self.cluster.handler.spawn(self.announce))

    def stop(self) -> None:
        self.tree.stop()

    def announce(self) -> bool:
        """Create this process's node on the current session (idempotent)."""
        session = self.cluster.session_id
        if session is None:
            return False
        name = "%s@%x" % (self.addr.replace("/", "_"), session)
        data = json.dumps({"addr": self.addr, "zone": self.zone}, sort_keys=True, allow_nan=False).encode()
        try:
            self.cluster.call("create", "%s/%s" % (self.path, name), data, ephemeral=True, makepath=True)
        except NodeExistsError:
            pass
        except Unavailable as exc:  # the next session announces again
            log.warning("announcing replica %s on zkidc %s: %s", self.addr, self.cluster.name, exc.message)
            return False
        return True

    def listing(self) -> list[dict[str, str]]:
        """[{"addr", "zone"}] of every replica serving, sorted by addr, from the cache."""
        seen: dict[str, str] = {}
        for group in self.tree.groups().values():
            doc = _decode(group.data)
            if doc is not None:
                seen.setdefault(doc["addr"], str(doc.get("zone", "")))
        return [{"addr": addr, "zone": zone} for addr, zone in sorted(seen.items())]
