"""Bad input across every dialect, against a real gateway process: oversized
bodies, deep JSON, huge metadata, unicode and path tricks in names,
duplicate parameters. Each is answered with a clear client error in the
dialect's own envelope, and nothing is written (the znode trees of every
zkidc are the same before and after)."""

import http.client
import json
import socket
import urllib.parse

import pytest

from tests.conftest import OPS
from tests.fault_helpers import Answer, call, registry_state

MiB = 1 << 20
ADMIN = {"key": OPS}
POLARIS = {"X-Polaris-Token": OPS}
INSTANCE = {"X-Api-Key": OPS}
REGISTER = {
    "zone": "z1",
    "env": "uat",
    "appid": "demo.svc",
    "hostname": "h9",
    "addrs": "http://10.0.0.9:80",
    "status": "1",
    "key": OPS,
}
NEW_INSTANCE = {"serviceName": "demo.svc", "ip": "10.0.0.9", "port": 8080}


def deep(depth, leaf="1"):
    return "[" * depth + leaf + "]" * depth


def raw_json(text):
    """A JSON body sent as written (deep, repeated keys ...)."""
    return {"json_text": text}


def names_cases():
    """Names that break the contract's rule, including path tricks and unicode."""
    return [
        "..",
        ".",
        "a/b",
        "../x",
        "/abs",
        "%2F",
        "%2e%2e",
        "a%2Fb",
        "x" * 129,
        "服务",
        "ｓｖｃ",
        "a\x00b",
        "a b",
        "",
    ]


# (id, dialect, method, path, call keywords)
CASES = []


def case(case_id, dialect, method, path, json_text=None, **kwargs):
    if json_text is not None:
        kwargs["body"] = json_text.encode()
        kwargs["headers"] = {**kwargs.get("headers", {}), "Content-Type": "application/json"}
    CASES.append(pytest.param(dialect, method, path, kwargs, id=case_id))


# -- oversized bodies (over 1 MiB) --------------------------------------------------------
case(
    "admin body 2 MiB",
    "admin",
    "POST",
    "/addservice",
    params=ADMIN,
    form={"destName": "big.svc", "pad": "x" * (2 * MiB)},
)
case("discovery body 2 MiB", "discovery", "POST", "/discovery/register", form={**REGISTER, "pad": "x" * (2 * MiB)})
case(
    "polaris body 2 MiB",
    "polaris",
    "POST",
    "/naming/v1/services",
    headers=POLARIS,
    body=[{"name": "big.svc", "comment": "x" * (2 * MiB)}],
)
case(
    "instance body 2 MiB",
    "instance",
    "POST",
    "/api/instance",
    headers=INSTANCE,
    body={**NEW_INSTANCE, "pad": "x" * (2 * MiB)},
)
# ... and writes that would make a znode larger than ZooKeeper takes (its limit drops the connection)
case(
    "discovery addr of 700 KiB",
    "discovery",
    "POST",
    "/discovery/register",
    form={**REGISTER, "addrs": "a" * (700 << 10) + "://10.0.0.9:80"},
)
case(
    "discovery 64 addrs of 14 KiB",
    "discovery",
    "POST",
    "/discovery/register",
    form={**REGISTER, "addrs": ["x%s%d://10.0.0.9:80" % ("y" * 14000, n) for n in range(64)]},
)
case(
    "polaris routing of 800 KiB",
    "polaris",
    "POST",
    "/naming/v1/routings",
    headers=POLARIS,
    body=[{"service": "polaris.svc", "inbounds": [{"sources": "x" * (800 << 10)}]}],
)

