"""deploy/local-cluster.sh: the compose topology on loopback, started and stopped for real.

Three ZooKeeper servers forming one quorum, two gateway replicas (gunicorn, two
gevent workers each, so four ZooKeeper sessions) and nginx in front when it is
installed; a write through one replica is read through the other, through
nginx, and by a plain ZooKeeper client.
"""

import json
import os
import shutil
import stat
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from types import SimpleNamespace

import pytest
from kazoo.client import KazooClient

from tests.conftest import OPS, eventually
from tests.discovery_helpers import hostnames, http
from zk.server import ZooKeeperServer, free_port

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "deploy", "local-cluster.sh")
NGINX = shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")
SERVICE = "ip2city.http"
APPID = "cluster.demo"


def run(command, directory, env, timeout=150):
    return subprocess.run(
        ["bash", SCRIPT, command, directory], env=env, capture_output=True, text=True, timeout=timeout
    )


def distinct_free_ports(count):
    ports = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def processes_in(directory):
    """(pid, command line) of live processes whose command line or working directory is in ``directory``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open("/proc/%s/stat" % entry) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            cwd = os.readlink("/proc/%s/cwd" % entry)
        except OSError:
            continue
        if state != "Z" and (directory in cmdline or (cwd + "/").startswith(directory + "/")):
            found.append((int(entry), cmdline))
    return found


def status_of(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("cluster"))
    ports = distinct_free_ports(6)
    zk_ports, (a, b, lb) = ports[:3], ports[3:]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOA_GATEWAY_", "CLUSTER_"))}
    env.update(
        CLUSTER_ZK_PORTS=" ".join(map(str, zk_ports)),
        CLUSTER_GATEWAY_PORTS="%d %d" % (a, b),
        CLUSTER_LB_PORT=str(lb),
        SOA_GATEWAY_KEY_OPS=OPS,
    )
    started = time.monotonic()
    result = run("start", directory, env)
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        yield SimpleNamespace(
            dir=directory,
            env=env,
            output=result.stdout,
            start_seconds=time.monotonic() - started,
            zk_ports=zk_ports,
            hosts=",".join("127.0.0.1:%d" % p for p in zk_ports),
            a="http://127.0.0.1:%d" % a,
            b="http://127.0.0.1:%d" % b,
            lb="http://127.0.0.1:%d" % lb,
        )
    finally:
        run("stop", directory, env)


def test_start_prints_the_endpoints_and_the_key(cluster):
    assert cluster.start_seconds < 60
    for url in (cluster.a, cluster.b) + ((cluster.lb,) if NGINX else ()):
        assert url in cluster.output
    assert cluster.hosts in cluster.output
    assert "Key (ops):  %s" % OPS in cluster.output


def test_three_zookeeper_servers_form_one_quorum(cluster):
    modes = sorted(ZooKeeperServer(port=port).mode() for port in cluster.zk_ports)
    assert modes == ["follower", "follower", "leader"]


def test_both_replicas_are_ready(cluster):
    for base in (cluster.a, cluster.b):
        status, body = status_of(base + "/readyz")
        assert status == 200
        assert body["zkidcs"]["qa"]["state"] == "connected"


def test_a_second_start_refuses_and_leaves_the_cluster_running(cluster):
    again = run("start", cluster.dir, cluster.env, timeout=30)
    assert again.returncode == 1
    assert "already running" in again.stderr
    status = run("status", cluster.dir, cluster.env, timeout=30)
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.count("running (pid") == (4 if NGINX else 3)
    assert "leader" in status.stdout
    assert status_of(cluster.a + "/readyz")[0] == 200


def servers(base):
    answer = http(base, "/serverlist", {"destName": SERVICE})
    return sorted((s["host"], s["port"]) for s in answer["servers"])


def test_admin_writes_through_one_replica_are_read_through_the_other(cluster):
    assert http(cluster.a, "/addservice", {"destName": SERVICE}, "POST")["code"] == 1
    added = http(cluster.a, "/addserver", {"destName": SERVICE, "serverHost": "10.0.0.1", "serverPort": 8080}, "POST")
    assert added["code"] == 1 and not added["existed"]
    eventually(lambda: servers(cluster.b) == [("10.0.0.1", 8080)])


@pytest.mark.skipif(not NGINX, reason="nginx is not installed (make test installs it)")
def test_nginx_spreads_requests_and_passes_the_request_id(cluster):
    http(cluster.lb, "/addservice", {"destName": SERVICE}, "POST")
    assert (
        http(cluster.lb, "/addserver", {"destName": SERVICE, "serverHost": "10.0.0.2", "serverPort": 8080}, "POST")[
            "code"
        ]
        == 1
    )
    eventually(lambda: ("10.0.0.2", 8080) in servers(cluster.b))
    request = urllib.request.Request(cluster.lb + "/healthz", headers={"X-Request-Id": "cluster-test-0001"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.headers["X-Request-Id"] == "cluster-test-0001"
    with urllib.request.urlopen(cluster.lb + "/healthz", timeout=5) as answer:
        assert answer.headers["X-Request-Id"]  # nginx's own id when the client sends none
    with open(os.path.join(cluster.dir, "nginx.log")) as log:
        access = [line for line in log.read().splitlines() if "upstream=" in line]
    upstreams = {line.split("upstream=")[1].split()[0] for line in access}
    assert upstreams == {cluster.a[len("http://") :], cluster.b[len("http://") :]}
    assert OPS not in "\n".join(access)  # keys travel in query strings: never in the access log


def test_a_plain_zookeeper_client_sees_the_serverset_member(cluster):
    client = KazooClient(hosts=cluster.hosts)
    client.start(timeout=15)
    try:
        path = "/soa/services/%s" % SERVICE
        members = [
            json.loads(client.get("%s/%s" % (path, c))[0]) for c in client.get_children(path) if c.startswith("member_")
        ]
    finally:
        client.stop()
        client.close()
    endpoints = [m["serviceEndpoint"] for m in members if m["status"] == "ALIVE"]
    assert {"host": "10.0.0.1", "port": 8080} in endpoints


def discovery_instance(hostname):
    return {"zone": "sh001", "env": "uat", "appid": APPID, "hostname": hostname}


def test_discovery_register_through_one_replica_fetch_and_poll_through_the_other(cluster):
    register = {**discovery_instance("host-1"), "addrs": "http://10.0.1.1:8080", "status": 1}
    assert http(cluster.a, "/discovery/register", register, "POST")["code"] == 0

    def fetched():
        answer = http(cluster.b, "/discovery/fetch", {"appid": APPID, "env": "uat", "status": 3})
        return answer["code"] == 0 and hostnames(answer) == ["host-1"] and answer

    latest = eventually(fetched)["data"]["latest_timestamp"]

    def every_worker_knows_it():
        # each replica runs two workers, each with its own cache: one showing
        # the instance says nothing of the other, so ask until all have
        for front in [cluster.a, cluster.b] * 4:
            behind = http(front, "/discovery/poll", {"appid": APPID, "env": "uat", "latest_timestamp": 0})
            assert behind["code"] == 0 and hostnames(behind) == ["host-1"], behind
        return True

    eventually(every_worker_knows_it)

    # A long poll through nginx (or B) waits, and a registration through A wakes it.
    front = cluster.lb if NGINX else cluster.b
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(
            http, front, "/discovery/poll", {"appid": APPID, "env": "uat", "latest_timestamp": latest}
        )
        time.sleep(1)
        assert not waiting.done(), waiting.result()  # what answered at once
        second = {**discovery_instance("host-2"), "addrs": "http://10.0.1.2:8080", "status": 1}
        assert http(cluster.a, "/discovery/register", second, "POST")["code"] == 0
        woken = waiting.result(timeout=15)
    assert woken["code"] == 0 and hostnames(woken) == ["host-1", "host-2"]

    # Each replica announces the address it was told to advertise.
    nodes = eventually(
        lambda: len(http(cluster.b, "/discovery/nodes", {})["data"]) == 2 and http(cluster.b, "/discovery/nodes", {})
    )
    assert sorted(n["addr"] for n in nodes["data"]) == sorted(u[len("http://") :] for u in (cluster.a, cluster.b))


def test_replicas_report_metrics_audit_lines_and_a_valid_openapi_document(cluster):
    from openapi_spec_validator import validate

    http(cluster.a, "/addservice", {"destName": "audited.svc"}, "POST")

    def scraped():  # each gunicorn worker has its own figures: scrape until one has served requests
        with urllib.request.urlopen(cluster.a + "/metrics", timeout=5) as answer:
            text = answer.read().decode()
        return (
            'soa_gateway_zookeeper_connected{state="connected",zkidc="qa"} 1.0' in text
            and "soa_gateway_requests_total{" in text
        )

    for _ in range(20):
        http(cluster.a, "/servicelist", {})
    eventually(scraped, timeout=20)

    def audited():
        with open(os.path.join(cluster.dir, "gateway-a.log")) as log:
            lines = [json.loads(line) for line in log if line.startswith("{")]
        return [line for line in lines if line.get("audit") and line.get("action") == "addservice"]

    (line,) = [a for a in eventually(audited) if any(p.endswith("/audited.svc") for p in a["paths"])]
    assert (line["key"], line["zkidc"], line["dialect"], line["result"]) == ("ops", "qa", "admin", "ok")
    with open(os.path.join(cluster.dir, "gateway-a.log")) as log:
        assert OPS not in log.read()
    with urllib.request.urlopen(cluster.b + "/openapi.json", timeout=5) as answer:
        validate(json.loads(answer.read()))


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_logs_hold_no_key_and_nginx_s_error_log_is_private(cluster):
    if NGINX:  # nginx's error log prints the request line of a request it refuses, key= included
        lb = urllib.parse.urlsplit(cluster.lb)
        connection = HTTPConnection(lb.hostname, lb.port, timeout=10)
        connection.putrequest("POST", "/addserver?destName=%s&key=%s" % (SERVICE, OPS))
        connection.putheader("Content-Length", str(2 << 20))  # above client_max_body_size
        connection.endheaders()
        assert connection.getresponse().status == 413
        connection.close()

        def logged():
            with open(os.path.join(cluster.dir, "nginx.log")) as log:
                return "too large body" in log.read()

        eventually(logged)
    assert mode(cluster.dir) == 0o700
    logs = [name for name in os.listdir(cluster.dir) if name.endswith(".log")]
    assert {"zookeeper.log", "gateway-a.log", "gateway-b.log"} <= set(logs)
    for name in logs:
        assert mode(os.path.join(cluster.dir, name)) == 0o600, name
        if name != "nginx.log":
            with open(os.path.join(cluster.dir, name)) as log:
                assert OPS not in log.read(), name


def test_stop_leaves_no_process_behind(cluster):
    before = " ".join(cmdline for _, cmdline in processes_in(cluster.dir))
    for program in ("java", "soa-gateway", "zk.server") + (("nginx",) if NGINX else ()):
        assert program in before
    stopped = run("stop", cluster.dir, cluster.env, timeout=120)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert processes_in(cluster.dir) == []
    assert run("status", cluster.dir, cluster.env, timeout=30).returncode == 3
    assert run("stop", cluster.dir, cluster.env, timeout=30).returncode == 0  # stopping twice is fine
