"""One kazoo client per zkidc, its connection state, and bounded calls.

kazoo's synchronous calls wait for a reconnect for as long as it takes. A
gateway must answer within seconds instead, so every call here goes through
``call()``: it fails fast when the client is not connected and gives up
after ``op_timeout`` seconds, raising Unavailable either way.

A request gets one ``op_timeout`` in all for waiting on an unreachable
ZooKeeper (``request_budget()``), however many calls it makes: a connection
that comes back just in time for one call and drops before the next must not
stretch a failing write to several timeouts. Calls answered on a live
connection cost nothing from it, so a large batch is never cut short.
"""

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple, cast

from kazoo.client import KazooState, TransactionRequest
from kazoo.exceptions import (
    ConnectionClosedError,
    ConnectionLoss,
    OperationTimeoutError,
    RolledBackError,
    SessionExpiredError,
    UnimplementedError,
)
from kazoo.protocol.states import WatchedEvent
from kazoo.retry import KazooRetry
from kazoo.security import ACL, make_acl, make_digest_acl

from . import connection
from .errors import TooLarge, Unavailable
from .handlers import make_handler

log = logging.getLogger(__name__)

CONNECTED, SUSPENDED, LOST, STOPPED = "connected", "suspended", "lost", "stopped"
_WRITES = {"create", "delete", "set", "ensure_path"}
_TRANSACTION_WRITES = {"Create": "create", "Delete": "delete", "SetData": "set"}  # not CheckVersion
# ZooKeeper drops the connection (the whole session's traffic) on a request
# larger than jute.maxbuffer (1 MiB by default); stay well below it.
MAX_DATA = 512 * 1024
BULK_TIMEOUT = 30.0  # seconds one answer of a bulk read may take at least (see Cluster.bulk_timeout)
_LOST_CALLS = (ConnectionLoss, SessionExpiredError, ConnectionClosedError, OperationTimeoutError)


class _Write(NamedTuple):
    """What one call or transaction operation would write."""

    path: str
    data: bytes | None


class Budget:
    """How long the current request may still wait for ZooKeeper to be reachable."""

    def __init__(self, seconds: float) -> None:
        self.left = float(seconds)


_budget: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("soa_zk_budget", default=None)


def request_budget(seconds: float) -> None:
    """Give the current request (context) ``seconds`` of waiting on an
    unreachable ZooKeeper in all, until ``end_request()``."""
    _budget.set(Budget(seconds))


def end_request() -> None:
    _budget.set(None)


def _timeouts(handler: Any) -> tuple[type[BaseException], ...]:
    """What a timed-out ``AsyncResult.get`` raises under ``handler``.

    kazoo's gevent handler names a subclass of ``gevent.Timeout``, but
    gevent's ``AsyncResult.get`` raises ``gevent.Timeout`` itself, a
    BaseException: uncaught, it would kill the greenlet that waited (the
    watch cache's worker, the evictor) instead of becoming Unavailable.
    """
    if handler.name.endswith("gevent_handler"):
        import gevent

        return (handler.timeout_exception, gevent.Timeout)
    return (handler.timeout_exception,)