# -- deep JSON ------------------------------------------------------------------------------
for depth in (40, 5000, 100_000):
    case(
        "admin json depth %d" % depth,
        "admin",
        "POST",
        "/addservice",
        params=ADMIN,
        **raw_json('{"destName": "deep.svc", "pad": %s}' % deep(depth)),
    )
    case(
        "discovery json depth %d" % depth,
        "discovery",
        "POST",
        "/discovery/register",
        **raw_json(
            '{"zone": "z1", "env": "uat", "appid": "deep.svc", "hostname": "h", "addrs": "http://10.0.0.1:80", '
            '"status": 1, "key": "%s", "pad": %s}' % (OPS, deep(depth))
        ),
    )
    case(
        "discovery metadata depth %d" % depth,
        "discovery",
        "POST",
        "/discovery/register",
        form={**REGISTER, "metadata": '{"a": %s}' % deep(depth)},
    )
    case(
        "polaris create depth %d" % depth,
        "polaris",
        "POST",
        "/naming/v1/services",
        headers=POLARIS,
        **raw_json('[{"name": "deep.svc", "metadata": %s}]' % deep(depth, '{"k": "v"}')),
    )
    case(
        "polaris routing depth %d" % depth,
        "polaris",
        "POST",
        "/naming/v1/routings",
        headers=POLARIS,
        **raw_json('[{"service": "polaris.svc", "inbounds": [{"sources": %s}]}]' % deep(depth)),
    )
    case(
        "polaris discover depth %d" % depth,
        "polaris",
        "POST",
        "/v1/Discover",
        headers=POLARIS,
        **raw_json('{"type": 1, "service": {"name": "polaris.svc", "metadata": %s}}' % deep(depth)),
    )
    case(
        "instance json depth %d" % depth,
        "instance",
        "POST",
        "/api/instance",
        headers=INSTANCE,
        **raw_json('{"serviceName": "deep.svc", "ip": "10.0.0.1", "port": 80, "metadata": %s}' % deep(depth)),
    )

# -- huge metadata ----------------------------------------------------------------------------
case(
    "discovery metadata 65 keys",
    "discovery",
    "POST",
    "/discovery/register",
    form={**REGISTER, "metadata": json.dumps({"k%d" % n: "v" for n in range(65)})},
)
case(
    "discovery metadata value 5000",
    "discovery",
    "POST",
    "/discovery/register",
    form={**REGISTER, "metadata": json.dumps({"k": "v" * 5000})},
)
case(
    "discovery metadata key 200",
    "discovery",
    "POST",
    "/discovery/register",
    form={**REGISTER, "metadata": json.dumps({"k" * 200: "v"})},
)
case(
    "discovery metadata not an object",
    "discovery",
    "POST",
    "/discovery/register",
    form={**REGISTER, "metadata": "[1, 2]"},
)
case(
    "polaris metadata 65 pairs",
    "polaris",
    "POST",
    "/naming/v1/services",
    headers=POLARIS,
    body=[{"name": "meta.svc", "metadata": {"k%d" % n: "v" for n in range(65)}}],
)
case(
    "polaris metadata value 5000",
    "polaris",
    "PUT",
    "/naming/v1/services",
    headers=POLARIS,
    body=[{"name": "polaris.svc", "metadata": {"k": "v" * 5000}}],
)
case(
    "polaris comment 2000",
    "polaris",
    "PUT",
    "/naming/v1/services",
    headers=POLARIS,
    body=[{"name": "polaris.svc", "comment": "c" * 2000}],
)

