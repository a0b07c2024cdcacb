"""schemathesis against ``/openapi.json`` of a live gateway process: every
documented operation of every dialect, with valid and invalid data. No
answer is a 5xx, none carries a traceback, every one is in its dialect's
envelope.

Examples per operation and mode (valid, invalid): ``SOA_FUZZ_EXAMPLES``
(default 6) in ``make test``; ``SOA_FUZZ_SOAK_EXAMPLES`` (default 40, some
4,500 calls in all) in the soak-marked test that ``make soak`` runs.
"""

import json
import os
import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.conftest import OPS
from tests.fault_helpers import QUIET, gateway_on_own_prefix

EXAMPLES = int(os.environ.get("SOA_FUZZ_EXAMPLES", "6"))
# Short long polls; nothing lapses by itself meanwhile.
SECTIONS = {**QUIET, "discovery": {**QUIET["discovery"], "poll_timeout": 0.3}}
LONGEST_LINE = 8190  # gunicorn's limit on a request line (gateway/serve.py); longer ones get its own 414
TRACEBACK = (b"Traceback (most recent call last)", b'File "/', b"<!doctype html", b"<html")


@pytest.fixture(scope="module")
def gw(zk, zk_server, tmp_path_factory):
    with gateway_on_own_prefix(zk, zk_server, tmp_path_factory.mktemp("gateway"), SECTIONS) as (process, _):
        yield process


def dialect_of(path):
    if path.startswith("/discovery/"):
        return "discovery"
    if path.startswith(("/v1/", "/naming/")):
        return "polaris"
    if path.startswith("/api/instance"):
        return "instance"
    if path in ("/healthz", "/readyz", "/openapi.json"):
        return "json"
    if path == "/metrics":
        return "metrics"
    return "admin"


def envelope_problem(path, status, content_type, body, request_line=0):
    """What is wrong with an answer, or None."""
    if status == 414 and request_line > LONGEST_LINE:
        return None  # refused by the HTTP server before any dialect sees it
    if status >= 500:
        return "a %d" % status
    if any(marker in body for marker in TRACEBACK):
        return "traceback or HTML in the body"
    dialect = dialect_of(path)
    if dialect == "metrics":
        return None if content_type.startswith("text/plain") else "metrics not text/plain"
    if dialect == "instance" and content_type.startswith("text/plain"):
        return None if body.strip() else "an empty text answer"
    if not content_type.startswith("application/json"):
        return "%s answered %s" % (dialect, content_type or "no content type")
    try:
        doc = json.loads(body)
    except ValueError:
        return "not JSON"
    if dialect == "discovery":
        if status != 200 or not isinstance(doc.get("code"), int) or "message" not in doc:
            return "not the discovery envelope"
    elif dialect == "polaris":
        if not isinstance(doc.get("code"), int) or doc["code"] // 1000 != status or "info" not in doc:
            return "not the Polaris envelope"
    elif dialect == "admin":
        if doc.get("code") not in (0, 1) or (doc["code"] == 0 and not doc.get("reason")):
            return "not the admin envelope"
    elif dialect == "instance" and status >= 400:
        return "an instance API error in JSON"
    return None


def run_fuzz(base, examples):
    """Every operation, valid and invalid data; returns (calls, problems)."""
    schema = schemathesis.openapi.from_url(base + "/openapi.json")
    session = requests.Session()
    calls, problems = [0], []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40  # every dialect is documented
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=False,
                suppress_health_check=list(HealthCheck),
            )
            def check(case):
                try:
                    response = case.call(base_url=base, session=session, headers={"X-Api-Key": OPS}, timeout=15)
                except (requests.RequestException, ValueError) as exc:  # the client would not even send it
                    if "Invalid" in type(exc).__name__ or isinstance(exc, ValueError):
                        return
                    raise
                calls[0] += 1
                content_type = (response.headers.get("content-type") or [""])[0]
                line = len(response.request.method) + len(response.request.url) + 10
                problem = envelope_problem(
                    case.operation.path, response.status_code, content_type, response.content, line
                )
                if problem:
                    problems.append(
                        "%s %s: %s -> %d %r"
                        % (
                            case.operation.method.upper(),
                            case.operation.path,
                            problem,
                            response.status_code,
                            response.content[:300],
                        )
                    )

            try:
                check()
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE  # nothing to get wrong: no parameters, no body
            except Exception as exc:  # noqa: BLE001 - a generation problem of one operation is reported, not fatal
                problems.append(
                    "%s %s (%s): %s: %s"
                    % (operation.method.upper(), operation.path, mode.value, type(exc).__name__, str(exc)[:300])
                )
    return calls[0], problems


def fuzz(gw, examples, at_least):
    started = time.monotonic()
    calls, problems = run_fuzz(gw.url, examples)
    took = time.monotonic() - started
    print("schemathesis: %d calls in %.0f s (%d examples per operation and mode)" % (calls, took, examples))
    assert not problems, "\n".join(problems[:30])
    assert calls >= at_least
    with open(gw.log_path, "rb") as log:
        assert b"Traceback" not in log.read()


@pytest.mark.timeout(600)  # ~30 s on an idle machine, minutes on a busy one: the default 120 s cut it short
def test_every_endpoint_answers_in_its_envelope_without_5xx(gw):
    fuzz(gw, EXAMPLES, at_least=100)


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_thousands_of_examples_answer_in_their_envelopes_without_5xx(gw):
    fuzz(gw, int(os.environ.get("SOA_FUZZ_SOAK_EXAMPLES", "40")), at_least=3000)
