"""tests/conftest.py's eventually(): the wait every timing-dependent test relies on."""

import urllib.error

import pytest

from tests.conftest import eventually


def flaky(failures, error):
    """A check that raises ``error`` ``failures`` times, then answers "done"."""
    calls = []

    def check():
        calls.append(1)
        if len(calls) <= failures:
            raise error
        return "done"

    return check, calls


def test_an_error_before_the_condition_holds_is_retried():
    # A replica whose cache has not caught up yet answers HTTP 404.
    not_yet = urllib.error.HTTPError("http://replica/serverlist", 404, "Not Found", {}, None)
    check, calls = flaky(3, not_yet)
    assert eventually(check, timeout=10, interval=0.01) == "done"
    assert len(calls) == 4


def test_a_failed_assertion_is_retried():
    check, calls = flaky(2, AssertionError("not yet"))
    assert eventually(check, timeout=10, interval=0.01) == "done"
    assert len(calls) == 3


def test_an_error_that_lasts_past_the_deadline_is_raised():
    check, _ = flaky(10**9, KeyError("servers"))
    with pytest.raises(KeyError, match="servers"):
        eventually(check, timeout=0.2, interval=0.01)


def test_a_condition_that_never_holds_fails_clearly():
    with pytest.raises(AssertionError, match="condition not met within 0.2 s"):
        eventually(lambda: [], timeout=0.2, interval=0.01)
