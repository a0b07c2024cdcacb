# PYTHON_ARGCOMPLETE_OK
"""The ``soa-gateway`` command: serve the gateway, or manage a running one."""

import argparse
import errno
import importlib.metadata
import logging
import os
import secrets
import signal
import socket
import sys
from dataclasses import replace

import argcomplete

from . import config as configuration
from . import remote

log = logging.getLogger("gateway")

DESCRIPTION = """\
Serve the gateway (serve), or manage the services and servers of a running
gateway through its admin API (services, servers, instances, status).
"""

EPILOG = """\
environment:
  SOA_GATEWAY_URL     the gateway the other commands talk to (default http://127.0.0.1:9090)
  SOA_GATEWAY_KEY     their key, sent in the X-Api-Key header
  SOA_GATEWAY_ZKIDC   their zkidc (default: the gateway's default zkidc)
  SOA_GATEWAY_BIND    serve: listen address (default 127.0.0.1:9090)

exit codes: 0 done, 1 refused or not found, 2 usage error,
            3 gateway (or its ZooKeeper) unreachable

completion: eval "$(soa-gateway completion bash)"   (zsh: completion zsh)
examples:
  soa-gateway serve --dev
  soa-gateway servers drain ip2city.http 10.0.0.1:8080
  soa-gateway services list --search pay --json
"""


class _Help(argparse.RawDescriptionHelpFormatter):
    """argparse's help, with each command's help beside its name (argparse
    measures subcommands one indent short and wraps the longer ones)."""

    def add_argument(self, action):
        super().add_argument(action)
        if action.help is not argparse.SUPPRESS and action.choices and isinstance(action.choices, dict):
            self._action_max_length += self._indent_increment


