"""Calls of the instance API shared by its test modules."""

import json

from kazoo.exceptions import NoNodeError

from tests.conftest import OPS

INSTANCE = {"serviceName": "serviceTest", "ip": "127.0.0.1", "port": 8080}


def headers(key=OPS):
    return {"X-Api-Key": key} if key else {}


def register(client, key=OPS, **fields):
    return client.post("/api/instance", json={**INSTANCE, **fields}, headers=headers(key))


def deregister(client, key=OPS, **fields):
    return client.delete("/api/instance", json={**INSTANCE, **fields}, headers=headers(key))


def beat(client, key=OPS, **fields):
    return client.put("/api/instance/beat", json={**INSTANCE, **fields}, headers=headers(key))


def set_status(client, status, key=OPS, **fields):
    return client.put("/api/instance/status", json={**INSTANCE, "status": status, **fields}, headers=headers(key))


def get(client, key=OPS, **query):
    return client.get("/api/instance", query_string={**INSTANCE, **query}, headers=headers(key))


def listing(client, key=OPS, **query):
    return client.get("/api/instance/list", query_string={"serviceName": "serviceTest", **query}, headers=headers(key))


def status(client, **query):
    answer = get(client, **query)
    return answer.json["status"] if answer.status_code == 200 else answer.status_code


def ok(answer):
    assert (answer.status_code, answer.get_data(as_text=True)) == (200, "success")
    assert answer.mimetype == "text/plain"
    return answer


def read_members(zk, path):
    """name -> parsed data of every member under ``path``, as a plain ZooKeeper
    reader sees them; read again when one was replaced while it read."""
    while True:
        try:
            return {name: json.loads(zk.get("%s/%s" % (path, name))[0]) for name in zk.get_children(path)}
        except NoNodeError:
            if not zk.exists(path):
                return {}
