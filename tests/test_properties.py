"""Property tests: whatever bytes sit in a znode and whatever names clients
send, the codec never raises and no path ever leaves the services root."""

import json
import posixpath
import string

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tests.conftest import OPS
from zk import codec
from zk.errors import InvalidName
from zk.instances import identity_key
from zk.paths import Layout, check_member_key, check_service, is_service

NAME_CHARS = string.ascii_letters + string.digits + "._:-"

# JSON values as other writers might leave them: any shape, any depth (bounded).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
# What the gateway itself writes: finite numbers only (NaN is not JSON to other readers).
finite_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
endpoints = st.fixed_dictionaries(
    {},
    optional={
        "host": st.one_of(st.text(max_size=20), st.integers(), st.none()),
        "port": st.one_of(st.integers(), st.text(max_size=6), st.booleans(), st.floats()),
    },
)
# Almost-ServerSet documents: the right keys with anything in them.
serverset_like = st.fixed_dictionaries(
    {},
    optional={
        "serviceEndpoint": endpoints | json_values,
        "additionalEndpoints": st.dictionaries(st.text(max_size=8), endpoints | json_values, max_size=3) | json_values,
        "status": st.sampled_from(codec.STATUSES) | json_values,
        "metadata": st.dictionaries(st.text(max_size=8), json_values, max_size=3) | json_values,
        "shard": json_values,
        "instance": json_values,
    },
)


def _dump(doc):
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


# -- the member codec ----------------------------------------------------------


@given(st.binary(max_size=2048))
@example(b"[" * 100_000)  # nested deeper than the JSON parser's recursion limit
@example(b'{"a":' * 50_000)
@example('{"serviceEndpoint": {"host": "h", "port": "\u00b2"}}'.encode())  # a digit int() refuses
@example("10.0.0.1:\u00b9\u00b2".encode())
@example(b"\xed\xa0\x80")  # a UTF-8 encoded lone surrogate
@settings(max_examples=300)
def test_decode_of_arbitrary_bytes_never_raises(data):
    member = codec.decode(data)
    assert member is None or isinstance(member, codec.Member)
    assert isinstance(codec.decode_attributes(data), dict)


@given(st.one_of(serverset_like, json_values).map(_dump))
@example(_dump({"serviceEndpoint": {"host": "h", "port": 1}, "metadata": {"deep": [[[[[]]]]]}}))
@example(b'{"serviceEndpoint":{"host":"h","port":1},"metadata":{"m":' + b"[" * 900 + b"]" * 900 + b"}}")
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_decode_of_serverset_like_json_never_raises_and_is_usable(data):
    member = codec.decode(data)
    if member is None:
        return
    # What decode gives is a member every reader can rely on.
    assert isinstance(member.host, str) and member.host
    assert codec.valid_port(member.port)
    assert member.status is None or isinstance(member.status, str)
    # routed to exactly when Finagle would: "ALIVE" and an integer port, in JSON
    doc = json.loads(data)
    port = doc["serviceEndpoint"]["port"]
    assert member.alive == (doc.get("status") == codec.ALIVE and isinstance(port, int) and not isinstance(port, bool))
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in member.metadata.items())
    assert all(isinstance(h, str) and codec.valid_port(p) for h, p in member.additional.values())
    assert member.shard is None or isinstance(member.shard, int)
    assert isinstance(member.instance, dict)
    # ... and one the gateway can write back as proper ServerSet JSON.
    again = codec.decode(codec.encode(member))
    assert again is not None and (again.host, again.port, again.status) == (member.host, member.port, member.status)


hosts = st.one_of(
    st.ip_addresses().map(str),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]{1,10}){0,3}", fullmatch=True),
)
ports = st.integers(1, 65535)
members = st.builds(
    codec.Member,
    host=hosts,
    port=ports,
    status=st.sampled_from(codec.STATUSES),
    additional=st.dictionaries(st.text(min_size=1, max_size=10), st.tuples(hosts, ports), max_size=3),
    metadata=st.dictionaries(st.text(max_size=16), st.text(max_size=32), max_size=5),
    shard=st.none() | st.integers(-(2**31), 2**31),
    instance=st.dictionaries(st.text(min_size=1, max_size=10), finite_json, max_size=5),
)


@given(members)
@settings(max_examples=300)
def test_encode_decode_round_trip(member):
    data = codec.encode(member)
    assert codec.decode(data) == member
    assert codec.encode(codec.decode(data)) == data  # deterministic bytes
    doc = json.loads(data)
    assert set(doc) >= {"serviceEndpoint", "additionalEndpoints", "status", "metadata"}
    assert isinstance(doc["serviceEndpoint"]["port"], int)


# -- name rules ----------------------------------------------------------------------


names = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=NAME_CHARS + "/\\%.\x00 ", max_size=140),
    st.sampled_from([".", "..", "../x", "x/..", "/", "//", "%2F", "%2e%2e", "a/b", "..\\x", "a\x00b", "\u2024\u2024"]),
)
roots = st.sampled_from(["/soa/services", "soa/services/", "/a", "/x/y/z/", "//soa//services"])


def _inside(layout, path):
    assert path.startswith(layout.root + "/")
    assert posixpath.normpath(path) == path
    return path[len(layout.root) + 1 :]


@given(roots, names)
@example("/soa/services", "..")
@example("/soa/services", "../leases")
@example("/soa/services", "a" * 129)
def test_a_service_path_never_leaves_the_root(root, name):
    layout = Layout(root)
    try:
        path = layout.service(name)
    except InvalidName:
        assert not is_service(name) if isinstance(name, str) else True
        return
    rest = _inside(layout, path)
    assert rest == name and "/" not in rest and rest not in (".", "..")
    assert 1 <= len(rest) <= 128 and set(rest) <= set(NAME_CHARS)
    assert posixpath.dirname(path) == layout.root
    assert check_service(name) == name and is_service(name)


@given(names, names)
@example("svc", "member_/../../x")
@example("svc", "member_..")
def test_a_member_path_is_exactly_two_levels_below_the_root(service, key):
    layout = Layout()
    try:
        path = layout.member(service, key)
    except InvalidName:
        return
    rest = _inside(layout, path)
    assert rest.split("/") == [service, key]
    assert check_member_key(key) == key and key.startswith("member_")
    assert posixpath.dirname(posixpath.dirname(path)) == layout.root


@given(names)
def test_invalid_names_fail_with_invalid_name_only(name):
    """Any string gives the name back or InvalidName: nothing else escapes."""
    for check in (check_service, check_member_key):
        try:
            assert check(name) == name
        except InvalidName:
            pass


@given(st.lists(st.text(max_size=40), min_size=1, max_size=5))
def test_identity_keys_are_znode_safe(parts):
    key = identity_key(*parts)
    assert len(key) == 40 and set(key) <= set("0123456789abcdef")


@given(st.text(max_size=64))
def test_a_services_root_is_never_slash(root):
    assume("\x00" not in root)
    try:
        layout = Layout(root)
    except ValueError:
        return
    assert layout.root.startswith("/") and layout.root != "/"
    assert posixpath.normpath(layout.root) == layout.root
    assert layout.beside("leases") != layout.root


@pytest.mark.parametrize("name", ["svc", "a.b:c-d_e", "x" * 128])
def test_the_name_rule_accepts_what_the_contract_allows(name):
    assert Layout().service(name) == "/soa/services/" + name


# -- full Unicode over every write ----------------------------------------------------

# Any code point, lone surrogates included (JSON's "\ud800"), which a client can
# send as an escape although no UTF-8 writer can store it.
any_text = st.text(st.characters(exclude_categories=()) | st.characters(categories=["Cs"]), max_size=12)
_INSTANCE = {"serviceName": "svc", "ip": "10.0.0.1", "port": 8080, "namespace": "default", "cluster": "DEFAULT_CLUSTER"}
_DISCOVERY = {"zone": "sh001", "env": "uat", "appid": "svc", "hostname": "host-1", "key": OPS}
_RULE = {"service": "svc", "namespace": "default"}
# (dialect, method, path, body); each body is valid as it stands
WRITES = [
    ("admin", "POST", "/addservice", {"destName": "svc", "key": OPS}),
    ("admin", "POST", "/addserver", {"destName": "svc", "serverHost": "10.0.0.1", "serverPort": "80", "key": OPS}),
    ("admin", "POST", "/delserver", {"destName": "svc", "serverKey": "member_0000009999", "key": OPS}),
    ("admin", "POST", "/delservice", {"destName": "gone", "key": OPS}),
    (
        "discovery",
        "POST",
        "/discovery/register",
        {
            **_DISCOVERY,
            "addrs": ["http://10.0.0.1:80"],
            "status": 1,
            "color": "red",
            "version": "1",
            "metadata": {"k": "v"},
        },
    ),
    ("discovery", "POST", "/discovery/renew", _DISCOVERY),
    ("discovery", "POST", "/discovery/cancel", dict(_DISCOVERY, hostname="host-2")),
    (
        "polaris",
        "POST",
        "/naming/v1/services",
        [
            {
                "name": "svc",
                "namespace": "default",
                "comment": "c",
                "business": "b",
                "department": "d",
                "metadata": {"k": "v"},
            }
        ],
    ),
    (
        "polaris",
        "PUT",
        "/naming/v1/services",
        [{"name": "svc", "namespace": "default", "comment": "c2", "metadata": {"k": "w"}}],
    ),
    ("polaris", "POST", "/naming/v1/services/delete", [{"name": "gone", "namespace": "default"}]),
    (
        "polaris",
        "POST",
        "/naming/v1/routings",
        [
            {
                **_RULE,
                "inbounds": [
                    {
                        "sources": [
                            {"service": "*", "namespace": "*", "metadata": {"env": {"type": "EXACT", "value": "gray"}}}
                        ],
                        "destinations": [{"metadata": {"v": {"value": "2"}}, "weight": 100}],
                    }
                ],
                "outbounds": [],
            }
        ],
    ),
    (
        "polaris",
        "POST",
        "/naming/v1/ratelimits",
        [
            {
                **_RULE,
                "name": "per-second",
                "type": "LOCAL",
                "amounts": [{"maxAmount": 100, "validDuration": "1s"}],
                "method": {"type": "EXACT", "value": "/buy"},
            }
        ],
    ),
    (
        "polaris",
        "POST",
        "/naming/v1/circuitbreakers",
        [
            {
                **_RULE,
                "name": "cb",
                "inbounds": [{"sources": [{"service": "*"}], "destinations": [{"resource": "INSTANCE"}]}],
            }
        ],
    ),
    ("instance", "POST", "/api/instance", _INSTANCE),
    ("instance", "PUT", "/api/instance/beat", _INSTANCE),
    ("instance", "PUT", "/api/instance/status", {**_INSTANCE, "status": "HEALTHY"}),
    ("instance", "DELETE", "/api/instance", dict(_INSTANCE, port=8081)),
]