# -- lone surrogates (JSON's "\ud800"): no UTF-8 writer can store one ---------------------------
case(
    "discovery metadata lone surrogate",
    "discovery",
    "POST",
    "/discovery/register",
    form={**REGISTER, "metadata": '{"k": "\\ud800"}'},
)
case(
    "discovery json lone surrogate",
    "discovery",
    "POST",
    "/discovery/register",
    **raw_json(json.dumps({**REGISTER, "color": "\udfff"})),
)
case(
    "admin json lone surrogate",
    "admin",
    "POST",
    "/addservice",
    params=ADMIN,
    **raw_json('{"destName": "s.svc", "note": "\\udc00"}'),
)
case(
    "polaris comment lone surrogate",
    "polaris",
    "PUT",
    "/naming/v1/services",
    headers=POLARIS,
    **raw_json('[{"name": "polaris.svc", "comment": "a\\ud800b"}]'),
)
case(
    "polaris metadata key lone surrogate",
    "polaris",
    "POST",
    "/naming/v1/services",
    headers=POLARIS,
    **raw_json('[{"name": "s.svc", "metadata": {"\\ud800": "v"}}]'),
)
case(
    "instance lone surrogate",
    "instance",
    "POST",
    "/api/instance",
    headers=INSTANCE,
    **raw_json('{"serviceName": "demo.svc", "ip": "10.0.0.1", "port": 80, "metadata": {"k": "\\ud800"}}'),
)

# -- names: unicode and path tricks -------------------------------------------------------------
for n, name in enumerate(names_cases()):
    case("admin addservice name %d" % n, "admin", "POST", "/addservice", params={**ADMIN, "destName": name})
    case(
        "admin addserver name %d" % n,
        "admin",
        "POST",
        "/addserver",
        params={**ADMIN, "destName": name, "serverHost": "10.0.0.1", "serverPort": "80"},
    )
    case(
        "discovery register appid %d" % n, "discovery", "POST", "/discovery/register", form={**REGISTER, "appid": name}
    )
    case("polaris create name %d" % n, "polaris", "POST", "/naming/v1/services", headers=POLARIS, body=[{"name": name}])
    case(
        "polaris routing service %d" % n,
        "polaris",
        "POST",
        "/naming/v1/routings",
        headers=POLARIS,
        body=[{"service": name}],
    )
    case(
        "instance register service %d" % n,
        "instance",
        "POST",
        "/api/instance",
        headers=INSTANCE,
        body={**NEW_INSTANCE, "serviceName": name},
    )
    case(
        "instance register cluster %d" % n,
        "instance",
        "POST",
        "/api/instance",
        headers=INSTANCE,
        body={**NEW_INSTANCE, "cluster": name or "."},
    )
for n, key in enumerate(["../member_0000000000", "member_/../x", "member_..%2F", "x", "member_\u00e9"]):
    case(
        "admin delserver key %d" % n,
        "admin",
        "POST",
        "/delserver",
        params={**ADMIN, "destName": "demo.svc", "serverKey": key},
    )
case(
    "admin unicode host",
    "admin",
    "POST",
    "/addserver",
    params={**ADMIN, "destName": "demo.svc", "serverHost": "主机", "serverPort": "80"},
)
case(
    "polaris unicode namespace",
    "polaris",
    "POST",
    "/naming/v1/services",
    headers=POLARIS,
    body=[{"name": "ns.svc", "namespace": "命名"}],
)
case(
    "instance unicode ip",
    "instance",
    "POST",
    "/api/instance",
    headers=INSTANCE,
    body={**NEW_INSTANCE, "ip": "１０.0.0.1"},
)
# path tricks in the URL itself: never routed to another dialect's write (a %2F is a
# plain "/" once the server has decoded the path, as WSGI wants: /addservice%2F is /addservice/)
for path in (
    "/discovery/../addservice",
    "/discovery/%2e%2e/addservice",
    "/discovery/..%2Faddservice",
    "/discovery/register/..",
):
    case("discovery url %s" % path, "discovery", "POST", path, params={**ADMIN, "destName": "url.svc"}, form=REGISTER)
for path in ("/api/instance/../../addservice", "/api/instance/%2e%2e", "/api/instance%2Fbeat"):
    case(
        "instance url %s" % path,
        "instance",
        "POST",
        path,
        params={**ADMIN, "destName": "url.svc"},
        headers=INSTANCE,
        body=NEW_INSTANCE,
    )
