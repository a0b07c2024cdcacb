"""The ops subcommands of ``soa-gateway``: a running gateway's admin API over HTTP.

Each command makes its calls, prints a table (or the answer as JSON) and
returns an exit code: 0 done, 1 refused or not found, 3 gateway (or its
ZooKeeper) unreachable. Usage errors are 2, as argparse makes them. The key
travels in the ``X-Api-Key`` header, never in a URL.
"""

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DONE, REFUSED, USAGE, UNREACHABLE = 0, 1, 2, 3


class Failed(Exception):
    """One clear line for stderr, and the exit code."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


class Unreachable(Failed):
    """No answer from the gateway, or not one of its JSON answers."""

    def __init__(self, message):
        super().__init__(message, UNREACHABLE)


class Gateway:
    def __init__(self, url, key=None, zkidc=None, timeout=10.0):
        self.url = url.rstrip("/")
        self.key = key
        self.zkidc = zkidc
        self.timeout = timeout

    def call(self, path, params=None, post=False, zkidc=None, accept=(200,)):
        """The JSON answer of ``path``; Failed unless its HTTP status is in ``accept``."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        zkidc = zkidc or self.zkidc
        if zkidc:
            params["zkidc"] = zkidc
        query = urllib.parse.urlencode(params)
        url = self.url + path + ("" if post or not query else "?" + query)
        request = urllib.request.Request(url, data=query.encode() if post else None, method="POST" if post else "GET")
        if self.key:
            request.add_header("X-Api-Key", self.key)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                status, body = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise Unreachable(
                "cannot reach the gateway at %s: %s (set --url or SOA_GATEWAY_URL)" % (self.url, reason)
            ) from None
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise Unreachable("the gateway at %s answered HTTP %d without its JSON" % (self.url, status))
        if status in accept:
            return doc
        # 5xx: the gateway is there but cannot reach ZooKeeper; retrying later may work.
        raise Failed(doc.get("reason") or "HTTP %d" % status, UNREACHABLE if status >= 500 else REFUSED)


def server_ref(text):
    """``HOST:PORT``, ``[IPV6]:PORT`` or ``member_...`` as setserver/delserver parameters."""
    if text.startswith("member_"):
        return {"serverKey": text}
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit():
        raise Failed("%r is not HOST:PORT or a member_ key" % text, USAGE)
    return {"serverHost": host, "serverPort": port}


def table(rows, columns):
    """``rows`` (dicts) as aligned text columns; ``columns`` are (title, key)."""
    cells = [[title for title, _ in columns]]
    cells += [["-" if row.get(key) is None else str(row.get(key)) for _, key in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in cells
    )


def _when(ms):
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ms / 1000.0)) if ms else None


def _show(args, doc, text):
    print(json.dumps(doc, indent=2, ensure_ascii=False) if args.json else text)


def services_list(gateway, args):
    doc = gateway.call("/servicelist", {"search": args.search, "counts": "true"})
    _show(args, doc, table(doc["services"], [("SERVICE", "service"), ("MEMBERS", "members"), ("ALIVE", "alive")]))


def services_add(gateway, args):
    doc = gateway.call("/addservice", {"destName": args.name}, post=True)
    _show(args, doc, "service %s %s" % (args.name, "exists already" if doc.get("existed") else "created"))


def services_delete(gateway, args):
    if not args.yes:
        question = "delete service %s%s%s? [y/N] " % (
            args.name,
            " with all its servers" if args.force else "",
            " on zkidc " + gateway.zkidc if gateway.zkidc else "",
        )
        sys.stderr.write(question)
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            raise Failed("service %s not deleted" % args.name, REFUSED)
    doc = gateway.call("/delservice", {"destName": args.name, "force": "true" if args.force else None}, post=True)
    _show(args, doc, "service %s deleted" % args.name)


def servers_list(gateway, args):
    doc = gateway.call("/serverlist", {"destName": args.service})
    _show(args, doc, table(doc["servers"], [("KEY", "key"), ("HOST", "host"), ("PORT", "port"), ("STATUS", "status")]))


def servers_add(gateway, args):
    ref = server_ref(args.server)
    if "serverKey" in ref:
        raise Failed("servers add needs HOST:PORT, not a member key", USAGE)
    doc = gateway.call("/addserver", {"destName": args.service, **ref}, post=True)
    _show(args, doc, "%s %s as %s" % (args.server, "was there already" if doc.get("existed") else "added", doc["key"]))


def _set_status(status, done):
    def command(gateway, args):
        doc = gateway.call(
            "/setserver", {"destName": args.service, "status": status, **server_ref(args.server)}, post=True
        )
        _show(
            args,
            doc,
            "%s %s (%s)" % (args.server, done if doc.get("changed") else "was " + status + " already", doc["key"]),
        )

    return command


servers_drain = _set_status("STOPPED", "drained")
servers_enable = _set_status("ALIVE", "enabled")


def servers_delete(gateway, args):
    doc = gateway.call("/delserver", {"destName": args.service, **server_ref(args.server)}, post=True)
    _show(args, doc, "%s deleted (%s)" % (args.server, doc["key"]))


def instances_list(gateway, args):
    doc = gateway.call("/serverlist", {"destName": args.service, "details": "true"})
    rows = [dict(server, heartbeat=_when(server.get("heartbeat"))) for server in doc["servers"]]
    columns = [
        ("KEY", "key"),
        ("HOST", "host"),
        ("PORT", "port"),
        ("STATUS", "status"),
        ("ORIGIN", "origin"),
        ("ZONE", "zone"),
        ("LAST HEARTBEAT", "heartbeat"),
    ]
    _show(args, doc, table(rows, columns))


def status(gateway, args):
    """/readyz for each zkidc's connection and cache, servicelist for its counts."""
    ready = gateway.call("/readyz", accept=(200, 503))
    zkidcs = {}
    for name, health in ready.get("zkidcs", {}).items():
        row = zkidcs[name] = dict(health)
        try:
            services = gateway.call("/servicelist", {"counts": "true"}, zkidc=name)["services"]
        except Unreachable:
            raise
        except Failed as failure:  # a key without rights on this zkidc, or its ZooKeeper down
            row["error"] = str(failure)
            continue
        row.update(
            services=len(services), members=sum(s["members"] for s in services), alive=sum(s["alive"] for s in services)
        )
    doc = {"status": ready.get("status"), "default_zkidc": ready.get("default_zkidc"), "zkidcs": zkidcs}
    rows = [
        dict(row, zkidc=name + (" (default)" if name == doc["default_zkidc"] else "")) for name, row in zkidcs.items()
    ]
    columns = [
        ("ZKIDC", "zkidc"),
        ("STATE", "state"),
        ("CACHE", "cache"),
        ("SERVICES", "services"),
        ("MEMBERS", "members"),
        ("ALIVE", "alive"),
    ]
    text = "gateway %s: %s\n%s" % (gateway.url, doc["status"], table(rows, columns))
    text += "".join("\n%s: %s" % (name, row["error"]) for name, row in zkidcs.items() if "error" in row)
    _show(args, doc, text)
    return DONE if doc["status"] == "ready" else REFUSED
