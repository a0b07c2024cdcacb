"""Liveness and readiness."""

from gateway import create_app
from tests.conftest import eventually, make_config
from zk.server import free_port


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = eventually(lambda: (lambda answer: answer.status_code == 200 and answer)(client.get("/readyz")))
    assert ready.json["status"] == "ready"
    qa = ready.json["zkidcs"]["qa"]
    assert (qa["state"], qa["cache"]) == ("connected", "fresh")
    assert qa["last_load_seconds"] >= 0


def test_readyz_is_503_when_the_default_zkidc_is_unreachable(zk_server, chroot):
    config = make_config(zk_server.hosts, chroot)
    dead = "127.0.0.1:%d" % free_port()
    zkidcs = dict(config.zkidcs)
    zkidcs["qa"] = type(zkidcs["qa"])("qa", dead, 4.0)
    app = create_app(type(config)(**{**config.__dict__, "zkidcs": zkidcs}))
    try:
        client = app.test_client()
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json["status"] == "not ready"
        assert answer.json["zkidcs"]["qa"]["state"] != "connected"
        eventually(lambda: client.get("/readyz").json["zkidcs"]["yz"]["cache"] == "fresh")
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
    finally:
        app.extensions["soa"].registry.stop()


def test_readyz_waits_for_the_cache_not_only_the_connection(app, mocker):
    """Connected but with no view of the services yet: not ready, since reads
    would answer 503 "no view yet"."""
    catalog = app.extensions["soa"].registry.get("qa")
    eventually(lambda: catalog.cluster.connected and catalog.tree.loaded)
    mocker.patch.object(catalog.tree._loaded, "is_set", return_value=False)  # as before the first read
    answer = app.test_client().get("/readyz")
    qa = answer.json["zkidcs"]["qa"]
    assert answer.status_code == 503 and (qa["state"], qa["cache"]) == ("connected", "empty")
