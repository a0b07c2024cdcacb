"""The ServerSet codec and the name rules, as pure units."""

import json

import pytest

from zk import codec
from zk.errors import InvalidName
from zk.paths import Layout, check_service


def test_encode_is_serverset_json_and_round_trips():
    member = codec.Member(
        "10.0.0.3", 8080, codec.ALIVE, {"grpc": ("10.0.0.3", 9000)}, {"weight": "10"}, 0, {"zone": "sh001"}
    )
    doc = json.loads(codec.encode(member))
    assert doc == {
        "serviceEndpoint": {"host": "10.0.0.3", "port": 8080},
        "additionalEndpoints": {"grpc": {"host": "10.0.0.3", "port": 9000}},
        "status": "ALIVE",
        "shard": 0,
        "metadata": {"weight": "10"},
        "instance": {"zone": "sh001"},
    }
    assert codec.decode(codec.encode(member)) == member
    assert codec.encode(member) == codec.encode(codec.decode(codec.encode(member)))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe",
        b"null",
        b"[]",
        b"42",
        b'"x"',
        b"{}",
        b'{"serviceEndpoint": 1}',
        b'{"serviceEndpoint": {"host": "", "port": 1}}',
        b'{"serviceEndpoint": {"host": "h", "port": 0}}',
        b'{"serviceEndpoint": {"host": "h", "port": true}}',
        b"not json at all",
        b"{" * 5000,
    ],
)
def test_decode_never_raises_on_foreign_data(data):
    assert codec.decode(data) is None


def test_decode_is_lenient_with_what_other_writers_do_but_routes_as_serverset_readers():
    plain = codec.decode(b"10.0.0.1:80")
    assert (plain.host, plain.port, plain.status, plain.alive) == ("10.0.0.1", 80, None, False)
    odd = codec.decode(
        b'{"serviceEndpoint": {"host": "h", "port": "81"}, "status": "WEIRD", "metadata": {"w": 10}, "shard": "x"}'
    )
    assert (odd.port, odd.status, odd.metadata, odd.shard, odd.alive) == (81, "WEIRD", {"w": "10"}, None, False)
    string_port = codec.decode(b'{"serviceEndpoint": {"host": "h", "port": "81"}, "status": "ALIVE"}')
    assert (string_port.port, string_port.status, string_port.alive) == (81, "ALIVE", False)
    silent = codec.decode(b'{"serviceEndpoint": {"host": "h", "port": 1}}')
    assert (silent.status, silent.alive) == (None, False)
    assert codec.decode(b'{"serviceEndpoint": {"host": "h", "port": 1}, "status": "ALIVE"}').alive


@pytest.mark.parametrize(
    "host, spelled",
    [
        ("10.0.0.1", "10.0.0.1"),
        ("::1", "::1"),
        ("fe80:0::0001", "fe80::1"),
        ("a.example.com", "a.example.com"),
        ("localhost", "localhost"),
        ("svc-1.internal", "svc-1.internal"),
        ("1a.example.", "1a.example."),
    ],
)
def test_valid_hosts(host, spelled):
    assert codec.check_host(host) == spelled


@pytest.mark.parametrize(
    "host",
    [
        "",
        None,
        "a b",
        "-a.com",
        "a-.com",
        "a..b",
        "x" * 300,
        "a" * 64 + ".com",
        "http://a",
        "a/b",
        "10.0.0.1:80",
        "svc_1.internal",
        "my_host",
        "10.0.0.256",
        "1.2.3",
        "123",
        "\ud800.com",
    ],
)
def test_invalid_hosts(host):
    with pytest.raises(InvalidName):
        codec.check_host(host)


@pytest.mark.parametrize("name", ["ip2city.http", "a", "A-Z_0.9:x", "x" * 128])
def test_valid_service_names(name):
    assert check_service(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "/a", "a\x00", "x" * 129, "é", "a b", None, 5])
def test_invalid_service_names(name):
    with pytest.raises(InvalidName):
        check_service(name)


def test_layout_keeps_bookkeeping_beside_the_services():
    layout = Layout("/soa/services/")
    assert layout.root == "/soa/services"
    assert layout.service("a") == "/soa/services/a"
    assert layout.member("a", "member_0000000001") == "/soa/services/a/member_0000000001"
    assert layout.beside("leases") == "/soa/leases"
    with pytest.raises(InvalidName):
        layout.member("a", "../../zookeeper")
    with pytest.raises(ValueError):
        Layout("/")


@pytest.mark.parametrize("root", ["/soa/leases", "rules", "/x/gateway/"])
def test_a_services_root_named_as_the_bookkeeping_beside_it_is_refused(root):
    """Its services would share a node with the leases, rules or replicas."""
    with pytest.raises(ValueError, match="cannot be named"):
        Layout(root)


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
def test_members_and_attributes_are_never_written_with_nan_or_infinity(number):
    with pytest.raises(ValueError):
        codec.encode(codec.Member("10.0.0.1", 80, instance={"weight": number}))
    with pytest.raises(ValueError):
        codec.encode_attributes({"ports": number})


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_member_holding_nan_or_infinity_is_unreadable_as_for_jackson(number):
    data = (
        '{"serviceEndpoint": {"host": "10.0.0.1", "port": 80}, "additionalEndpoints": {}, '
        '"status": "ALIVE", "instance": {"weight": %s}}' % number
    ).encode()
    assert codec.decode(data) is None
    assert codec.decode_attributes(('{"ports": %s}' % number).encode()) == {}
