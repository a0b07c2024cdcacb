"""`soa-gateway serve --dev`: the first command of the README, for real."""
import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import eventually
from zk.server import free_port, stray_java_processes


def start_dev(tmp_path, extra_env=None):
    port, zk_port = free_port(), free_port()
    data_dir = str(tmp_path / "zk-dev")
    env = {**os.environ, "SOA_GATEWAY_DEV_KEY": "dev-key-for-tests", **(extra_env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--dev", "--bind", "127.0.0.1:%d" % port, "--zk-port", str(zk_port), "--data-dir", data_dir],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    lines = [process.stdout.readline() for _ in range(3)]
    return process, port, zk_port, data_dir, lines


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
                "http://127.0.0.1:%d/addservice?destName=hello.%s&key=dev-key-for-tests&zkidc=%s" % (port, zkidc, zkidc), method="POST"
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
        command = [sys.executable, "-m", "gateway", "serve", "--dev", "--bind", "127.0.0.1:%d" % free_port(),
                   "--zk-port", str(free_port()), "--data-dir", data_dir]
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


def test_config_mode_refuses_a_broken_config_clearly(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text('[gateway]\ndefault_zkidc = "nope"\n[zkidc.qa]\nhosts = "127.0.0.1:1"\n')
    result = subprocess.run([sys.executable, "-m", "gateway", "serve", "--config", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "default_zkidc 'nope' is not a configured zkidc" in result.stderr
    assert "Traceback" not in result.stderr