for path in ("/naming/v1/services/..", "/naming/v1/../../addservice", "/v1/%2e%2e/Discover"):
    case(
        "polaris url %s" % path,
        "polaris",
        "POST",
        path,
        params={**ADMIN, "destName": "url.svc"},
        headers=POLARIS,
        body=[{"name": "url.svc"}],
    )
for path in ("/addservice/..", "/%2e%2e/addservice", "/./addservice/x"):
    case("admin url %s" % path, "admin", "POST", path, params={**ADMIN, "destName": "url.svc"})

# -- duplicate parameters -------------------------------------------------------------------------
case("admin destName twice", "admin", "POST", "/addservice?destName=dup.a&destName=dup.b", params=ADMIN)
case(
    "admin destName in query and body",
    "admin",
    "POST",
    "/addservice?destName=dup.a",
    params=ADMIN,
    form={"destName": "dup.b"},
)
case(
    "admin destName in query and json",
    "admin",
    "POST",
    "/addservice?destName=dup.a",
    params=ADMIN,
    body={"destName": "dup.b"},
)
case(
    "admin serverPort twice",
    "admin",
    "POST",
    "/addserver?serverPort=80&serverPort=81",
    params={**ADMIN, "destName": "demo.svc", "serverHost": "10.0.0.7"},
)
case("discovery appid twice", "discovery", "POST", "/discovery/register?appid=dup.a", form=REGISTER)
case(
    "discovery hostname twice", "discovery", "POST", "/discovery/register", form={**REGISTER, "hostname": ["h1", "h2"]}
)
case(
    "discovery cancel zone twice",
    "discovery",
    "POST",
    "/discovery/cancel",
    form={"zone": ["z1", "z2"], "env": "uat", "appid": "demo.svc", "hostname": "h1", "key": OPS},
)
case(
    "polaris duplicate json key",
    "polaris",
    "POST",
    "/naming/v1/services",
    headers=POLARIS,
    **raw_json('[{"name": "dup.a", "name": "dup.b"}]'),
)
case(
    "polaris delete duplicate json key",
    "polaris",
    "POST",
    "/naming/v1/services/delete",
    headers=POLARIS,
    **raw_json('[{"name": "polaris.svc", "name": "nothing.here"}]'),
)
case(
    "instance duplicate json key",
    "instance",
    "POST",
    "/api/instance",
    headers=INSTANCE,
    **raw_json('{"serviceName": "dup.a", "serviceName": "dup.b", "ip": "10.0.0.1", "port": 80}'),
)
case(
    "instance deregister duplicate json key",
    "instance",
    "DELETE",
    "/api/instance",
    headers=INSTANCE,
    **raw_json('{"serviceName": "demo.svc", "ip": "10.0.0.3", "ip": "10.0.0.4", "port": 8080}'),
)

# -- NaN and Infinity: not JSON, and a member holding one is dropped by Jackson-based readers ----------
for n, number in enumerate(("NaN", "Infinity", "-Infinity", "1e999")):
    case(
        "admin json %s" % number,
        "admin",
        "POST",
        "/addservice",
        params=ADMIN,
        **raw_json('{"destName": "nan%d.svc", "pad": %s}' % (n, number)),
    )
    case(
        "discovery json %s" % number,
        "discovery",
        "POST",
        "/discovery/register",
        **raw_json(
            '{"zone": "z1", "env": "uat", "appid": "nan%d.svc", "hostname": "h", "addrs": "http://10.0.0.1:80", '
            '"status": 1, "key": "%s", "pad": %s}' % (n, OPS, number)
        ),
    )
    case(
        "discovery metadata %s" % number,
        "discovery",
        "POST",
        "/discovery/register",
        form={**REGISTER, "appid": "nan%d.svc" % n, "metadata": '{"weight": %s}' % number},
    )
    case(
        "polaris create %s" % number,
        "polaris",
        "POST",
        "/naming/v1/services",
        headers=POLARIS,
        **raw_json('[{"name": "nan%d.svc", "metadata": {"k": "v"}, "pad": %s}]' % (n, number)),
    )
    case(
        "polaris discover %s" % number,
        "polaris",
        "POST",
        "/v1/Discover",
        headers=POLARIS,
        **raw_json('{"type": 1, "service": {"name": "polaris.svc"}, "pad": %s}' % number),
    )
    case(
        "instance json %s" % number,
        "instance",
        "POST",
        "/api/instance",
        headers=INSTANCE,
        **raw_json('{"serviceName": "nan%d.svc", "ip": "10.0.0.1", "port": 80, "weight": %s}' % (n, number)),
    )

