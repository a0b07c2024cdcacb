"""Optional ZooKeeper ACL mode: outside clients may read what the gateway
wrote, and only the gateway's digest identity may change or delete it."""

import json

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError

from gateway import create_app
from gateway.config import ConfigError
from tests.conftest import OPS, make_config


def gateway_identity(zk_server):
    client = KazooClient(hosts=zk_server.hosts, auth_data=[("digest", "soa-gateway:s3cret")])
    client.start(timeout=10)
    return client


@pytest.fixture
def protected(zk_server, chroot):
    app = create_app(make_config(zk_server.hosts, chroot, acl=True, auth="digest:soa-gateway:s3cret"))
    yield app.test_client()
    app.extensions["soa"].registry.stop()
    cleaner = gateway_identity(zk_server)  # only it may remove what the gateway made
    cleaner.delete(chroot, recursive=True)
    cleaner.stop()
    cleaner.close()


def test_outsiders_read_but_cannot_change_or_delete(protected, zk, services_path):
    assert protected.post("/addservice", query_string={"destName": "svc", "key": OPS}).json["code"] == 1
    key = protected.post(
        "/addserver", query_string={"destName": "svc", "key": OPS, "serverHost": "10.0.0.1", "serverPort": 80}
    ).json["key"]
    member = "%s/svc/%s" % (services_path, key)
    data, _ = zk.get(member)
    assert b'"host":"10.0.0.1"' in data
    with pytest.raises(NoAuthError):
        zk.set(member, b"{}")
    with pytest.raises(NoAuthError):
        zk.delete(member)
    with pytest.raises(NoAuthError):
        zk.create(services_path + "/svc/member_", b"x", sequence=True)
    # The gateway itself still manages its nodes.
    assert (
        protected.post("/delserver", query_string={"destName": "svc", "key": OPS, "serverKey": key}).json["code"] == 1
    )
    assert protected.post("/delservice", query_string={"destName": "svc", "key": OPS}).json["code"] == 1


def test_the_gateways_identity_can_change_them(protected, zk_server, chroot, services_path):
    protected.post("/addservice", query_string={"destName": "svc", "key": OPS})
    client = gateway_identity(zk_server)
    try:
        client.set(services_path + "/svc", b"{}")
    finally:
        client.stop()
        client.close()


def test_acl_mode_needs_digest_auth(zk_server, chroot):
    with pytest.raises(ConfigError) as error:
        make_config(zk_server.hosts, chroot, acl=True)
    assert "digest:user:password" in str(error.value)


def test_a_registered_instance_and_its_lease_are_readable_not_changeable(protected, zk, chroot, services_path):
    """An ephemeral member registered through the discovery API, and its lease."""
    form = {
        "zone": "z1",
        "env": "uat",
        "appid": "acl.demo",
        "hostname": "h1",
        "addrs": "http://10.0.0.1:80",
        "status": 1,
        "key": OPS,
    }
    assert protected.post("/discovery/register", data=form).json["code"] == 0
    service = services_path + "/acl.demo"
    (name,) = zk.get_children(service)
    member = "%s/%s" % (service, name)
    data, stat = zk.get(member)
    assert stat.ephemeralOwner != 0 and b'"hostname":"h1"' in data
    leases = "%s/qa/soa/leases/acl.demo" % chroot
    (lease,) = zk.get_children(leases)
    zk.get("%s/%s" % (leases, lease))
    for path in (member, "%s/%s" % (leases, lease)):
        with pytest.raises(NoAuthError):
            zk.set(path, b"{}")
        with pytest.raises(NoAuthError):
            zk.delete(path)
    with pytest.raises(NoAuthError):
        zk.create(service + "/member_", b"x", ephemeral=True, sequence=True)
    # The gateway itself renews, replaces and cancels it.
    identity = {k: form[k] for k in ("zone", "env", "appid", "hostname", "key")}  # what renew and cancel take
    assert protected.post("/discovery/renew", data=identity).json["code"] == 0
    assert protected.post("/discovery/register", data={**form, "status": 2}).json["code"] == 0
    assert json.loads(zk.get("%s/%s" % (service, zk.get_children(service)[0]))[0])["status"] == "STOPPED"
    assert protected.post("/discovery/cancel", data=identity).json["code"] == 0
    assert zk.get_children(service) == []