def _slots(doc, path=()):
    """Paths to every string in ``doc``, and to a new key in every object."""
    if isinstance(doc, str):
        yield path
    elif isinstance(doc, dict):
        yield path + (None,)
        for name, value in doc.items():
            yield from _slots(value, path + (name,))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from _slots(value, path + (index,))


def _with(doc, path, name, text):
    """A copy of ``doc`` with ``text`` at ``path`` (a new key ``name`` where the path ends in None)."""
    doc = json.loads(json.dumps(doc))
    *inside, last = path
    parent = doc
    for step in inside:
        parent = parent[step]
    if last is None:
        parent[name] = text
    else:
        parent[last] = text
    return doc


def _answered_in_envelope(dialect, answer):
    """(HTTP status, the dialect's own code) after checking the answer's shape."""
    if dialect == "instance":
        assert answer.mimetype in ("text/plain", "application/json"), answer.data[:200]
        return answer.status_code, answer.status_code
    doc = answer.get_json(silent=True)
    assert isinstance(doc, dict), answer.data[:200]
    if dialect == "discovery":
        assert answer.status_code == 200 and set(doc) >= {"code", "message"}
    elif dialect == "polaris":
        assert answer.status_code == doc["code"] // 1000 and "info" in doc
    else:
        assert doc["code"] in (0, 1) and (doc["code"] == 1) == (answer.status_code == 200)
    return answer.status_code, doc["code"]


def _stored_strictly(zk, path):
    """Every znode under ``path`` is UTF-8, and under services and rules strict JSON."""
    data, _ = zk.get(path)
    text = data.decode("utf-8")  # strict: a surrogate would raise here
    if text and ("/soa/services/" in path or "/soa/rules/" in path):
        json.loads(text, parse_constant=lambda c: pytest.fail("%s holds %s" % (path, c)))
    for child in zk.get_children(path):
        _stored_strictly(zk, "%s/%s" % (path, child))


@pytest.mark.parametrize("dialect, method, path, template", WRITES, ids=[w[2] + " " + w[1] for w in WRITES])
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data(), text=any_text, name=any_text)
@example(data=None, text="\ud800", name="k")
def test_any_unicode_in_any_write_is_stored_or_refused_in_the_dialect(
    client, zk, chroot, dialect, method, path, template, data, text, name
):
    slots = list(_slots(template))
    where = (
        data.draw(st.sampled_from(slots))
        if data is not None
        else ("metadata", "k")
        if ("metadata", "k") in slots
        else slots[0]
    )
    body = _with(template, where, name, text)
    surrogate = any(0xD800 <= ord(c) <= 0xDFFF for c in text + (name if where[-1] is None else ""))
    if dialect == "discovery" and "metadata" in body:
        body["metadata"] = json.dumps(body["metadata"])  # a JSON text parameter, itself escaped
    headers = {"X-Polaris-Token": OPS} if dialect == "polaris" else {"X-Api-Key": OPS} if dialect == "instance" else {}
    raw = json.dumps(body)  # ensure_ascii: a lone surrogate travels as its \ud800 escape
    answer = client.open(path, method=method, data=raw, content_type="application/json", headers=headers)
    status, code = _answered_in_envelope(dialect, answer)
    assert status < 500 and code not in (-500,) and not (dialect == "polaris" and code >= 500000), answer.data[:300]
    if surrogate:
        assert (status, code) in ((400, 0), (200, -400), (400, 400001), (400, 400)), answer.data[:300]
    _stored_strictly(zk, chroot + "/qa")
