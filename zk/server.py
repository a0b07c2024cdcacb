"""Real ZooKeeper servers on loopback, from Debian's ``zookeeper`` package.

Used by ``soa-gateway serve --dev``, by the tests, by the benchmarks and by
``deploy/local-cluster.sh``, so that all of them run against the real thing.
The Java process is tied to its parent (PR_SET_PDEATHSIG): if the parent
dies, so does ZooKeeper.

As a program::

    python -m zk.server ensemble --dir DIR [--ports 2281,2282,2283]
    python -m zk.server status PORT...

``ensemble`` runs a quorum in the foreground (data, configs and logs under
DIR/zkN), writes its connection string to DIR/hosts once every server
serves, and stops the servers on SIGTERM or SIGINT. ``status`` prints each
server's mode.

A running server holds a lock on DATA_DIR/zookeeper.lock (which says where it
serves): a second server on the same data directory would corrupt the first's
snapshots and logs, so it fails at once instead.
"""

import argparse
import ctypes
import fcntl
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

CLASSPATH_ENV = "ZOOKEEPER_CLASSPATH"
DEBIAN_JARS = "/usr/share/java"


LOCK_FILE = "zookeeper.lock"


class ZooKeeperMissing(RuntimeError):
    pass


class DataDirInUse(RuntimeError):
    """Another server (of this or another process) runs on the same data directory."""


def classpath():
    if os.environ.get(CLASSPATH_ENV):
        return os.environ[CLASSPATH_ENV]
    if not os.path.exists(os.path.join(DEBIAN_JARS, "zookeeper.jar")):
        raise ZooKeeperMissing(
            "ZooKeeper is not installed: run 'apt-get install -y zookeeper' (Debian) "
            "or set %s to a classpath holding the ZooKeeper server jars" % CLASSPATH_ENV
        )
    # zookeeper.jar's manifest lacks netty; every jar of the package's dependencies is simplest.
    return os.path.join(DEBIAN_JARS, "*")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def four_letter(port, word, timeout=0.5):
    """Send a ZooKeeper four-letter command; the answer, or None if unreachable."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return None


class ZooKeeperServer:
    """One ZooKeeper server process (standalone, or one member of an Ensemble)."""

    def __init__(self, port=None, data_dir=None, server_id=None, peers=None, tick_ms=500, fsync=True, heap_mb=256):
        self.port = port or free_port()
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="zk-")
        self.server_id = server_id
        self.peers = peers  # {id: (quorum_port, election_port)} for an ensemble
        self.tick_ms = tick_ms
        self.fsync = fsync
        self.heap_mb = heap_mb
        self.process = None
        self._lock_fd = None

    @property
    def hosts(self):
        return "127.0.0.1:%d" % self.port

    def _write_config(self):
        os.makedirs(os.path.join(self.data_dir, "data"), exist_ok=True)
        lines = [
            "tickTime=%d" % self.tick_ms,
            "initLimit=20",
            "syncLimit=10",
            "dataDir=%s" % os.path.join(self.data_dir, "data"),
            "clientPort=%d" % self.port,
            "clientPortAddress=127.0.0.1",
            "admin.enableServer=false",
            "minSessionTimeout=1000",
            "maxSessionTimeout=120000",
            "maxClientCnxns=0",
            "4lw.commands.whitelist=ruok,srvr,stat,mntr",
            "forceSync=%s" % ("yes" if self.fsync else "no"),
        ]
        if self.peers:
            for sid, (quorum, election) in sorted(self.peers.items()):
                lines.append("server.%d=127.0.0.1:%d:%d" % (sid, quorum, election))
            with open(os.path.join(self.data_dir, "data", "myid"), "w") as f:
                f.write("%d\n" % self.server_id)
        path = os.path.join(self.data_dir, "zoo.cfg")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def _lock(self):
        """Hold DATA_DIR/zookeeper.lock until stop(); DataDirInUse names the holder."""
        if self._lock_fd is not None:
            return
        os.makedirs(self.data_dir, exist_ok=True)
        fd = os.open(os.path.join(self.data_dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 256).decode(errors="replace").strip() or "another ZooKeeper"
            os.close(fd)
            raise DataDirInUse(
                "ZooKeeper data directory %s is in use by %s; stop it first or use another data directory"
                % (self.data_dir, holder)
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, ("the ZooKeeper on 127.0.0.1:%d (started by pid %d)\n" % (self.port, os.getpid())).encode())
        self._lock_fd = fd

    def _unlock(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def start(self, wait=True, timeout=30.0):
        """Start the server (and wait until it serves); a failed start leaves nothing running."""
        self._lock()
        try:
            return self._start(wait, timeout)
        except BaseException:
            self.stop(kill=True)
            raise

    def _start(self, wait, timeout):
        config = self._write_config()
        log = open(os.path.join(self.data_dir, "zookeeper.log"), "ab")
        self.process = subprocess.Popen(
            [
                "java",
                "-Xmx%dm" % self.heap_mb,
                "-XX:+UseSerialGC",
                "-Dzookeeper.log.dir=%s" % self.data_dir,
                "-Dzookeeper.admin.enableServer=false",
                "-cp",
                classpath(),
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                config,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        log.close()
        if wait:
            self.wait_serving(timeout)
        return self

    def mode(self):
        """'standalone', 'leader', 'follower', or None when not serving."""
        answer = four_letter(self.port, "srvr")
        if not answer:
            return None
        for line in answer.splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return None

    def wait_serving(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    "ZooKeeper exited with %s; see %s/zookeeper.log" % (self.process.returncode, self.data_dir)
                )
            if self.mode() in ("standalone", "leader", "follower"):
                return
            time.sleep(0.05)
        raise TimeoutError("ZooKeeper on port %d not serving after %.0f s" % (self.port, timeout))

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self, kill=False):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self._unlock()

    def cleanup(self):
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class Ensemble:
    """N ZooKeeper servers on loopback forming one quorum."""

    def __init__(self, size=3, base_dir=None, ports=None, **options):
        """``ports``: the servers' client ports (default: free ports, ``size`` of them)."""
        self.base_dir = base_dir or tempfile.mkdtemp(prefix="zk-ensemble-")
        ports = list(ports or [None] * size)
        peers = {sid: (free_port(), free_port()) for sid in range(1, len(ports) + 1)}
        self.servers = [
            ZooKeeperServer(
                port=port, data_dir=os.path.join(self.base_dir, "zk%d" % sid), server_id=sid, peers=peers, **options
            )
            for sid, port in zip(peers, ports, strict=True)
        ]

    @property
    def hosts(self):
        return ",".join(s.hosts for s in self.servers)

    def start(self, timeout=60.0):
        for server in self.servers:
            server.start(wait=False)
        for server in self.servers:
            server.wait_serving(timeout)
        return self

    def leader(self):
        for server in self.servers:
            if server.mode() == "leader":
                return server
        return None

    def stop(self):
        for server in self.servers:
            server.stop()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)


