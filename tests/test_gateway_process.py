"""gateway/testing.py's GatewayProcess: its config holds key secrets, so it stays private and goes."""

import os
import stat
import urllib.request

import pytest

from gateway.testing import GatewayProcess
from tests.conftest import OPS, config_doc


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_config_and_log_are_private_and_removed_on_stop(zk_server, chroot):
    process = GatewayProcess(config_doc(zk_server.hosts, chroot)).start()
    try:
        with open(process.config_path) as f:
            assert OPS in f.read()  # the secrets are in there
        assert mode(process.dir) == 0o700
        assert mode(process.config_path) == mode(process.log_path) == 0o600
    finally:
        process.stop()
    assert not os.path.exists(process.dir)


def test_in_a_given_folder_the_files_stay_for_the_caller(zk_server, chroot, tmp_path):
    process = GatewayProcess(config_doc(zk_server.hosts, chroot), directory=tmp_path).start()
    process.stop()
    assert os.path.dirname(process.dir) == str(tmp_path)
    assert mode(process.config_path) == mode(process.log_path) == 0o600


def test_a_failed_start_leaves_no_process_and_no_folder(zk_server, chroot):
    doc = config_doc(zk_server.hosts, chroot, gateway={"default_zkidc": "nope"})
    process = GatewayProcess(doc)
    with pytest.raises(RuntimeError, match="nope"):
        process.start()
    assert process.process is None
    assert not os.path.exists(process.dir)


def test_a_stopped_gateway_starts_again_and_its_folder_goes_again(zk_server, chroot):
    """Benchmarks restart the same gateway (bench/scale.py): stop() removed its
    folder, config included, and the next start() failed on the missing files."""
    process = GatewayProcess(config_doc(zk_server.hosts, chroot)).start()
    process.stop()
    assert not os.path.exists(process.dir)
    process.start()
    try:
        assert mode(process.dir) == 0o700
        assert mode(process.config_path) == mode(process.log_path) == 0o600
    finally:
        process.stop()
    assert not os.path.exists(process.dir)


def test_a_port_taken_before_the_gateway_binds_it_gives_way_to_another(zk_server, chroot, monkeypatch):
    """On a busy machine an outgoing connection may take the port chosen for a
    gateway before gunicorn binds it: the gateway then starts on another."""
    import socket

    from gateway import testing
    from zk.server import free_port

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = iter([taken.getsockname()[1], free_port()])
    monkeypatch.setattr(testing, "free_port", lambda: next(ports))
    process = GatewayProcess(config_doc(zk_server.hosts, chroot)).start()
    try:
        assert process.port != taken.getsockname()[1]
        with urllib.request.urlopen(process.url + "/readyz", timeout=10) as answer:
            assert answer.status == 200
    finally:
        process.stop()
        taken.close()