# -- plain malformed bodies ---------------------------------------------------------------------------
for dialect, method, path, headers in (
    ("admin", "POST", "/addservice?key=" + OPS, {}),
    ("discovery", "POST", "/discovery/register?key=" + OPS, {}),
    ("polaris", "POST", "/naming/v1/services", POLARIS),
    ("polaris", "POST", "/v1/Discover", POLARIS),
    ("instance", "POST", "/api/instance", INSTANCE),
):
    for n, text in enumerate(['{"destName": ', "\xff\xfe", "[1, 2", "NaN", '"\\ud800"', "{" * 3000]):
        case(
            "%s %s malformed %d" % (dialect, path.split("?")[0], n),
            dialect,
            method,
            path,
            body=text.encode("utf-8", "surrogateescape"),
            headers={**headers, "Content-Type": "application/json"},
        )


@pytest.fixture(scope="module")
def prefix(own_gateway):
    return own_gateway[1]


@pytest.fixture(scope="module")
def gw(own_gateway):
    process = own_gateway[0]
    # Something to touch: a service with a server and an instance, a Polaris service.
    assert call(process.url, "POST", "/addservice", params={**ADMIN, "destName": "demo.svc"}).json["code"] == 1
    assert (
        call(
            process.url,
            "POST",
            "/addserver",
            params={**ADMIN, "destName": "demo.svc", "serverHost": "10.0.0.1", "serverPort": 80},
        ).json["code"]
        == 1
    )
    assert call(process.url, "POST", "/discovery/register", form={**REGISTER, "hostname": "h1"}).json["code"] == 0
    assert (
        call(process.url, "POST", "/api/instance", headers=INSTANCE, body={**NEW_INSTANCE, "ip": "10.0.0.3"}).text
        == "success"
    )
    assert (
        call(process.url, "POST", "/naming/v1/services", headers=POLARIS, body=[{"name": "polaris.svc"}]).json["code"]
        == 200000
    )
    return process


def client_error(dialect, answer):
    """A client error in the dialect's envelope, with a message and no traceback."""
    assert b"Traceback" not in answer.body and b"<html" not in answer.body.lower()
    if dialect == "discovery":  # HTTP 200, but 413 for what is too large to take
        assert answer.content_type == "application/json"
        doc = answer.json
        assert (
            (answer.status, doc["code"]) in ((200, -400), (200, -404), (413, -413))
            and doc["message"]
            and doc["ttl"] == 1
        )
        return doc["message"]
    assert 400 <= answer.status < 500
    if dialect == "admin":
        assert answer.content_type == "application/json"
        assert answer.json["code"] == 0 and answer.json["reason"]
        return answer.json["reason"]
    if dialect == "polaris":
        assert answer.content_type == "application/json"
        doc = answer.json
        assert doc["code"] // 1000 == answer.status and doc["info"]
        return doc["info"] + " " + " ".join(r["info"] for r in doc.get("responses", []))
    assert answer.content_type == "text/plain" and answer.text.strip()
    return answer.text


@pytest.mark.parametrize("dialect, method, path, kwargs", CASES)
def test_bad_input_is_a_clear_client_error_and_writes_nothing(gw, zk, prefix, dialect, method, path, kwargs):
    before = registry_state(zk, prefix)
    answer = call(gw.url, method, path, **kwargs)
    message = client_error(dialect, answer)
    assert len(message) < 2000
    assert registry_state(zk, prefix) == before


