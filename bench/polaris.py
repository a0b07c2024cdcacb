"""Polaris discover type 1 of a 100-instance service against hello-world Flask:
the full answer (a client without the current revision) and the 200001
answer (a client polling with it)."""

import json
import urllib.request

from bench.harness import Figure, wrk

SERVICE = "bench.polaris"


def _call(stack, path, doc):
    request = urllib.request.Request(
        stack.url + path,
        data=json.dumps(doc).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "X-Polaris-Token": stack.key},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def run(stack):
    created = _call(stack, "/naming/v1/services", [{"name": SERVICE, "namespace": "default", "business": "bench"}])
    assert created["code"] == 200000, created
    for i in range(100):
        stack.post("/addserver?destName=%s&key=%s&serverHost=10.0.1.%d&serverPort=8080" % (SERVICE, stack.key, i + 1))
    ask = {"type": 1, "service": {"name": SERVICE, "namespace": "default"}}
    full = _call(stack, "/v1/Discover", ask)
    assert full["code"] == 200000 and len(full["instances"]) == 100, full.get("info")
    polled = dict(ask, service=dict(ask["service"], revision=full["service"]["revision"]))
    assert _call(stack, "/v1/Discover", polled)["code"] == 200001

    options = {"method": "POST", "headers": {"Content-Type": "application/json", "X-Polaris-Token": stack.key}}
    url = stack.url + "/v1/Discover"
    wrk(url, duration=2, body=json.dumps(ask), **options)  # warm up
    figures = []
    before = stack.hello_load(duration=5)
    floor = wrk(stack.url + "/healthz", duration=5)
    after = stack.hello_load(duration=5)
    # What every gateway answer costs (access log, metrics, request id): the ceiling of the ratios below.
    figures.append(
        Figure("gateway /healthz, the floor of every answer (req/s)", floor.rps, "req/s", (before.rps + after.rps) / 2)
    )
    for label, doc, target in (("full answer, 100 instances", ask, 0.5), ("200001, revision unchanged", polled, 0.8)):
        before = stack.hello_load(duration=5)
        load = wrk(url, duration=5, body=json.dumps(doc), **options)
        after = stack.hello_load(duration=5)
        baseline = (before.rps + after.rps) / 2  # the baseline on both sides of the measurement
        figures += [
            Figure("discover type 1, %s (req/s)" % label, load.rps, "req/s", baseline, target=target),
            Figure("discover type 1, %s p99 latency" % label, load.p99_ms, "ms"),
            Figure("discover type 1, %s errors" % label, load.errors, "", target=0, lower_is_better=True),
        ]
    return figures
