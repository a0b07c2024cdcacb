"""The ops commands of `soa-gateway` against a real gateway process: what an
operator types, what a script reads (--json), and the exit codes."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import KEYS, OPS
from tests.discovery_helpers import http
from zk.server import free_port


def cli(gw, *argv, key=OPS, stdin=""):
    """Run `soa-gateway ARGV` against ``gw``; (exit code, stdout, stderr)."""
    env = {**os.environ, "SOA_GATEWAY_URL": gw.url, "SOA_GATEWAY_KEY": key}
    env.pop("SOA_GATEWAY_ZKIDC", None)
    result = subprocess.run(
        [sys.executable, "-m", "gateway", *argv], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout, result.stderr


def rows(text):
    """A printed table as lists of cells, header first."""
    return [line.split() for line in text.strip().splitlines()]


def member(zk, prefix, service, key, zkidc="qa"):
    return json.loads(zk.get("%s/%s/soa/services/%s/%s" % (prefix, zkidc, service, key))[0])


def test_services_add_list_search_and_delete(own_gateway, zk):
    gw, prefix = own_gateway
    assert cli(gw, "services", "add", "cli.pay.http") == (0, "service cli.pay.http created\n", "")
    assert cli(gw, "services", "add", "cli.pay.http")[1] == "service cli.pay.http exists already\n"
    assert cli(gw, "services", "add", "cli.user.http")[0] == 0
    code, out, _ = cli(gw, "services", "list", "--search", "CLI.PAY")
    assert code == 0 and rows(out) == [["SERVICE", "MEMBERS", "ALIVE"], ["cli.pay.http", "0", "0"]]
    code, out, _ = cli(gw, "services", "list", "--search", "cli.", "--json")
    doc = json.loads(out)
    assert doc["total"] == 2 and [s["service"] for s in doc["services"]] == ["cli.pay.http", "cli.user.http"]
    code, _, err = cli(gw, "services", "delete", "cli.user.http", stdin="n\n")
    assert code == 1 and err.endswith("soa-gateway: service cli.user.http not deleted\n")
    assert zk.exists("%s/qa/soa/services/cli.user.http" % prefix)
    code, out, err = cli(gw, "services", "delete", "cli.user.http", stdin="y\n")
    assert code == 0 and "delete service cli.user.http? [y/N]" in err and out == "service cli.user.http deleted\n"
    assert not zk.exists("%s/qa/soa/services/cli.user.http" % prefix)


def test_services_delete_with_servers_needs_force(own_gateway, zk):
    gw, prefix = own_gateway
    cli(gw, "services", "add", "cli.full")
    cli(gw, "servers", "add", "cli.full", "10.0.0.1:80")
    code, out, err = cli(gw, "services", "delete", "cli.full", "--yes")
    assert code == 1 and out == "" and len(err.splitlines()) == 1 and "force" in err
    assert cli(gw, "services", "delete", "cli.full", "--force", "--yes")[0] == 0
    assert not zk.exists("%s/qa/soa/services/cli.full" % prefix)


def test_servers_add_drain_enable_delete(own_gateway, zk):
    gw, prefix = own_gateway
    cli(gw, "services", "add", "cli.ip2city")
    code, out, _ = cli(gw, "servers", "add", "cli.ip2city", "10.0.0.1:8080")
    key = out.split()[-1]
    assert code == 0 and out == "10.0.0.1:8080 added as %s\n" % key
    cli(gw, "servers", "add", "cli.ip2city", "[fe80::1]:8081")
    code, out, _ = cli(gw, "servers", "drain", "cli.ip2city", "10.0.0.1:8080")
    drained = out.split("(")[-1].rstrip(")\n")
    assert code == 0 and out.startswith("10.0.0.1:8080 drained") and drained != key
    assert member(zk, prefix, "cli.ip2city", drained)["status"] == "STOPPED"  # what a ServerSet reader sees
    assert cli(gw, "servers", "drain", "cli.ip2city", drained)[1] == "%s was STOPPED already (%s)\n" % (
        drained,
        drained,
    )
    code, out, _ = cli(gw, "servers", "list", "cli.ip2city")
    assert rows(out)[0] == ["KEY", "HOST", "PORT", "STATUS"]
    assert sorted(row[1:] for row in rows(out)[1:]) == [["10.0.0.1", "8080", "STOPPED"], ["fe80::1", "8081", "ALIVE"]]
    code, out, _ = cli(gw, "servers", "enable", "cli.ip2city", drained, "--json")
    enabled = json.loads(out)
    assert code == 0 and enabled["changed"] is True and enabled["status"] == "ALIVE"
    assert member(zk, prefix, "cli.ip2city", enabled["key"])["status"] == "ALIVE"
    assert cli(gw, "servers", "delete", "cli.ip2city", "[fe80::1]:8081")[0] == 0
    assert cli(gw, "servers", "delete", "cli.ip2city", "10.0.0.1:8080")[0] == 0
    assert zk.get_children("%s/qa/soa/services/cli.ip2city" % prefix) == []


def test_instances_list_shows_every_members_origin_zone_and_heartbeat(own_gateway):
    gw = own_gateway[0]
    cli(gw, "services", "add", "cli.account")
    cli(gw, "servers", "add", "cli.account", "10.0.0.5:80")
    form = {
        "zone": "sh001",
        "env": "uat",
        "appid": "cli.account",
        "hostname": "host-1",
        "addrs": "http://10.0.0.6:8080",
        "status": 1,
    }
    assert http(gw.url, "/discovery/register", form, method="POST")["code"] == 0
    code, out, _ = cli(gw, "instances", "list", "cli.account")
    table = rows(out)
    assert code == 0 and table[0] == ["KEY", "HOST", "PORT", "STATUS", "ORIGIN", "ZONE", "LAST", "HEARTBEAT"]
    by_host = {row[1]: row for row in table[1:]}
    assert by_host["10.0.0.5"][2:] == ["80", "ALIVE", "admin", "-", "-"]
    assert by_host["10.0.0.6"][2:6] == ["8080", "ALIVE", "discovery", "sh001"] and by_host["10.0.0.6"][6].startswith(
        "20"
    )


def test_status_shows_each_zkidc(own_gateway):
    gw = own_gateway[0]
    cli(gw, "services", "add", "cli.status", "--zkidc", "yz")
    cli(gw, "servers", "add", "cli.status", "10.0.0.7:80", "--zkidc", "yz")
    code, out, _ = cli(gw, "status")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "gateway %s: ready" % gw.url
    by_zkidc = {row[0]: row for row in rows("\n".join(lines[1:]))[1:]}
    assert by_zkidc["qa"][1:4] == ["(default)", "connected", "fresh"]
    assert by_zkidc["yz"][1:] == ["connected", "fresh", "1", "1", "1"]
    doc = json.loads(cli(gw, "status", "--json")[1])
    yz = doc["zkidcs"]["yz"]  # /readyz's fields with the counts beside them
    assert (yz["state"], yz["cache"], yz["services"], yz["members"], yz["alive"]) == ("connected", "fresh", 1, 1, 1)
    code, out, _ = cli(gw, "status", key=KEYS["qaonly"]["secret"])
    assert code == 0 and "\nyz: key qaonly may not use zkidc yz" in out


@pytest.mark.parametrize(
    "argv, key, code, words",
    [
        (["servers", "list", "cli.nope"], OPS, 1, "service cli.nope does not exist on zkidc qa"),
        (["services", "add", "cli.x"], KEYS["reader"]["secret"], 1, "soa-gateway: "),
        (["services", "add", "cli.x"], "wrong-key-000000", 1, "soa-gateway: "),
        (["services", "add", "bad name"], OPS, 1, "destName"),
        (["servers", "drain", "cli.x", "10.0.0.1"], OPS, 2, "is not HOST:PORT or a member_ key"),
        (["servers"], OPS, 2, "ACTION"),
        (["services", "list", "--zkidc", "zz"], OPS, 1, "unknown zkidc 'zz'"),
    ],
)
def test_refusals_and_usage_errors_are_one_line_and_an_exit_code(own_gateway, argv, key, code, words):
    gw = own_gateway[0]
    got, out, err = cli(gw, *argv, key=key)
    assert got == code and out == "" and words in err
    assert len(err.strip().splitlines()) <= 2  # argparse's usage line, then the error


def test_an_unreachable_gateway_is_exit_code_3():
    env = {**os.environ, "SOA_GATEWAY_URL": "http://127.0.0.1:%d" % free_port()}
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "services", "list"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 3 and result.stdout == ""
    assert (
        result.stderr.startswith("soa-gateway: cannot reach the gateway at http://127.0.0.1:")
        and len(result.stderr.splitlines()) == 1
    )
