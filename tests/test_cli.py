"""`soa-gateway serve --dev`: the first command of the README, for real, and
the command line itself (help, version, completion, a busy port)."""

import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import eventually
from zk.server import free_port, stray_java_processes


def start_dev(tmp_path, extra_env=None, wait_lines=True):
    """A `serve --dev` process; its stderr (the JSON log) goes to tmp_path/stderr.log."""
    port, zk_port = free_port(), free_port()
    data_dir = str(tmp_path / "zk-dev")
    env = {**os.environ, "SOA_GATEWAY_DEV_KEY": "dev-key-for-tests", **(extra_env or {})}
    with open(tmp_path / "stderr.log", "ab") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway",
                "serve",
                "--dev",
                "--bind",
                "127.0.0.1:%d" % port,
                "--zk-port",
                str(zk_port),
                "--data-dir",
                data_dir,
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            text=True,
        )
    lines = [process.stdout.readline() for _ in range(3)] if wait_lines else []
    return process, port, zk_port, data_dir, lines


def soa_gateway(*argv, env=None, timeout=30):
    """Run the soa-gateway command line; the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def get(url):
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def wait_ready(port):
    eventually(lambda: get("http://127.0.0.1:%d/readyz" % port)["status"] == "ready", timeout=30, interval=0.2)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_dev_serves_three_zkidcs_and_stops_its_zookeeper(tmp_path, stop_signal):
    process, port, zk_port, data_dir, lines = start_dev(tmp_path)
    try:
        assert "127.0.0.1:%d" % zk_port in lines[0] and "/qa" in lines[0]
        assert "dev-key-for-tests" in lines[1]
        wait_ready(port)
        for zkidc in ("qa", "yz", "g1"):
            request = urllib.request.Request(
                "http://127.0.0.1:%d/addservice?destName=hello.%s&key=dev-key-for-tests&zkidc=%s"
                % (port, zkidc, zkidc),
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=5) as answer:
                assert json.loads(answer.read())["code"] == 1
            listing = get("http://127.0.0.1:%d/servicelist?key=dev-key-for-tests&zkidc=%s" % (port, zkidc))
            assert listing["services"] == [{"service": "hello.%s" % zkidc}]
        from kazoo.client import KazooClient

        outside = KazooClient(hosts="127.0.0.1:%d" % zk_port)
        outside.start(timeout=10)
        assert outside.get_children("/yz/soa/services") == ["hello.yz"]
        outside.stop()
        assert stray_java_processes(data_dir)
    finally:
        process.send_signal(stop_signal)
        process.wait(60)
    eventually(lambda: stray_java_processes(data_dir) == [], timeout=30)


def test_dev_zookeeper_dies_with_a_killed_gateway(tmp_path):
    process, port, _, data_dir, _ = start_dev(tmp_path)
    wait_ready(port)
    process.kill()
    process.wait(10)
    eventually(lambda: stray_java_processes(data_dir) == [], timeout=30)


def test_a_second_dev_start_on_the_same_data_dir_fails_at_once_naming_the_first(tmp_path):
    process, port, zk_port, data_dir, _ = start_dev(tmp_path)
    try:
        wait_ready(port)
        command = [
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--dev",
            "--bind",
            "127.0.0.1:%d" % free_port(),
            "--zk-port",
            str(free_port()),
            "--data-dir",
            data_dir,
        ]
        second = subprocess.run(command, capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        assert "data directory %s is in use" % data_dir in second.stderr
        assert "127.0.0.1:%d" % zk_port in second.stderr and "pid %d" % process.pid in second.stderr
        assert "Traceback" not in second.stderr and "ZooKeeper stopped" not in second.stderr
        assert len(stray_java_processes(data_dir)) == 1
        assert get("http://127.0.0.1:%d/readyz" % port)["status"] == "ready"  # the first serves on
    finally:
        process.terminate()
        process.wait(60)


@pytest.mark.parametrize(
    "text, words",
    [
        (
            '[gateway]\ndefault_zkidc = "nope"\n[zkidc.qa]\nhosts = "127.0.0.1:1"\n',
            "default_zkidc 'nope' is not a configured zkidc",
        ),
        (
            '[zkidc.qa]\nhosts = "127.0.0.1:1"\n[eviction]\ninterval = "abc"\n',
            "[eviction] interval must be a number, not 'abc'",
        ),
    ],
)
def test_config_mode_refuses_a_broken_config_clearly_before_any_worker_starts(tmp_path, text, words):
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert words in result.stderr
    assert "Traceback" not in result.stderr and "Booting worker" not in result.stderr


def test_a_busy_port_fails_at_once_naming_bind_and_its_variable(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data_dir = tmp_path / "zk-dev"
        started = time.monotonic()
        dev = soa_gateway(
            "serve",
            "--dev",
            "--bind",
            "127.0.0.1:%d" % port,
            "--zk-port",
            str(free_port()),
            "--data-dir",
            str(data_dir),
        )
        assert time.monotonic() - started < 4  # gunicorn alone retries for five seconds
        config = tmp_path / "gateway.toml"
        config.write_text('[zkidc.qa]\nhosts = "127.0.0.1:1"\n')
        configured = soa_gateway("serve", "--config", str(config), env={"SOA_GATEWAY_BIND": "127.0.0.1:%d" % port})
    for result in (dev, configured):
        assert result.returncode == 1
        assert result.stderr.strip().splitlines()[-1] == (
            "soa-gateway: 127.0.0.1:%d is already in use; listen elsewhere with --bind HOST:PORT or SOA_GATEWAY_BIND"
            % port
        )
        assert "Gateway:" not in result.stdout and "Traceback" not in result.stderr
    assert not data_dir.exists()  # no ZooKeeper was started for nothing


def test_ctrl_c_while_starting_stops_zookeeper_without_a_traceback(tmp_path):
    process, _, _, data_dir, _ = start_dev(tmp_path, wait_lines=False)
    zk_log = os.path.join(data_dir, "zookeeper.log")
    # ZooKeeper is writing its log: started, and the gateway waits for it to serve.
    eventually(lambda: os.path.exists(zk_log) and os.path.getsize(zk_log) > 0, timeout=30, interval=0.01)
    process.send_signal(signal.SIGINT)
    process.wait(60)
    assert process.returncode in (0, 130)
    assert "Traceback" not in (tmp_path / "stderr.log").read_text()
    eventually(lambda: stray_java_processes(data_dir) == [], timeout=15)


def test_hup_reloads_workers_and_keeps_zookeeper(tmp_path):
    process, port, _, data_dir, _ = start_dev(tmp_path)
    log = tmp_path / "stderr.log"
    try:
        wait_ready(port)
        process.send_signal(signal.SIGHUP)
        eventually(lambda: "Worker exiting" in log.read_text(), timeout=30, interval=0.2)
        wait_ready(port)
        assert "ZooKeeper stopped" not in log.read_text()
        assert stray_java_processes(data_dir)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    assert log.read_text().count("ZooKeeper stopped") == 1
    assert "Traceback" not in log.read_text()


def test_bind_is_the_address_the_replica_advertises(tmp_path):
    process, port, _, _, _ = start_dev(tmp_path)
    try:
        wait_ready(port)

        def announced():  # replicas announce themselves once connected, beside readiness
            nodes = get("http://127.0.0.1:%d/discovery/nodes?key=dev-key-for-tests" % port)
            return [node["addr"] for node in nodes["data"]]

        assert eventually(announced, timeout=30, interval=0.2) == ["127.0.0.1:%d" % port]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def test_help_is_plain_text_and_version_is_printed():
    result = soa_gateway("--help")
    assert result.returncode == 0
    for word in (
        "serve",
        "services",
        "servers",
        "instances",
        "status",
        "SOA_GATEWAY_URL",
        "SOA_GATEWAY_BIND",
        "exit codes",
    ):
        assert word in result.stdout
    assert "``" not in result.stdout and ":class:" not in result.stdout
    serve = soa_gateway("serve", "--help").stdout
    assert "--bind" in serve and "--zk-port" in serve and "--data-dir" in serve and "``" not in serve
    version = soa_gateway("--version")
    assert version.returncode == 0 and version.stdout.strip() == "soa-gateway " + importlib.metadata.version(
        "soa-gateway"
    )


@pytest.mark.parametrize(
    "shell, expected", [("bash", "drain"), ("zsh", "drain:take a server out of traffic (STOPPED)")]
)
def test_shell_completion(tmp_path, shell, expected):
    out = tmp_path / "completions"
    line = "soa-gateway servers d"
    env = {
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_SHELL": shell,
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
    }
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "soa-gateway")],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        pass_fds=(),
    )
    assert result.returncode == 0, result.stderr
    offered = out.read_text().split("\v")
    assert expected in offered and not any(choice.startswith(("list", "add")) for choice in offered)
    script = soa_gateway("completion", shell)
    assert script.returncode == 0 and "_python_argcomplete" in script.stdout and "soa-gateway" in script.stdout
