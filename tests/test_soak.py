"""make soak: minutes of load on two gateway replicas (bench/soak.py).

Marked ``soak``: left out of make test, run by make soak. SOA_SOAK_SECONDS
sets the length of the load (default 180).
"""

import json
import os
import subprocess
import sys

import pytest

SECONDS = float(os.environ.get("SOA_SOAK_SECONDS", "180"))


@pytest.mark.soak
@pytest.mark.timeout(SECONDS + 600)
def test_two_replicas_under_load_lose_nothing_and_keep_flat_memory(tmp_path):
    report_path = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--seconds", str(SECONDS), "--json", str(report_path)],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        timeout=SECONDS + 540,
    )
    report = json.loads(report_path.read_text())
    assert report["errors"] == {}, report["error_samples"]
    assert report["lost_count"] == 0 and report["ghost_count"] == 0 and report["duplicated"] == []
    assert all(replica["flat"] for replica in report["rss_mib"].values()), report["rss_mib"]
    assert done.returncode == 0
