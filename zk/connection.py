"""The kazoo client the gateway uses: kazoo's, with the patches of
``zk.kazoo_patches`` (one module each, naming the kazoo version it follows
and its upstream issue or pull request).

ZooKeeper 3.6's persistent recursive watches: one such watch on a tree's
root reports every node created, changed or deleted below it, and it stays
set. The watch cache needs nothing else: a new member costs one read of
that member, where one-shot watches cost a re-read of the whole children
list on every change (and a service with a thousand members lists a
thousand names for each registration). kazoo has no ``addWatch``
(``recursive_watch``); servers older than 3.6 answer the request with
UNIMPLEMENTED and drop the connection (``unimplemented``;
``zk.cluster.Cluster.watch_tree`` remembers that and falls back).

Requests reach the connection with one wake-up byte per burst and one
write per wake-up (``wakeup``: kazoo's byte per request stalls a gevent
connection under a pipelined burst), and answers are read with one
``recv`` for as many as have arrived (``buffered_read``).
"""

from kazoo.client import KazooClient
from kazoo.protocol.connection import ConnectionHandler

from .kazoo_patches.buffered_read import BufferedReadConnection
from .kazoo_patches.recursive_watch import (
    PERSISTENT_RECURSIVE,
    AddWatch,
    RecursiveWatchClient,
    RecursiveWatchConnection,
)
from .kazoo_patches.unimplemented import UnimplementedConnection
from .kazoo_patches.wakeup import CoalescedWakeupClient, CoalescedWakeupConnection

__all__ = ["PERSISTENT_RECURSIVE", "AddWatch", "Client", "Connection"]


class Connection(
    RecursiveWatchConnection,
    CoalescedWakeupConnection,
    BufferedReadConnection,
    UnimplementedConnection,
    ConnectionHandler,
):
    """kazoo's connection with every patch of ``zk.kazoo_patches``."""


class Client(RecursiveWatchClient, CoalescedWakeupClient, KazooClient):
    """kazoo's client on the Connection above, with a wake-up that cannot pile up."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        old = self._connection
        self._connection = Connection(self, old.retry_sleeper, logger=old.logger, sasl_options=old.sasl_options)
