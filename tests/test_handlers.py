"""The kazoo handlers' cheaper select: same answers as select, real ZooKeeper traffic."""

import select
import socket
import threading

import pytest
from kazoo.client import KazooClient

from zk.handlers import make_handler, ready_now


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_nothing_ready_leaves_the_wait_to_the_slow_path(pair):
    a, _ = pair
    assert ready_now([a], []) is None


def test_readable_and_writable_are_reported_like_select(pair):
    a, b = pair
    b.send(b"x")
    readable, writable, errors = ready_now([a, b], [a])
    assert readable == [a] and writable == [a] and errors == []
    assert select.select([a, b], [a], [], 0)[:2] == ([a], [a])


def test_a_closed_peer_is_readable_as_select_says(pair):
    a, b = pair
    b.close()
    assert ready_now([a], [])[0] == [a]


def test_plain_descriptors_work_too(pair):
    a, b = pair
    b.send(b"x")
    assert ready_now([a.fileno()], [])[0] == [a.fileno()]


def test_an_invalid_descriptor_goes_to_the_slow_path_which_reports_it():
    # Not the number of a socket just closed: another thread of the test
    # process (a kazoo client's) may open a file and get that number at once,
    # and select is then right not to complain (CI saw it once). A number
    # above any limit of open files (the kernel's fs.nr_open is 2**20 by
    # default) is never anybody's.
    fd = 1 << 30
    assert ready_now([fd], []) is None
    with pytest.raises(ValueError):
        make_handler("threading").select([fd], [], [], 0)


@pytest.mark.parametrize("kind", ["threading", "gevent"])
def test_a_client_on_the_handler_serves_concurrent_calls_and_watches(kind, zk_server, chroot):
    handler = make_handler(kind)
    client = KazooClient(hosts=zk_server.hosts + chroot, handler=handler)
    client.start(timeout=10)
    try:
        client.create("/h", b"0")
        seen = handler.event_object() if kind == "gevent" else threading.Event()
        client.get("/h", watch=lambda event: seen.set())
        results = [client.get_async("/h") for _ in range(200)]
        assert all(r.get(timeout=10)[0] == b"0" for r in results)
        client.set("/h", b"1")
        assert seen.wait(10)
        assert client.get("/h")[0] == b"1"
    finally:
        client.stop()
        client.close()