@pytest.mark.parametrize("name", ["too-deep", "duplicate", "too-large", "surrogate"])
def test_the_messages_say_what_is_wrong(gw, name):
    if name == "surrogate":
        answer = call(gw.url, "POST", "/discovery/register", form={**REGISTER, "metadata": '{"k": "\\ud800"}'})
        assert answer.json["code"] == -400 and 'lone surrogate "\\ud800"' in answer.json["message"]
    elif name == "too-deep":
        answer = call(
            gw.url,
            "POST",
            "/api/instance",
            headers={**INSTANCE, "Content-Type": "application/json"},
            body=('{"a": %s}' % deep(40)).encode(),
        )
        assert answer.status == 400 and "nests deeper than" in answer.text
    elif name == "duplicate":
        answer = call(gw.url, "POST", "/addservice?destName=a.b&destName=c.d", params=ADMIN)
        assert (
            answer.status == 400 and "destName" in answer.json["reason"] and "different values" in answer.json["reason"]
        )
    else:
        answer = call(
            gw.url, "POST", "/discovery/register", form={**REGISTER, "addrs": "a" * (700 << 10) + "://10.0.0.9:80"}
        )
        assert (answer.status, answer.json["code"]) == (413, -413) and "too large" in answer.json["message"]


def _chunked(url, path, body, headers):
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", path, body=iter([body[:10], body[10:]]), headers=headers, encode_chunked=True)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def test_a_chunked_json_body_is_read_like_a_sized_one(gw):
    """Clients that stream their body send no Content-Length."""
    doc = json.dumps({"type": 1, "service": {"name": "polaris.svc", "namespace": "default"}}).encode()
    status, body = _chunked(gw.url, "/v1/Discover", doc, {**POLARIS, "Content-Type": "application/json"})
    assert status == 200 and json.loads(body)["code"] == 200000
    status, body = _chunked(
        gw.url,
        "/v1/Discover",
        json.dumps({"pad": "x" * (2 * MiB)}).encode(),
        {**POLARIS, "Content-Type": "application/json"},
    )
    assert 400 <= status < 500 and json.loads(body)["code"] // 1000 == status


def test_the_same_value_twice_is_not_a_conflict(gw, zk, prefix):
    """The key in the query string and in the body, or a parameter repeated as is."""
    answer = call(gw.url, "POST", "/addservice?destName=same.svc&key=" + OPS, form={"destName": "same.svc", "key": OPS})
    assert answer.json["code"] == 1
    assert zk.exists("%s/qa/soa/services/same.svc" % prefix)


def test_after_all_that_the_gateway_still_serves(gw):
    assert call(gw.url, "GET", "/readyz").status == 200
    answer = call(
        gw.url, "GET", "/discovery/fetch", params={"appid": "demo.svc", "env": "uat", "status": 3, "key": OPS}
    )
    assert answer.json["code"] == 0 and "stale" not in answer.json["data"]


def test_a_fetch_of_many_appids_fits_in_one_request_line(gw):
    """GET request lines up to 8190 bytes (gunicorn's default is 4094): the Go
    SDK polls every appid it follows in one GET."""
    appids = ["demo.svc"] + ["some.application.name.%03d" % n for n in range(130)]
    query = "&".join("appid=%s&latest_timestamp=0" % a for a in appids)
    assert 6000 < len(query) < 8000
    answer = call(gw.url, "GET", "/discovery/polls?env=uat&key=%s&%s" % (OPS, query))
    assert answer.status == 200 and answer.json["code"] == 0 and list(answer.json["data"]) == ["demo.svc"]


# -- refused before reading: bodies over 1 MiB, request lines over the limit, unknown paths ------------

