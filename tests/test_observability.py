"""Metrics, request ids, structured logs, the audit trail and /openapi.json."""

import json
import logging
import re
import sys

from gateway.logs import JsonFormatter
from tests.conftest import KEYS, OPS


def metric(text, name, **labels):
    """The value of one sample in Prometheus text format (None if absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all('%s="%s"' % (k, v) in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_count_requests_and_read_live_state(client):
    client.post("/addservice", query_string={"destName": "svc", "key": OPS})
    client.post("/addserver", query_string={"destName": "svc", "key": OPS, "serverHost": "10.0.0.1", "serverPort": 80})
    client.get("/serverlist", query_string={"destName": "nope", "key": OPS})
    client.get("/serverlist", query_string={"destName": "svc", "key": OPS})
    text = client.get("/metrics").get_data(as_text=True)
    assert metric(text, "soa_gateway_requests_total", dialect="admin", endpoint="addservice", outcome="ok") == 1
    assert (
        metric(text, "soa_gateway_requests_total", dialect="admin", endpoint="serverlist", outcome="client_error") == 1
    )
    assert metric(text, "soa_gateway_request_seconds_count", dialect="admin", endpoint="serverlist") == 2
    assert metric(text, "soa_gateway_zookeeper_connected", zkidc="qa", state="connected") == 1
    assert metric(text, "soa_gateway_cached_services", zkidc="qa") == 1
    assert metric(text, "soa_gateway_cached_members", zkidc="qa") == 1
    assert metric(text, "soa_gateway_registrations_total", zkidc="qa") == 0


def test_a_batch_counts_its_requests_at_its_end_as_one_by_one_would(app, client):
    """Woken long polls are counted a slice at a time (Metrics.batch): the
    totals, sums and every bucket must be what counting each would give."""
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    from gateway.context import EXTENSION
    from gateway.logs import Finished
    from gateway.metrics import _BUCKETS, observe_all

    amounts = [0.0, 0.001, 0.0011, 0.004, 0.25, 0.26, 7.0, 29.9, 30.0, 31.0, 100.0, 1e-7]
    each, bulk = CollectorRegistry(), CollectorRegistry()
    one = Histogram("h", "h", buckets=_BUCKETS, registry=each)
    for amount in amounts:
        one.observe(amount)
    observe_all(Histogram("h", "h", buckets=_BUCKETS, registry=bulk), amounts)

    def samples(registry):
        return [line for line in generate_latest(registry).splitlines() if b"_created" not in line]

    assert samples(bulk) == samples(each)
    assert b"h_count 12.0" in samples(bulk)

    metrics = app.extensions[EXTENSION].metrics

    def scraped(name, **labels):
        return metric(client.get("/metrics").get_data(as_text=True), name, **labels) or 0

    def done(status, seconds):
        return Finished("id", "GET", "/discovery/poll", status, "discovery", "poll", None, "qa", [], seconds, None, [])

    before = scraped("soa_gateway_requests_total", dialect="discovery", endpoint="poll", outcome="ok")
    with metrics.batch():
        for seconds in (0.002, 0.3, 40.0):
            metrics.observe(done(200, seconds))
        metrics.observe(done(500, 0.01))
        counted_inside = scraped("soa_gateway_requests_total", dialect="discovery", endpoint="poll", outcome="ok")
    assert counted_inside == before
    assert scraped("soa_gateway_requests_total", dialect="discovery", endpoint="poll", outcome="ok") == before + 3
    assert scraped("soa_gateway_requests_total", dialect="discovery", endpoint="poll", outcome="server_error") == 1
    assert scraped("soa_gateway_request_seconds_bucket", dialect="discovery", endpoint="poll", le="0.0025") == 1
    assert (
        scraped("soa_gateway_request_seconds_bucket", dialect="discovery", endpoint="poll", le="0.5") == 3
    )  # 0.002, 0.01 and 0.3
    assert scraped("soa_gateway_request_seconds_bucket", dialect="discovery", endpoint="poll", le="30.0") == 3
    assert scraped("soa_gateway_request_seconds_bucket", dialect="discovery", endpoint="poll", le="60.0") == 4
    assert scraped("soa_gateway_request_seconds_count", dialect="discovery", endpoint="poll") == 4
    assert abs(scraped("soa_gateway_request_seconds_sum", dialect="discovery", endpoint="poll") - 40.312) < 1e-9


def test_request_ids_are_taken_or_made_and_echoed(client):
    assert client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    made = client.get("/healthz").headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    odd = client.get("/healthz", headers={"X-Request-Id": "no spaces <allowed>"}).headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", odd)


def records(caplog, name):
    return [r for r in caplog.records if r.name == name]


def test_every_change_is_audited_with_who_but_never_the_key(client, caplog, services_path):
    caplog.set_level(logging.INFO)
    client.post("/addservice", query_string={"destName": "svc", "key": OPS}, headers={"X-Request-Id": "r-1"})
    client.get("/servicelist", query_string={"key": OPS})
    client.post("/addservice", query_string={"destName": "svc2", "key": KEYS["reader"]["secret"]})
    audits = [r.fields for r in records(caplog, "soa.audit") if r.fields.get("action")]  # not the gateway's own
    assert len(audits) == 2
    done, refused = audits
    assert (done["key"], done["zkidc"], done["dialect"], done["action"], done["result"]) == (
        "ops",
        "qa",
        "admin",
        "addservice",
        "ok",
    )
    assert done["request_id"] == "r-1"
    assert any(path.endswith("/soa/services/svc") for path in done["paths"])
    assert (refused["key"], refused["action"], refused["status"]) == ("reader", "addservice", 403)
    formatted = [JsonFormatter().format(r) for r in caplog.records]
    assert all(OPS not in line and KEYS["reader"]["secret"] not in line for line in formatted)
    line = json.loads(next(f for f in formatted if '"action": "addservice"' in f))
    assert line["audit"] is True and line["key"] == "ops" and line["logger"] == "soa.audit"


def audit_lines(caplog, action):
    return [r.fields for r in records(caplog, "soa.audit") if r.fields.get("action") == action]


def test_audit_lines_name_paths_inside_the_zkidc_and_the_members_created(client, caplog, zk, services_path):
    from tests.instance_helpers import INSTANCE, ok, register, set_status

    caplog.set_level(logging.INFO)
    client.post("/addservice", query_string={"destName": "svc", "key": OPS})
    added = client.post(
        "/addserver", query_string={"destName": "svc", "key": OPS, "serverHost": "10.0.0.1", "serverPort": 80}
    ).json
    ok(register(client))
    (created,) = zk.get_children(services_path + "/serviceTest")
    ok(set_status(client, "DISABLE"))  # one transaction: the new member in, the old one out
    (replaced,) = zk.get_children(services_path + "/serviceTest")

    (line,) = audit_lines(caplog, "addserver")
    assert line["paths"] == ["/soa/services/svc/" + added["key"]]  # not the sequence prefix member_
    assert line["members"] == {added["key"]: "10.0.0.1:80"}
    assert (line["zkidc"], line["services"]) == ("qa", ["svc"])
    (line,) = audit_lines(caplog, "instance_register")
    assert "/soa/services/serviceTest/" + created in line["paths"]
    assert line["members"] == {created: "%s:%d" % (INSTANCE["ip"], INSTANCE["port"])}
    (line,) = audit_lines(caplog, "instance_status")
    members = [p for p in line["paths"] if p.startswith("/soa/services/")]
    assert members == ["/soa/services/serviceTest/" + created, "/soa/services/serviceTest/" + replaced]
    assert {"create", "delete"} <= set(line["operations"]) and line["members"] == {replaced: "127.0.0.1:8080"}
    everywhere = [p for r in records(caplog, "soa.audit") for p in r.fields["paths"]]
    assert everywhere and all(p.startswith("/soa/") for p in everywhere)  # never the chroot of the zkidc


def test_a_refused_write_is_audited_with_the_zkidc_and_service_it_targeted(client, caplog):
    from tests.polaris_helpers import IP2CITY, create

    caplog.set_level(logging.INFO)
    client.post(
        "/addserver",
        query_string={
            "destName": "svc",
            "key": KEYS["qaonly"]["secret"],
            "zkidc": "yz",
            "serverHost": "10.0.0.1",
            "serverPort": 80,
        },
    )
    client.post(
        "/discovery/register",
        data={
            "zone": "sh001",
            "env": "uat",
            "appid": "pay.api",
            "hostname": "h1",
            "addrs": "http://10.0.0.1:80",
            "status": 1,
            "key": KEYS["ip2city"]["secret"],
        },
    )
    assert create(client, {"name": "ip2city-east"}, {"name": "payments"}, key=IP2CITY).status_code == 403  # a batch
    (addserver,) = audit_lines(caplog, "addserver")
    assert (addserver["key"], addserver["status"], addserver["zkidc"], addserver["services"]) == (
        "qaonly",
        403,
        "yz",
        ["svc"],
    )
    (register,) = audit_lines(caplog, "register")
    assert (register["key"], register["status"], register["zkidc"], register["services"]) == (
        "ip2city",
        403,
        "qa",
        ["pay.api"],
    )
    assert register["paths"] == []
    (batch,) = [r.fields for r in records(caplog, "soa.audit") if r.fields.get("dialect") == "polaris"]
    assert (batch["key"], batch["status"], batch["result"]) == ("ip2city", 403, "refused")
    assert batch["services"] == ["ip2city-east", "payments"] and batch["paths"] == []


def test_a_key_in_a_logged_uri_is_redacted():
    """gunicorn logs "Error handling request GET <uri>", query string and all,
    when a request fails inside the application."""
    try:
        raise RuntimeError("while serving /discovery/fetch?keys=%s" % OPS)
    except RuntimeError:
        record = logging.makeLogRecord(
            {
                "name": "gunicorn.error",
                "levelno": logging.ERROR,
                "levelname": "ERROR",
                "msg": "Error handling request %s %s",
                "args": ("GET", "/servicelist?zkidc=qa&key=%s&x=1" % OPS),
                "exc_info": sys.exc_info(),
            }
        )
    line = json.loads(JsonFormatter().format(record))
    assert OPS not in json.dumps(line)
    assert line["msg"] == "Error handling request GET /servicelist?zkidc=qa&key=<redacted>&x=1"
    assert "/discovery/fetch?keys=<redacted>" in line["exc"]


def test_failed_requests_get_a_json_access_line_with_the_request_id(client, caplog):
    caplog.set_level(logging.INFO)
    client.get("/servicelist", query_string={"key": OPS}, headers={"X-Request-Id": "trace-6"})
    assert records(caplog, "soa.access") == []  # access_log = "errors": successes cost no line
    client.get("/serverlist", query_string={"destName": "nope", "key": OPS}, headers={"X-Request-Id": "trace-7"})
    (access,) = records(caplog, "soa.access")
    line = json.loads(JsonFormatter().format(access))
    assert line["request_id"] == "trace-7"
    fields = access.fields
    assert (fields["status"], fields["dialect"], fields["endpoint"], fields["key"], fields["path"]) == (
        404,
        "admin",
        "serverlist",
        "ops",
        "/serverlist",
    )
    assert fields["error"] == "service nope does not exist on zkidc qa" and fields["duration_ms"] >= 0
    assert OPS not in line.values()


def test_access_log_all_logs_every_request(zk_server, chroot, caplog):
    from gateway import create_app
    from tests.conftest import make_config

    caplog.set_level(logging.INFO)
    app = create_app(make_config(zk_server.hosts, chroot, gateway={"access_log": "all"}))
    try:
        app.test_client().get("/servicelist", query_string={"key": OPS})
    finally:
        app.extensions["soa"].registry.stop()
    (access,) = records(caplog, "soa.access")
    assert access.fields["status"] == 200 and access.fields["endpoint"] == "servicelist"


def test_openapi_lists_every_route_and_validates(app, client):
    from openapi_spec_validator import validate

    document = client.get("/openapi.json").json
    validate(document)
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("ui.") or rule.endpoint.endswith("_slash"):
            continue  # the console's pages are not API; /x/ answers as /x
        path = re.sub(r"<(?:[a-z]+:)?(\w+)>", r"{\1}", rule.rule)
        assert path in document["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in document["paths"][path], (path, method)
    add_server = document["paths"]["/addserver"]["post"]
    names = {p["name"] for p in add_server["parameters"]}
    assert {"destName", "serverHost", "serverPort", "zkidc", "key"} <= names
    port = next(p for p in add_server["parameters"] if p["name"] == "serverPort")
    assert port["required"] is True and port["schema"]["maximum"] == 65535


def test_openapi_security_and_answers_without_slash_twins(client):
    document = client.get("/openapi.json").json
    paths = document["paths"]
    assert "/servicelist" in paths and "/servicelist/" not in paths
    assert not [p for p in paths if p != "/" and p.endswith("/") and p.rstrip("/") in paths]
    assert not [p for p in paths if p.startswith(("/ui", "/docs"))]
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
    assert {"Bearer", "PolarisToken", "ApiKeyQuery"} <= set(schemes)
    assert {"ApiKeyHeader": []} in document["security"]
    assert paths["/healthz"]["get"]["security"] == []
    answer = paths["/addserver"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/adminAnswer"}
    assert document["components"]["schemas"]["adminAnswer"]["properties"]["code"]["enum"] == [0, 1]
    polaris = next(op for path, ops in paths.items() if path.startswith("/v1/") for op in ops.values())
    assert polaris["responses"]["default"]["content"]["application/json"]["schema"]["$ref"].endswith("/polarisAnswer")
