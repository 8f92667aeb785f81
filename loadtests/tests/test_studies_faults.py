"""STUDY_FAULTS (issue 22 point 4): a degraded link in a study's variant run, at its time and for
its span, with its events in the variant's faults.jsonl; and a bad fault refused before anything
starts. The ground truth is the study's own: the added delay, against the same run's requests
outside the fault."""

from __future__ import annotations

import csv
import gzip
import json
import statistics
import subprocess
import sys

import pytest

from loadtests.core import tools
from loadtests.mesh.matrix import TOLERANCE_MS


def _study(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadtests.studies", "run", "cdn", *args],
        cwd=tools.REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "faults, message",
    [
        ("degrade@1s:1s:user-mars:+5ms", "is not two hosts; hosts: user, edge, origin"),
        ("cut@1s:1s:user-edge", "kinds: partition | degrade"),
    ],
)
def test_a_bad_fault_is_refused_with_exit_2_before_anything_starts(tmp_path, faults, message):
    r = _study("--short", "--results", str(tmp_path), "--faults", faults)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr
    assert not any(tmp_path.iterdir()), "nothing was started"


@pytest.mark.live
@pytest.mark.netns
@pytest.mark.faults
def test_a_degraded_link_slows_the_variant_by_its_delay_for_its_span_only(tmp_path):
    r = _study(
        "--short", "--variant", "A", "--results", str(tmp_path),
        "--faults", "degrade@3s:3s:user-origin:+20ms",
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    (folder,) = [d for d in tmp_path.iterdir() if d.is_dir()]
    events = [json.loads(line) for line in (folder / "A" / "faults.jsonl").open()]
    assert [e["event"] for e in events] == [
        "load_start",
        "fault_applied",
        "fault_restored",
        "load_end",
    ]
    applied, restored = events[1], events[2]
    assert 0 <= applied["time"] - applied["planned"] < 0.5 and applied["extra_ms"] == 20.0
    # Each request by its start (k6 stamps a sample when it ends), away from the edges of the
    # span by more than a round trip.
    with gzip.open(folder / "A" / "raw.csv.gz", "rt") as f:
        took = [
            (float(row["timestamp"]) / 1000 - float(row["metric_value"]) / 1000, float(row["metric_value"]))
            for row in csv.DictReader(f)
            if row["metric_name"] == "http_req_duration"
        ]  # fmt: skip
    inside = [ms for t, ms in took if applied["time"] + 0.2 <= t < restored["time"] - 0.2]
    outside = [ms for t, ms in took if not applied["time"] - 0.2 <= t < restored["time"] + 0.2]
    assert len(inside) >= 20 and len(outside) >= 40, (len(inside), len(outside))
    # 20 ms more each way on the user–origin link: the round trip 40 ms longer, within the
    # lab's tolerance, against the same run's requests outside the fault.
    rise = statistics.median(inside) - statistics.median(outside)
    assert abs(rise - 40) <= TOLERANCE_MS, (rise, statistics.median(outside))
    assert min(inside) >= min(outside) + 40 - TOLERANCE_MS