def _client_options():
    """Options of every command that talks to a gateway."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("gateway")
    group.add_argument(
        "--url",
        default=os.environ.get("SOA_GATEWAY_URL", "http://127.0.0.1:9090"),
        help="gateway URL (SOA_GATEWAY_URL; default http://127.0.0.1:9090)",
    )
    group.add_argument("--key", default=os.environ.get("SOA_GATEWAY_KEY"), help="key (SOA_GATEWAY_KEY)")
    group.add_argument(
        "--zkidc", default=os.environ.get("SOA_GATEWAY_ZKIDC"), help="zkidc (SOA_GATEWAY_ZKIDC; default: the gateway's)"
    )
    group.add_argument("--json", action="store_true", help="print the answer as JSON instead of a table")
    return common


def _parser():
    parser = argparse.ArgumentParser(
        prog="soa-gateway",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_Help,
    )
    parser.add_argument(
        "--version", action="version", version="soa-gateway " + importlib.metadata.version("soa-gateway")
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve the gateway", description="Serve the gateway under gunicorn.")
    mode = serve.add_mutually_exclusive_group(required=True)
    mode.add_argument("--config", metavar="FILE", help="gateway config (see deploy/gateway.example.toml)")
    mode.add_argument("--dev", action="store_true", help="start a local ZooKeeper and serve qa, yz, g1 from it")
    serve.add_argument("--bind", metavar="HOST:PORT", help="listen address (SOA_GATEWAY_BIND; default 127.0.0.1:9090)")
    serve.add_argument("--workers", type=int, help="gunicorn worker processes")
    serve.add_argument(
        "--zk-port", type=int, default=2181, help="--dev: ZooKeeper client port (default 2181, another when busy)"
    )
    serve.add_argument("--data-dir", default=".zk-dev", help="--dev: ZooKeeper data directory (default .zk-dev)")

    common = _client_options()

    def group(name, help):
        sub = commands.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".")
        return sub.add_subparsers(dest="action", required=True, metavar="ACTION")

    def leaf(parent, name, run, help, *arguments):
        sub = parent.add_parser(name, parents=[common], help=help, description=help[0].upper() + help[1:] + ".")
        for argument, argument_help in arguments:
            sub.add_argument(argument.lower(), metavar=argument, help=argument_help)
        sub.set_defaults(run=run)
        return sub

    service, server = ("SERVICE", "the service's name"), ("SERVER", "HOST:PORT, [IPV6]:PORT or a member_ key")
    services = group("services", "list, add or delete services")
    leaf(services, "list", remote.services_list, "list services with their members and ALIVE members").add_argument(
        "--search", metavar="TEXT", help="only services whose name contains TEXT (any case)"
    )
    leaf(services, "add", remote.services_add, "add a service", ("NAME", "the new service's name"))
    delete = leaf(
        services, "delete", remote.services_delete, "delete a service (asks first)", ("NAME", "the service's name")
    )
    delete.add_argument("--force", action="store_true", help="delete its servers too")
    delete.add_argument("--yes", action="store_true", help="do not ask")
    servers = group("servers", "list, add, drain, enable or delete a service's servers")
    leaf(servers, "list", remote.servers_list, "list a service's servers", service)
    leaf(servers, "add", remote.servers_add, "add a server", service, ("SERVER", "HOST:PORT"))
    leaf(servers, "drain", remote.servers_drain, "take a server out of traffic (STOPPED)", service, server)
    leaf(servers, "enable", remote.servers_enable, "put a server back into traffic (ALIVE)", service, server)
    leaf(servers, "delete", remote.servers_delete, "delete a server", service, server)
    instances = group("instances", "every member of a service, whoever registered it")
    leaf(instances, "list", remote.instances_list, "list members with origin, status, zone and last heartbeat", service)
    status = commands.add_parser(
        "status",
        parents=[common],
        help="each zkidc's connection, cache and counts",
        description="Each zkidc's connection, cache and counts; exit 1 when not ready.",
    )
    status.set_defaults(run=remote.status)
    completion = commands.add_parser(
        "completion",
        help="print the shell completion script",
        description='Print the completion script: eval "$(soa-gateway completion bash)".',
    )
    completion.add_argument("shell", choices=("bash", "zsh"))
    return parser


def main(argv=None):
    parser = _parser()
    argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "completion":
            print(argcomplete.shellcode(["soa-gateway"], shell=args.shell))
            return 0
        return args.run(remote.Gateway(args.url, args.key, args.zkidc), args) or 0
    except remote.Failed as failure:
        print("soa-gateway: %s" % failure, file=sys.stderr)
        return failure.code
    except KeyboardInterrupt:  # Ctrl-C: whatever had to be stopped was stopped on the way out
        return 130


def _serve(args):
    from . import logs

    logs.configure()
    try:
        if args.dev:
            return _serve_dev(args)
        if os.environ.get("SOA_GATEWAY_DEV_KEY"):
            log.warning("SOA_GATEWAY_DEV_KEY is ignored outside --dev")
        config = _with_options(configuration.load(args.config), args)
        _refuse_busy(config.bind)
    except (configuration.ConfigError, RuntimeError) as exc:
        sys.exit("soa-gateway: %s" % exc)
    _run(config)


def _with_options(config, args):
    """The config with --bind and --workers, so that a replica advertises where it listens."""
    if args.bind:
        config = replace(config, bind=args.bind)
    if args.workers:
        config = replace(config, workers=args.workers)
    return config


def _refuse_busy(bind):
    """gunicorn retries a busy address for five seconds; say so at once instead."""
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or bind.startswith(("unix:", "fd://")):
        return
    host = host.strip("[]") or "0.0.0.0"
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            s.bind((host, int(port)))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise RuntimeError(
                    "%s is already in use; listen elsewhere with --bind HOST:PORT or SOA_GATEWAY_BIND" % bind
                ) from None
            # anything else (an address not on this host ...) is gunicorn's to report


def _run(config):
    from .serve import GatewayServer

    GatewayServer(config).run()


def _serve_dev(args):
    from zk.server import ZooKeeperServer, ensure_paths, free_port

    port = args.zk_port
    if port == 2181 and _busy(port):
        port = free_port()
    data_dir = os.path.abspath(args.data_dir)
    server = ZooKeeperServer(port=port, data_dir=data_dir)
    key = os.environ.get("SOA_GATEWAY_DEV_KEY") or secrets.token_urlsafe(16)
    config = _with_options(configuration.development(server.hosts, key), args)
    _refuse_busy(config.bind)
    # SIGTERM and SIGINT must unwind through the finally below, even before
    # gunicorn (which handles both) runs, and even when a shell started this
    # in the background with SIGINT ignored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    owner = os.getpid()
    server.start()  # stops what it started when it fails (DataDirInUse: another one runs there)
    try:
        ensure_paths(server.hosts, ["/%s/soa/services" % name for name in ("qa", "yz", "g1")])
        print(
            "ZooKeeper:       %s (zkidcs qa, yz, g1 under /qa, /yz, /g1; data in %s)" % (server.hosts, data_dir),
            flush=True,
        )
        print("Development key: %s" % key, flush=True)
        print("Gateway:         http://%s/servicelist?zkidc=qa&key=%s" % (config.bind, key), flush=True)
        _run(config)
    finally:
        # gunicorn's workers are forks of this process and leave through here
        # too (a HUP reload replaces them): only the process that started
        # ZooKeeper stops it, and a second Ctrl-C does not cut that short.
        if os.getpid() == owner:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            server.stop()
            log.info("ZooKeeper stopped")


def _busy(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
