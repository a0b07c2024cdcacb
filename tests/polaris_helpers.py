"""Calls of the Polaris dialect shared by its test modules."""

import json

from tests.conftest import KEYS, OPS

READER = KEYS["reader"]["secret"]
WRITER = KEYS["writer"]["secret"]
IP2CITY = KEYS["ip2city"]["secret"]


def headers(key=OPS, zkidc=None):
    found = {"X-Polaris-Token": key} if key else {}
    if zkidc:
        found["X-Zkidc"] = zkidc
    return found


def create(client, *items, key=OPS, **query):
    return client.post("/naming/v1/services", json=list(items), headers=headers(key), query_string=query)


def update(client, *items, key=OPS):
    return client.put("/naming/v1/services", json=list(items), headers=headers(key))


def delete(client, *items, key=OPS):
    return client.post("/naming/v1/services/delete", json=list(items), headers=headers(key))


def query(client, key=OPS, **params):
    return client.get("/naming/v1/services", query_string=params, headers=headers(key))


def discover(client, kind, name="", namespace="default", revision=None, key=OPS, **service):
    wanted = {"name": name, "namespace": namespace, **service}
    if revision is not None:
        wanted["revision"] = revision
    return client.post("/v1/Discover", json={"type": kind, "service": wanted}, headers=headers(key))


def rules(client, path, method, items, key=OPS):
    """POST/PUT a batch to /naming/v1/<path>; method "delete" posts to .../delete."""
    if method == "delete":
        return client.post("/naming/v1/%s/delete" % path, json=items, headers=headers(key))
    return client.open("/naming/v1/" + path, method=method, json=items, headers=headers(key))


def codes(answer):
    """The batch code and each item's code."""
    return answer.json["code"], [r["code"] for r in answer.json["responses"]]


def member(host, port, status="ALIVE", **extra):
    """ServerSet member bytes as an outside writer would publish them."""
    doc = {"serviceEndpoint": {"host": host, "port": port}, "additionalEndpoints": {}, "status": status}
    doc.update(extra)
    return json.dumps(doc).encode()


def counts(client, name):
    """(total, healthy) instance counts of a service as the query shows them."""
    for service in query(client, name=name).json["services"]:
        return service["total_instance_count"], service["healthy_instance_count"]
    return None
