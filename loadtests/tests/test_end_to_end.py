"""End to end on loopback: the real delay-echo, the pinned k6 through the loadtest for a few
seconds, then the analysis on the folder it wrote. Checks behaviour only (counts, names, lower bounds):
the machine is shared, so nothing here depends on how fast it is."""

from __future__ import annotations

import gzip
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadtests.analysis import metrics
from loadtests.analysis.analyse import criteria_for
from loadtests.analysis.report import build_report
from loadtests.analysis.runs import load_run
from loadtests.core.run import RunMeta
from loadtests.tests.servers import BIN, delay_echo

pytestmark = pytest.mark.live

HERE = Path(__file__).resolve().parent.parent
REPO = HERE.parent
K6 = os.environ.get("K6") or str(REPO / ".venv" / "bin" / "k6")
LOADTEST = [sys.executable, "-m", "loadtests.loadtest"]
SERVER_DELAY_MS = 20
ASKED_DELAY_MS = 60  # forwarded by the k6 script as ?delay=60ms; must win over the server's 20 ms


@pytest.fixture(scope="module")
def server():
    with delay_echo("--delay", f"{SERVER_DELAY_MS}ms", "--instance-id", "e2e-1") as url:
        yield url


def loadtest(results: Path, **env):
    e = {
        **os.environ,
        "K6": K6,
        "RESULTS": str(results),
        "MAX_RUN_TIME": "60",
        **env,
    }
    p = subprocess.run(LOADTEST, env=e, capture_output=True, text=True, timeout=150)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    return p


def test_smoke_run_writes_a_complete_folder_and_a_true_report(server, tmp_path):
    loadtest(
        tmp_path,
        PROFILE="smoke",
        TARGET=server,
        RATE="20",
        DURATION="3s",
        ECHO_DELAY=f"{ASKED_DELAY_MS}ms",
        MAX_CONCURRENCY="10",
    )
    (run_dir,) = [d for d in tmp_path.iterdir() if d.is_dir()]
    assert re.fullmatch(r"\d{8}T\d{6}Z-smoke", run_dir.name)
    for name in (
        "raw.csv.gz",
        "summary.txt",
        "summary.json",
        "dashboard.html",
        "options.json",
        "run.json",
    ):
        assert (run_dir / name).stat().st_size > 0, f"{name} is missing or empty"
    # Read through the schema: the loadtest writes a valid run.json.
    meta = RunMeta.read(run_dir)
    assert meta.profile == "smoke" and meta.target == server and meta.tool is None
    assert (
        meta.parameters["RATE"] == "20" and meta.parameters["ECHO_DELAY"] == f"{ASKED_DELAY_MS}ms"
    )
    assert meta.end_utc and meta.start_utc < meta.end_utc and meta.start_utc.endswith("Z")
    assert meta.git_revision and re.fullmatch(r"[0-9a-f]{40}|unknown", meta.git_revision)
    assert meta.k6_version and "v1.1.0" in meta.k6_version
    assert meta.k6_exit_code == 0 and meta.segment is None and meta.dropped_iterations == 0
    assert meta.service == {"MAX_CONCURRENCY": "10"}
    assert "echo_latency" in (run_dir / "summary.txt").read_text()
    with gzip.open(run_dir / "raw.csv.gz", "rt") as f:
        assert "extra_tags" in f.readline().split(",")

    run = load_run([run_dir])
    sec = metrics.per_second(run)
    summ = metrics.summary(run, sec)
    assert summ.requests > 0 and summ.errors == 0
    assert summ.instances == 1 and set(metrics.instances(run)["instance"]) == {"e2e-1"}
    # The query knob reached the service; never shorter than asked.
    assert summ.p50_ms is not None and summ.p50_ms >= ASKED_DELAY_MS
    assert summ.server_p50_ms is not None and summ.server_p50_ms >= ASKED_DELAY_MS
    assert run.planned.iloc[0] == pytest.approx(20)

    res = build_report(run, run_dir)
    assert (run_dir / "report.html").exists() and len(res.headline) == 1
    assert res.headline[0].instances_before == 1 and res.headline[0].new_instances == 0
    assert res.capacity.max_concurrency == 10.0


def test_two_generators_split_one_run_and_merge(server, tmp_path):
    env = dict(PROFILE="smoke", TARGET=server, RATE="20", DURATION="3s")
    procs = [
        subprocess.Popen(
            LOADTEST,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={
                **os.environ,
                "K6": K6,
                "RESULTS": str(tmp_path / f"g{i}"),
                "MAX_RUN_TIME": "60",
                "SEGMENT": str(i),
                "SEGMENTS": "2",
                **env,
            },
        )
        for i in (1, 2)
    ]
    for p in procs:
        out, _ = p.communicate(timeout=150)
        assert p.returncode == 0, out[-2000:]
    dirs = [next(d for d in (tmp_path / f"g{i}").iterdir() if d.is_dir()) for i in (1, 2)]
    assert [d.name.endswith(f"-smoke-seg{i}of2") for i, d in zip((1, 2), dirs, strict=True)] == [
        True,
        True,
    ]
    metas = [RunMeta.read(d) for d in dirs]
    assert [m.segment.segment if m.segment else None for m in metas] == ["0:1/2", "1/2:1"]
    halves = [load_run([d]) for d in dirs]
    merged = load_run(dirs)
    # Each generator drove its half; the merged run is the whole of it.
    assert [h.planned.iloc[0] for h in halves] == [pytest.approx(10), pytest.approx(10)]
    assert merged.planned.iloc[0] == pytest.approx(20)
    assert merged.n_requests == sum(h.n_requests for h in halves)
    assert all(h.n_requests > 0 for h in halves)
    c = criteria_for(merged)
    sec = metrics.per_second(merged)
    assert metrics.summary(merged, sec).instances == 1
    assert metrics.headline(merged, sec, c)[0].rate_after == pytest.approx(20)


