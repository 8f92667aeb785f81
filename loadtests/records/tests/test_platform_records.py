"""A short local-platform run (real HAProxy, delay-echo instances, k6): its records.parquet holds
one record per answer the clients got, on the instance that gave it, inside the run's window."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime

import pytest

from loadtests.analysis.runs import load_run
from loadtests.core import tools
from loadtests.core.run import RunMeta
from loadtests.records import queries

pytestmark = [pytest.mark.live, pytest.mark.platform]

# How far a client's send and the server's arrival of the same request may be apart (loopback,
# HAProxy, k6's own timestamps): generous, since the test is about counts and windows.
CLOCKS_S = 1.0


def epoch(utc: str) -> float:
    return datetime.fromisoformat(utc.replace("Z", "+00:00")).timestamp()


def test_a_platform_run_leaves_records_that_count_what_the_clients_saw(tmp_path):
    env = {
        **os.environ,
        "K6": str(tools.k6().path),
        "RESULTS": str(tmp_path),
        "PYTHON": sys.executable,
        "DELAY_ECHO_BIN": str(tools.delay_echo().require()),
        "POLICY": "schedule",
        "SCHEDULE": "1:2",  # a second instance a second into the load
        "MAX_INSTANCES": "2",
        "COLD_START": "0",
        "DRAIN_DELAY": "0s",
        "PROFILE": "spike",
        "BASE_RATE": "20",
        "PEAK": "60",
        "LEAD": "1s",
        "HOLD": "2s",
        "TAIL": "0s",
        "MAX_RUN_TIME": "60",
    }
    p = subprocess.run(
        [sys.executable, "-m", "loadtests.localplatform", "run", "--no-report"],
        cwd=tools.REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    (run_dir,) = [d for d in tmp_path.iterdir() if d.is_dir() and not d.name.startswith(".")]
    assert (run_dir / "records.parquet").is_file()
    assert "records in" in p.stdout

    run = load_run([run_dir])
    clients = run.db.execute(
        "SELECT instance, count(*), min(t_start), max(t_start), "
        "count(*) FILTER (WHERE status BETWEEN 200 AND 299) "
        "FROM requests WHERE instance <> 'none' GROUP BY instance"
    ).fetchall()
    seen = {i: (n, run.origin + first, run.origin + last, ok) for i, n, first, last, ok in clients}
    assert set(seen) == {"local-1", "local-2"}, seen

    timeline = {r["instance"]: r for r in queries.run(run_dir, "instance_timeline").records()}
    assert {i: t["requests"] for i, t in timeline.items()} == {i: s[0] for i, s in seen.items()}
    meta = RunMeta.read(run_dir)
    assert meta.end_utc is not None
    window = (epoch(meta.start_utc), epoch(meta.end_utc))
    for instance, t in timeline.items():
        n, first, last, _ = seen[instance]
        # Started, ready, then served inside the run's window, and drained at the end.
        assert t["start_unix"] <= t["ready_unix"] <= t["first_request_unix"], t
        assert window[0] <= t["first_request_unix"] <= t["last_request_unix"] <= window[1], (
            t,
            window,
        )
        assert t["drain_unix"] >= t["last_request_unix"], t
        assert (
            abs(t["first_request_unix"] - first) < CLOCKS_S
            and abs(t["last_request_unix"] - last) < CLOCKS_S
        )
        assert t["requests_per_second"] == pytest.approx(
            n / (t["last_request_unix"] - t["first_request_unix"])
        )

    per_second = queries.run(run_dir, "per_second").records()
    for instance, (n, _, _, ok) in seen.items():
        mine = [r for r in per_second if r["instance"] == instance]
        assert sum(r["requests"] for r in mine) == n
        assert sum(r["s2xx"] for r in mine) == ok
        assert all(r["p50_total_ms"] >= 80.0 for r in mine), mine  # the 80 ms delay
    assert queries.run(run_dir, "latency_matrix").rows == [], "no relay legs on the platform"