# dialect -> (a path of it, how its envelope looks: HTTP status -> its code)
DIALECTS = {
    "admin": ("/addservice", lambda status: 0),
    "discovery": ("/discovery/register", lambda status: -status),
    "polaris": ("/naming/v1/services", lambda status: status * 1000),
    "instance": ("/api/instance", None),  # plain text
}


def _envelope(dialect, answer):
    """(HTTP status, code, message) of an answer in ``dialect``'s own shape."""
    assert b"<html" not in answer.body.lower() and b"Traceback" not in answer.body
    if dialect == "instance":
        assert answer.content_type == "text/plain"
        return answer.status, None, answer.text
    assert answer.content_type == "application/json"
    doc = answer.json
    message = {"admin": "reason", "discovery": "message", "polaris": "info"}[dialect]
    return answer.status, doc["code"], doc[message]


def _raw(url, head):
    """Send a request head (no body) and read the answer until the server closes."""
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as conn:
        conn.sendall(head)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return Answer(int(lines[0].split()[1]), headers, body, 0.0)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_body_over_1_mib_is_413_in_the_dialect_answered_unread(gw, zk, prefix, dialect):
    """Only the head is sent: the answer comes from Content-Length alone, and
    the connection is closed rather than the body read."""
    path, code_of = DIALECTS[dialect]
    before = registry_state(zk, prefix)
    head = (
        "POST %s?key=%s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nX-Api-Key: %s\r\n"
        "X-Polaris-Token: %s\r\nContent-Length: %d\r\n\r\n" % (path, OPS, OPS, OPS, 2 * MiB)
    ).encode()
    status, code, message = _envelope(dialect, _raw(gw.url, head))
    assert status == 413 and (code_of is None or code == code_of(413)), message
    assert "1048576 bytes" in message
    assert registry_state(zk, prefix) == before


def test_a_client_still_sending_a_refused_body_reads_its_413_not_a_reset(gw):
    """A client that sends its whole body before reading (Python's http.client,
    most SDKs) must still get the 413: the worker answers from Content-Length,
    then reads and drops the rest of the body before it closes. Closing with
    the body unread makes the kernel reset the connection, and the client
    sees "connection reset" or "broken pipe" instead of the answer."""
    parts = urllib.parse.urlsplit(gw.url)
    head = (
        "POST /discovery/register HTTP/1.1\r\nHost: t\r\nX-Api-Key: %s\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % (OPS, 2 * MiB)
    ).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as conn:
        conn.sendall(head)
        answer = b""
        while not answer.endswith(b"}\n") and (chunk := conn.recv(65536)):
            answer += chunk  # the answer comes before any of the body is sent
        assert answer.startswith(b"HTTP/1.1 413 ") and answer.endswith(b"}\n")
        conn.sendall(b"x" * (2 * MiB))  # the body anyway: no reset, no broken pipe
        rest = b""
        while chunk := conn.recv(65536):  # then an orderly close (EOF), not a reset
            rest += chunk
        assert rest == b""


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_request_line_over_the_limit_is_414_in_the_dialect(gw, dialect):
    path, code_of = DIALECTS[dialect]
    answer = call(gw.url, "GET", path + "?pad=" + "x" * 9000)
    status, code, message = _envelope(dialect, answer)
    assert status == 414 and (code_of is None or code == code_of(414)), message
    assert "8190 bytes" in message
    assert call(gw.url, "GET", "/readyz").status == 200


@pytest.mark.parametrize(
    "dialect, path",
    [
        ("admin", "/nope"),
        ("discovery", "/discovery/nope"),
        ("polaris", "/naming/v1/nope"),
        ("instance", "/api/instance/nope"),
    ],
)
def test_an_unknown_path_gets_a_plain_message_in_the_dialect(gw, dialect, path):
    status, _, message = _envelope(dialect, call(gw.url, "GET", path, headers={"X-Api-Key": OPS}))
    assert status in (200, 400, 404)
    assert message.endswith("no endpoint GET %s" % path) and "browser" not in message and "manually" not in message
