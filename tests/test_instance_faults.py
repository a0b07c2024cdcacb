"""The instance API when ZooKeeper fails under it: plain text 503, nothing half written."""

from tests.instance_helpers import beat, get, listing, ok, read_members, register
from zk.catalog import Catalog
from zk.errors import Unavailable


def catalog_of(app):
    return app.extensions["soa"].registry.get("qa")


def test_no_view_of_zookeeper_is_503_not_an_empty_list(client, app, mocker):
    mocker.patch.object(catalog_of(app).tree, "groups", side_effect=Unavailable("ZooKeeper zkidc qa: no view yet"))
    for answer in (listing(client), get(client)):
        assert (answer.status_code, answer.mimetype) == (503, "text/plain")
        assert answer.get_data(as_text=True) == "ZooKeeper zkidc qa: no view yet"


def test_a_write_zookeeper_does_not_take_is_503_and_writes_nothing(client, app, zk, services_path, mocker):
    ok(register(client, port=9000))
    cluster = catalog_of(app).cluster
    mocker.patch.object(cluster, "commit", side_effect=Unavailable("ZooKeeper zkidc qa did not answer in 2.0 s"))
    answer = register(client)
    assert (answer.status_code, answer.get_data(as_text=True)) == (503, "ZooKeeper zkidc qa did not answer in 2.0 s")
    mocker.stopall()
    assert [doc["serviceEndpoint"]["port"] for doc in read_members(zk, services_path + "/serviceTest").values()] == [
        9000
    ]
    assert beat(client).status_code == 404


def test_a_stale_view_is_served_and_marked(client, mocker):
    ok(register(client))
    mocker.patch.object(Catalog, "stale", new=property(lambda self: True))
    answer = listing(client)
    assert answer.status_code == 200 and len(answer.json["instances"]) == 1
    assert answer.headers["X-Soa-Stale"] == "true"