def stray_java_processes(data_dir):
    """Java processes whose command line mentions ``data_dir`` (for tests)."""
    found = []
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(cmdline, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"java") and any(data_dir.encode() in a for a in args):
            found.append(int(cmdline.split("/")[2]))
    return found


def ensure_paths(hosts, paths):
    """Create persistent paths (e.g. the --dev chroots) with a short-lived client."""
    from kazoo.client import KazooClient

    client = KazooClient(hosts=hosts)
    client.start(timeout=15)
    try:
        for path in paths:
            client.ensure_path(path)
    finally:
        client.stop()
        client.close()


def _ports(text):
    try:
        return [int(p) for p in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError("not a list of ports: %r" % text) from None


def _run_ensemble(args):
    os.makedirs(args.dir, exist_ok=True)
    hosts_file = os.path.join(args.dir, "hosts")
    if os.path.exists(hosts_file):
        os.unlink(hosts_file)
    ensemble = Ensemble(base_dir=os.path.abspath(args.dir), ports=args.ports, heap_mb=args.heap_mb)
    stop = lambda *_: sys.exit(0)  # noqa: E731 (unwind through the finally below)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        ensemble.start(timeout=args.timeout)
        with open(hosts_file + ".tmp", "w") as f:
            f.write(ensemble.hosts + "\n")
        os.rename(hosts_file + ".tmp", hosts_file)
        modes = ", ".join("%s %s" % (s.hosts, s.mode()) for s in ensemble.servers)
        print("ZooKeeper ensemble serving: %s" % modes, flush=True)
        while True:
            signal.pause()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if os.path.exists(hosts_file):
            os.unlink(hosts_file)
        ensemble.stop()
        print("ZooKeeper ensemble stopped", flush=True)


def _status(args):
    serving = 0
    for port in args.ports:
        mode = ZooKeeperServer(port=port).mode()
        serving += mode is not None
        print("127.0.0.1:%d %s" % (port, mode or "not serving"))
    return 0 if serving == len(args.ports) else 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m zk.server", description="Real ZooKeeper servers on loopback.")
    commands = parser.add_subparsers(dest="command", required=True)
    ensemble = commands.add_parser("ensemble", help="run a quorum in the foreground until SIGTERM or SIGINT")
    ensemble.add_argument("--dir", required=True, help="data, configs and logs (DIR/zkN); DIR/hosts once serving")
    ensemble.add_argument("--ports", type=_ports, default=[None] * 3, help="client ports (default: 3 free ports)")
    ensemble.add_argument("--heap-mb", type=int, default=256, help="Java heap per server (default 256)")
    ensemble.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the quorum (default 90)")
    status = commands.add_parser("status", help="print the mode of each server; exit 1 unless all serve")
    status.add_argument("ports", type=int, nargs="+")
    args = parser.parse_args(argv)
    if args.command == "status":
        return _status(args)
    try:
        _run_ensemble(args)
    except (RuntimeError, TimeoutError) as exc:  # ZooKeeperMissing, DataDirInUse among them
        sys.exit("zk.server: %s" % exc)


if __name__ == "__main__":
    sys.exit(main())
