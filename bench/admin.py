"""Admin API: serverlist of a 100-server service against hello-world Flask."""

from bench.harness import Figure, wrk


def run(stack):
    stack.post("/addservice?destName=bench.svc&key=%s" % stack.key)
    for i in range(100):
        stack.post("/addserver?destName=bench.svc&key=%s&serverHost=10.0.0.%d&serverPort=8080" % (stack.key, i + 1))
    url = stack.url + "/serverlist?destName=bench.svc&key=%s" % stack.key
    wrk(url, duration=2)  # warm up
    before = stack.hello_load(duration=5)
    listing = wrk(url, duration=5)
    after = stack.hello_load(duration=5)
    baseline = (before.rps + after.rps) / 2  # the baseline on both sides of the measurement
    return [
        Figure("serverlist, 100 servers (req/s)", listing.rps, "req/s", baseline, target=0.5),
        Figure("serverlist p99 latency", listing.p99_ms, "ms"),
        Figure("serverlist errors", listing.errors, "", target=0, lower_is_better=True),
    ]
