"""``soa-gateway serve``: the real deployment, or ``--dev`` with its own ZooKeeper."""
import argparse
import logging
import os
import secrets
import signal
import sys

from . import config as configuration
from . import logs

log = logging.getLogger("gateway")


def _parser():
    parser = argparse.ArgumentParser(prog="soa-gateway", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the gateway")
    mode = serve.add_mutually_exclusive_group(required=True)
    mode.add_argument("--config", metavar="FILE", help="gateway config (see deploy/gateway.example.toml)")
    mode.add_argument("--dev", action="store_true", help="start a local ZooKeeper and serve qa, yz, g1 from it")
    serve.add_argument("--bind", metavar="HOST:PORT", help="listen address (default 127.0.0.1:9090)")
    serve.add_argument("--workers", type=int, help="gunicorn worker processes")
    serve.add_argument("--zk-port", type=int, default=2181, help="--dev: ZooKeeper client port (default 2181)")
    serve.add_argument("--data-dir", default=".zk-dev", help="--dev: ZooKeeper data directory (default .zk-dev)")
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    logs.configure()
    try:
        if args.dev:
            return _serve_dev(args)
        if os.environ.get("SOA_GATEWAY_DEV_KEY"):
            log.warning("SOA_GATEWAY_DEV_KEY is ignored outside --dev")
        config = configuration.load(args.config)
    except (configuration.ConfigError, RuntimeError) as exc:
        sys.exit("soa-gateway: %s" % exc)
    _run(config, args)


def _run(config, args):
    from .serve import GatewayServer

    options = {}
    if args.bind:
        options["bind"] = args.bind
    if args.workers:
        options["workers"] = args.workers
    GatewayServer(config, options).run()


def _serve_dev(args):
    from zk.server import ZooKeeperServer, ensure_paths, free_port

    port = args.zk_port
    if port == 2181 and _busy(port):
        port = free_port()
    data_dir = os.path.abspath(args.data_dir)
    server = ZooKeeperServer(port=port, data_dir=data_dir)
    # SIGTERM must unwind through the finally below, even before gunicorn runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.start()  # stops what it started when it fails (DataDirInUse: another one runs there)
    try:
        ensure_paths(server.hosts, ["/%s/soa/services" % name for name in ("qa", "yz", "g1")])
        key = os.environ.get("SOA_GATEWAY_DEV_KEY") or secrets.token_urlsafe(16)
        config = configuration.development(server.hosts, key)
        bind = args.bind or config.bind
        print("ZooKeeper:       %s (zkidcs qa, yz, g1 under /qa, /yz, /g1; data in %s)" % (server.hosts, data_dir), flush=True)
        print("Development key: %s" % key, flush=True)
        print("Gateway:         http://%s/servicelist?zkidc=qa&key=%s" % (bind, key), flush=True)
        _run(config, args)
    finally:
        server.stop()
        log.info("ZooKeeper stopped")


def _busy(port):
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