def test_local_rehearsal_with_a_scale_out_reports_the_new_instance(tmp_path):
    # make loadtest-local in miniature (its fixed settings: the schedule policy, the spike profile,
    # an instant cold start): one instance, a spike at 4 s, a second instance started 8 s after
    # launch (k6 needs a second or two to start, so that lands inside the 8 s spike, after its first
    # second) joining through HAProxy, then the report. Asserts what happened, not how fast.
    env = {
        **os.environ,
        "K6": K6,
        "RESULTS": str(tmp_path),
        "DELAY_ECHO_BIN": str(BIN),
        "POLICY": "schedule",
        "PROFILE": "spike",
        "COLD_START": "0",
        "BASE_RATE": "10",
        "LEAD": "4s",
        "PEAK": "40",
        "HOLD": "8s",
        "TAIL": "0s",
        "LOCAL_SCALE_OUT": "8",
        "MAX_RUN_TIME": "60",
    }
    p = subprocess.run(
        [sys.executable, "-m", "loadtests.localplatform", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    (run_dir,) = [d for d in tmp_path.iterdir() if d.is_dir()]
    for name in ("report.md", "report.html", "service.log", "run.json"):
        assert (run_dir / name).exists()
    assert RunMeta.read(run_dir).service["MAX_CONCURRENCY"] == "10"
    run = load_run([run_dir])
    rows = metrics.headline(run, metrics.per_second(run), criteria_for(run))
    spike = [r for r in rows if r.rate_after == pytest.approx(40)]
    assert len(spike) == 1
    assert spike[0].instances_before == 1 and spike[0].new_instances == 1
    first_new = spike[0].first_new_instance_s
    assert first_new is not None and first_new > 0
    assert set(metrics.instances(run)["instance"]) == {"local-1", "local-2"}
    # The local platform (HAProxy) brought local-2 in once its /readyz said so.
    assert '"event":"ready","instance":"local-2"' in (run_dir / "platform.jsonl").read_text()


def _answered(server: str) -> float:
    """Echo requests the server has answered so far (its own counter)."""
    with urllib.request.urlopen(f"{server}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "delay_echo_requests_total" and s.labels.get("route") == "echo"
    )


def _started(results: Path, server: str, before: float, timeout: float = 60) -> Path:
    """The run folder, once the server has answered some of this run's requests: k6 then has
    samples to write when it is stopped (a folder or a CSV header alone is not enough)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        folders = [raw.parent for raw in results.glob("*/raw.csv.gz")]
        if folders and _answered(server) >= before + 5:
            return folders[0]
        time.sleep(0.2)
    raise AssertionError(f"no answered requests for the run in {results} within {timeout:g} s")


def test_ctrl_c_stops_k6_and_the_folder_still_records_the_run(server, tmp_path):
    # Ctrl-C reaches the whole foreground group: k6 stops and writes its results, and the loadtest
    # outlives it to write run.json with k6's exit code.
    env = {**os.environ, "K6": K6, "RESULTS": str(tmp_path), "PROFILE": "smoke"}
    env.update(TARGET=server, RATE="20", DURATION="60s")
    before = _answered(server)
    p = subprocess.Popen(LOADTEST, env=env, start_new_session=True, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)  # fmt: skip
    run_dir = _started(tmp_path, server, before)
    os.killpg(p.pid, signal.SIGINT)
    out, _ = p.communicate(timeout=90)
    meta = RunMeta.read(run_dir)
    assert p.returncode == meta.k6_exit_code and p.returncode not in (0, 99), out[-2000:]
    assert (run_dir / "summary.json").exists() and load_run([run_dir]).n_requests > 0


def test_max_run_time_interrupts_k6_and_exits_124(server, tmp_path):
    p = subprocess.run(
        [*LOADTEST, "--profile", "smoke", "--target", server, "--max-run-time", "2"],
        env={**os.environ, "K6": K6, "RESULTS": str(tmp_path), "RATE": "20", "DURATION": "60s"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 124 and "stopped after MAX_RUN_TIME=2s" in p.stderr, p.stderr[-2000:]
    run_dir = Path((tmp_path / ".last").read_text().strip())
    assert RunMeta.read(run_dir).k6_exit_code == 124
    assert load_run([run_dir]).n_requests > 0
