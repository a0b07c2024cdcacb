"""Calls of the discovery API shared by its test modules."""

import json
import urllib.parse
import urllib.request

from kazoo.exceptions import NoNodeError

from tests.conftest import OPS

APPID = "demo.account"
IDENTITY = {"zone": "sh001", "env": "uat", "appid": APPID, "hostname": "host-1"}


def instance(**fields):
    return {**IDENTITY, **fields}


def register(client, key=OPS, addrs=("http://10.0.0.1:8080",), status=1, **fields):
    return client.post(
        "/discovery/register", data={**instance(**fields), "addrs": list(addrs), "status": status, "key": key}
    ).json


def renew(client, key=OPS, **fields):
    return client.post("/discovery/renew", data={**instance(**fields), "key": key}).json


def cancel(client, key=OPS, **fields):
    return client.post("/discovery/cancel", data={**instance(**fields), "key": key}).json


def fetch(client, appid=APPID, env="uat", status=3, key=OPS, **query):
    return client.get(
        "/discovery/fetch", query_string={"appid": appid, "env": env, "status": status, "key": key, **query}
    ).json


def hostnames(answer):
    """Sorted hostnames of a fetch/poll answer's data."""
    return sorted(i["hostname"] for zone in answer["data"]["instances"].values() for i in zone)


def members(zk, services_path, appid=APPID):
    """What a plain kazoo client sees: member name -> parsed ServerSet JSON."""
    path = "%s/%s" % (services_path, appid)
    found = {}
    for child in zk.get_children(path):
        if child.startswith("member_"):
            try:
                found[child] = json.loads(zk.get("%s/%s" % (path, child))[0])
            except NoNodeError:  # removed between the listing and the read (an eviction)
                pass
    return found


def http(base, path, params, method="GET", timeout=40):
    """One call to a real gateway process; the parsed answer."""
    query = urllib.parse.urlencode({**params, "key": params.get("key", OPS)}, doseq=True)
    if method == "GET":
        request = urllib.request.Request("%s%s?%s" % (base, path, query))
    else:
        request = urllib.request.Request(base + path, data=query.encode(), method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read())