class Cluster:
    """The connection to one ZooKeeper ensemble (one zkidc)."""

    def __init__(
        self,
        name: str,
        hosts: str,
        session_timeout: float = 30.0,
        auth: tuple[str, str] | None = None,
        handler: str = "threading",
        op_timeout: float = 1.5,
        protect: bool = False,
        recursive_watches: bool = True,
    ) -> None:
        self.name = name
        self.hosts = hosts
        self.session_timeout = float(session_timeout)
        self.auth = auth  # (scheme, credential) or None
        self.protect = protect  # ACL mode: what we create is world-readable, writable only with our digest
        self.handler_kind = handler
        self.op_timeout = float(op_timeout)
        self.recursive_watches = recursive_watches  # False once the ensemble has refused them
        self.state = STOPPED
        self.session_id: int | None = None
        self._client: connection.Client | None = None
        self.handler: Any = None  # the kazoo handler, once the client started
        self._lock = threading.Lock()
        self._closed = False
        self._session_listeners: list[Callable[[bool], object]] = []
        self._connected = threading.Event()
        # (operation, path, heartbeat, data) after each write, for auditing: the path inside
        # the zkidc (no chroot), the node actually created; data of a create, else None
        self.write_listener: Callable[[str, str, bool, bytes | None], object] | None = None

    # -- lifecycle ---------------------------------------------------------

    @property
    def client(self) -> connection.Client:
        """The kazoo client, started on first use (after any fork)."""
        if self._client is None:
            with self._lock:
                if self._closed:
                    raise Unavailable("zkidc %s is shut down" % self.name)
                if self._client is None:
                    self._start()
        return cast(connection.Client, self._client)  # stop() may clear it meanwhile

    def _start(self) -> None:
        handler = make_handler(self.handler_kind)
        client = connection.Client(
            hosts=self.hosts,
            timeout=self.session_timeout,
            handler=handler,
            connection_retry=KazooRetry(max_tries=-1, delay=0.1, backoff=2, max_delay=2, sleep_func=handler.sleep_func),
            auth_data=[self.auth] if self.auth else None,
            default_acl=self.default_acl(),
        )
        client.add_listener(self._on_state)
        self.handler = client.handler
        self.state = SUSPENDED
        self._client = client
        client.start_async()

    def stop(self) -> None:
        """Close the session: ephemeral members owned by it vanish at once."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            try:
                client.stop()
                client.close()
            except Exception:  # closing a dead connection is not worth a traceback
                log.debug("closing zkidc %s", self.name, exc_info=True)
        self.state = STOPPED
        self._connected.clear()

    def default_acl(self) -> list[ACL] | None:
        """ACL mode: anyone may read; only the gateway's digest identity may change."""
        if not self.protect:
            return None
        scheme, credential = self.auth or ("", "")
        username, sep, password = credential.partition(":")
        if scheme != "digest" or not sep:
            raise ValueError("zkidc %s: ACL mode needs auth = 'digest:user:password'" % self.name)
        return [make_digest_acl(username, password, all=True), make_acl("world", "anyone", read=True)]

    def on_session(self, listener: Callable[[bool], object]) -> None:
        """Call ``listener(new_session: bool)`` on every (re)connection.

        Runs on kazoo's event thread: it must not block or call ZooKeeper.
        A listener added while connected is also called at once (on the
        caller's thread): the session that began before it was added counts.
        """
        self._session_listeners.append(listener)
        if self.state == CONNECTED:
            listener(True)

    def _on_state(self, state: str) -> None:
        if state == KazooState.CONNECTED:
            session = self._client.client_id[0] if self._client and self._client.client_id else None
            new = session != self.session_id
            self.session_id = session
            self.state = CONNECTED
            self._connected.set()
            log.info("zkidc %s connected (session 0x%x%s)", self.name, session or 0, ", new" if new else "")
            for listener in self._session_listeners:
                listener(new)
        else:
            self._connected.clear()
            self.state = LOST if state == KazooState.LOST else SUSPENDED
            log.warning("zkidc %s %s", self.name, self.state)

    @property
    def connected(self) -> bool:
        return self.state == CONNECTED

    def wait_connected(self, timeout: float | None = None) -> bool:
        self.client  # noqa: B018 - start on first use
        return self._connected.wait(self.op_timeout if timeout is None else timeout)

    def patience(self) -> float:
        """Seconds the current request may still wait while ZooKeeper is unreachable."""
        budget = _budget.get()
        return self.op_timeout if budget is None else max(0.0, min(self.op_timeout, budget.left))

    def wait_for(self, ready: Callable[[float], bool], timeout: float | None = None) -> bool:
        """``ready(seconds) -> bool`` waits for something that needs ZooKeeper.

        While connected it may take ``timeout`` (default op_timeout); while
        not, only what is left of the request's budget, and that time is
        spent from it.
        """
        limit = self.op_timeout if timeout is None else timeout
        if self._connected.is_set():
            return ready(limit)
        started = time.monotonic()
        try:
            return ready(min(limit, self.patience()))
        finally:
            budget = _budget.get()
            if budget is not None:
                budget.left -= time.monotonic() - started

    @property
    def bulk_timeout(self) -> float:
        """How long one answer of a bulk read (a cache load) may take.

        A load pipelines thousands of reads; an answer that waits behind
        a window of them on a live connection is late, not lost, so it is
        not held to a request's op_timeout. A lost connection fails every
        pending call at once (ConnectionLoss) however long this is, and
        kazoo drops a connection that stops answering its pings.
        """
        return max(self.op_timeout, self.session_timeout, BULK_TIMEOUT)

    # -- calls -------------------------------------------------------------

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``client.<method>_async(*args)`` and wait at most op_timeout.

        ZooKeeper errors about the data (NoNodeError, NodeExistsError ...)
        pass through; trouble reaching ZooKeeper becomes Unavailable.
        """
        result = self.wait(self.submit(method, *args, **kwargs))
        if method == "create":
            created = result[0] if isinstance(result, tuple) else result  # (path, stat) with include_data
            self._wrote(method, created, data=args[1] if len(args) > 1 else kwargs.get("value", b""))
        elif method in _WRITES:
            self._wrote(method, args[0])
        return result

    def touch(self, path: str) -> None:
        """A heartbeat: rewrite a node's (empty) data so its mtime moves."""
        self.wait(self.submit("set", path, b""))
        self._wrote("set", path, heartbeat=True)

    def _wrote(self, operation: str, path: str, heartbeat: bool = False, data: bytes | None = None) -> None:
        if self.write_listener is not None:
            self.write_listener(operation, path, heartbeat, data)

    def submit(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Send ``client.<method>_async(*args)``; pipeline several, then wait()."""
        if method in ("create", "set"):
            self._fits([_Write(args[0], args[1] if len(args) > 1 else kwargs.get("value", b""))])
        self._ready()
        return getattr(self._client, method + "_async")(*args, **kwargs)

    def commit(self, transaction: TransactionRequest) -> list[Any]:
        """Commit a kazoo transaction within op_timeout; returns its results.

        kazoo reports a failed transaction as exception objects in the
        results; the first real one (not RolledBackError) is raised here.
        """
        self._fits([_Write(op.path, getattr(op, "data", None)) for op in transaction.operations])
        self._ready()
        results = self.wait(transaction.commit_async())
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, RolledBackError):
                raise result
        for operation, result in zip(transaction.operations, results, strict=True):
            kind = _TRANSACTION_WRITES.get(type(operation).__name__)
            if kind == "create":  # the created path comes back without the chroot
                self._wrote(kind, result, data=operation.data)
            elif kind:  # kazoo put the chroot in front of the operation's path
                self._wrote(kind, self.client.unchroot(operation.path))
        return results

    def watch_tree(self, path: str, watcher: Callable[[WatchedEvent], None]) -> bool:
        """Set a persistent recursive watch on ``path`` for this connection.

        False when there is none to be had: turned off in the configuration,
        or a ZooKeeper before 3.6. Such a server answers UNIMPLEMENTED and
        drops the connection that asked, so its refusal is remembered and
        the caller falls back to one-shot watches.
        """
        if not self.recursive_watches:
            return False
        self._ready()
        client = cast(connection.Client, self._client)  # started by _ready()
        try:
            self.wait(client.add_recursive_watch_async(path, watcher), self.bulk_timeout)
        except UnimplementedError:
            client.forget_recursive_watch(path)
            self.recursive_watches = False
            log.warning("zkidc %s: ZooKeeper has no persistent watches (before 3.6); using one-shot watches", self.name)
            return False
        return True

    def transaction(self) -> TransactionRequest:
        return self.client.transaction()

    @staticmethod
    def _fits(writes: list[_Write]) -> None:
        """Refuse a write ZooKeeper would answer by dropping the connection.

        ``writes``: those of one call or of every operation of a transaction.
        """
        size = sum(len(write.data or b"") for write in writes)
        if size > MAX_DATA:
            path = max(writes, key=lambda write: len(write.data or b"")).path
            raise TooLarge(
                "too large: writing %s would take %d KiB; at most %d KiB are written to ZooKeeper at once"
                % (path, (size + 1023) // 1024, MAX_DATA // 1024)
            )

    def wait(self, async_result: Any, timeout: float | None = None) -> Any:
        """The answer of a submitted call, within ``timeout`` (default op_timeout)."""
        timeout = self.op_timeout if timeout is None else timeout
        try:
            return async_result.get(timeout=timeout)
        except _LOST_CALLS as exc:
            raise Unavailable("ZooKeeper zkidc %s: %s" % (self.name, type(exc).__name__)) from None
        except _timeouts(self.handler):
            raise Unavailable("ZooKeeper zkidc %s did not answer within %.3g s" % (self.name, timeout)) from None

    def _ready(self) -> None:
        self.client  # noqa: B018 - start on first use
        if not self.wait_for(self._connected.wait):
            raise Unavailable("ZooKeeper zkidc %s is not reachable (%s)" % (self.name, self.state))
