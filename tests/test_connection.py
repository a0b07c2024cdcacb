"""zk.connection's kazoo client, on a real ZooKeeper: pipelined bursts from
many greenlets all get answers, recursive watches report what changed, and
a request the server does not know fails alone."""

import threading

import gevent
import pytest
from kazoo.exceptions import ConnectionLoss, UnimplementedError

from tests.conftest import eventually
from zk import connection
from zk.handlers import make_handler


@pytest.fixture(params=["gevent", "threading"])
def client(request, zk_server, chroot):
    client = connection.Client(hosts=zk_server.hosts + chroot, handler=make_handler(request.param))
    client.start(timeout=10)
    client.create("/h", b"0")
    yield client
    client.stop()
    client.close()


def run_all(client, jobs):
    """Run the callables at once, as greenlets or threads like the handler."""
    if client.handler.name.endswith("gevent_handler"):
        gevent.joinall([gevent.spawn(job) for job in jobs], timeout=30, raise_error=True)
        return
    threads = [threading.Thread(target=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


def test_bursts_of_pipelined_calls_from_many_callers_are_all_answered(client):
    """kazoo alone stalls here under gevent: one wake-up byte per request
    fills the socket pair and the callers that then wait on it are refused."""
    answered = []

    def burst():
        results = [client.get_async("/h") for _ in range(300)]
        answered.append(sum(r.get(timeout=10)[0] == b"0" for r in results))

    run_all(client, [burst] * 20)
    assert answered == [300] * 20
    assert client.get("/h")[0] == b"0"


def test_a_recursive_watch_reports_creations_changes_and_deletions_below(client):
    events = []
    client.add_recursive_watch_async("/h", events.append).get(timeout=10)
    client.create("/h/a/b", b"", makepath=True)
    client.set("/h/a/b", b"1")
    client.delete("/h/a/b")
    client.create("/elsewhere", b"")
    expected = [("CREATED", "/h/a"), ("CREATED", "/h/a/b"), ("CHANGED", "/h/a/b"), ("DELETED", "/h/a/b")]
    assert eventually(lambda: [(e.type, e.path) for e in events] == expected)
    client.set("/h/a", b"again")  # still set after firing
    assert eventually(lambda: (events[-1].type, events[-1].path) == ("CHANGED", "/h/a"))


def test_a_request_the_server_does_not_know_fails_alone(client, monkeypatch):
    """Older servers answer addWatch out of turn and drop the connection; a
    real server is sent an opcode it does not know, which it treats alike."""
    monkeypatch.setattr(connection.AddWatch, "type", 999)
    before = [client.get_async("/h") for _ in range(20)]
    unknown = client.add_recursive_watch_async("/h", lambda event: None)
    with pytest.raises(UnimplementedError):
        unknown.get(timeout=10)
    for result in before:  # answered, or lost with the dropped connection
        try:
            assert result.get(timeout=10)[0] == b"0"
        except ConnectionLoss:
            pass
    eventually(lambda: client.get("/h")[0] == b"0", interval=0.1)  # the client reconnects and serves again
