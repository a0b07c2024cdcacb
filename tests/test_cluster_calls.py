"""Cluster: session listeners and bounded calls."""

import pytest

from zk.cluster import Cluster
from zk.errors import Unavailable
from zk.handlers import make_handler


def test_a_session_listener_added_after_connecting_still_sees_the_session(zk_server, chroot):
    """Recovery after expiry counts the sessions a process had; one that began
    before Instances listened (a fast connect) must count too."""
    cluster = Cluster("qa", zk_server.hosts + chroot)
    try:
        assert cluster.wait_connected(10)
        seen = []
        cluster.on_session(seen.append)
        assert seen == [True]
    finally:
        cluster.stop()


@pytest.mark.parametrize("kind", ["threading", "gevent"])
def test_an_unanswered_call_is_unavailable_not_a_handler_timeout(kind):
    """Under gevent a timed-out wait raised gevent.Timeout (a BaseException)
    and killed the watch cache's worker greenlet for good."""
    cluster = Cluster("qa", "127.0.0.1:9", handler=kind, op_timeout=0.2)
    cluster.handler = make_handler(kind)  # waiting needs no connection
    with pytest.raises(Unavailable, match="did not answer"):
        cluster.wait(cluster.handler.async_result())
