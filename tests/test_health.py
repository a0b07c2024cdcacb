"""Liveness and readiness."""
from gateway import create_app
from tests.conftest import make_config
from zk.server import free_port


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["status"] == "ready"
    assert ready.json["zkidcs"]["qa"] == {"state": "connected", "cache": "fresh"}


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
        assert answer.json["zkidcs"]["yz"]["state"] == "connected"
        assert client.get("/healthz").status_code == 200
    finally:
        app.extensions["soa"].registry.stop()
