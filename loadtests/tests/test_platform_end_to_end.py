"""The local platform end to end on loopback: real HAProxy, real delay-echo instances, the pinned k6.

A short spike under the KPA (windows shortened by its knobs) must scale out; the platform's own record
of the new instance (platform.jsonl) must agree with what the clients saw (the report), and nothing
the platform started may outlive it, also when it is interrupted or cannot start. Behaviour only:
the one time asserted is the agreement of two clocks on the same event, within 1 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from loadtests.analysis.runs import load_run
from loadtests.core import tools
from loadtests.core.events import read
from loadtests.localplatform.haproxy import find_binary
from loadtests.localplatform.instances import parse_metrics
from loadtests.tests.platform_runs import RUN, interrupted_run
from loadtests.tests.servers import delay_echo

pytestmark = [pytest.mark.live, pytest.mark.platform]

HERE = Path(__file__).resolve().parent.parent
REPO = tools.REPO
BIN = tools.delay_echo().path
K6 = str(tools.k6().path)
SCHEMA = json.loads((HERE / "analysis" / "report.schema.json").read_text())


def platform_env(results: Path, **knobs: str) -> dict[str, str]:
    return {
        **os.environ,
        "K6": K6,
        "RESULTS": str(results),
        "PYTHON": sys.executable,
        "DELAY_ECHO_BIN": str(BIN),
        "MAX_RUN_TIME": "60",
        **knobs,
    }


def started_pids(events: list[dict]) -> list[int]:
    pids = [e["pid"] for e in events if e["event"] == "started"]
    pids += [e["haproxy"]["pid"] for e in events if e["event"] == "platform"]
    return pids


def assert_gone(pids: list[int]) -> None:
    assert pids
    for pid in pids:
        # Reaped children leave the process table; a recycled PID would not be one of ours.
        cmd = Path(f"/proc/{pid}/cmdline")
        alive = cmd.exists() and any(n in cmd.read_bytes() for n in (b"delay-echo", b"haproxy"))
        assert not alive, f"process {pid} outlived the platform"


@pytest.fixture(scope="module", autouse=True)
def _needs_parts():
    assert BIN.exists(), (
        f"{BIN} is missing: build it with cargo build --release --locked (make test does)"
    )
    find_binary("haproxy")  # raises with how to install it


def test_a_knative_spike_scales_out_and_the_platform_log_agrees_with_the_report(tmp_path):
    env = platform_env(
        tmp_path,
        POLICY="knative",
        KPA_STABLE_WINDOW="10s",  # panic window 1 s: the surge is seen within a tick or two
        MAX_INSTANCES="2",
        COLD_START="1s",
        DRAIN_DELAY="1s",
        BASE_RATE="10",
        LEAD="4s",
        PEAK="200",
        HOLD="12s",
        TAIL="0s",
    )
    p = subprocess.run(
        RUN,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    (run_dir,) = [d for d in tmp_path.iterdir() if d.is_dir() and not d.name.startswith(".")]
    for name in (
        "platform.jsonl",
        "service.log",
        "haproxy.log",
        "haproxy.cfg",
        "report.md",
        "run.json",
    ):
        assert (run_dir / name).exists(), name
    events = read(run_dir / "platform.jsonl")

    # The policy decided to scale out, for the reason the KPA gives (panic), and the count held.
    decisions = [e for e in events if e["event"] == "decision"]
    out = [d for d in decisions if d["desired"] > d["current"]]
    assert out and out[0]["inputs"]["panic"] and out[0]["inputs"]["over_panic_threshold"], decisions
    assert max(d["desired"] for d in decisions) == 2  # MAX_INSTANCES

    # Instance 2 went through its life in order, and its cold start was delay-echo's startup delay.
    phases = {e["event"]: e for e in events if e.get("instance") == "local-2"}
    order = ["requested", "started", "ready", "in_rotation", "first_request", "exit"]
    assert all(p in phases for p in order), phases.keys()
    times = [phases[p]["time"] for p in order]
    assert times == sorted(times), {p: phases[p]["time"] for p in order}
    assert phases["requested"]["cold_start"] == "1s" and phases["listening"]["cold_start_s"] == 1.0
    assert phases["ready"]["time"] - phases["started"]["time"] >= 1.0
    assert "startup_delay=1s" in (run_dir / "service.log").read_text()

    # The clients saw the same instance arrive: report.json (valid against its schema) places the first
    # new instance's first answer within 1 s of the platform's `ready` (HAProxy's next check, one 80 ms
    # request and the 0.1 s probes in between).
    report = json.loads((run_dir / "report.json").read_text())
    jsonschema.validate(report, SCHEMA)
    spike = [r for r in report["headline"] if r["rate_after"] == pytest.approx(200)]
    assert len(spike) == 1 and spike[0]["new_instances"] == 1, report["headline"]
    origin = load_run([run_dir]).origin  # the epoch second the report's times count from
    seen = origin + spike[0]["onset_s"] + spike[0]["first_new_instance_s"]
    assert abs(seen - phases["ready"]["time"]) < 1.0, (seen, phases["ready"]["time"])
    assert (
        f"{spike[0]['first_new_instance_s']:.1f} s (1 new)" in (run_dir / "report.md").read_text()
    )

    assert_gone(started_pids(events))
    assert any(e["event"] == "haproxy_exit" for e in events)


def test_an_interrupted_study_stops_everything_it_started_and_keeps_its_log(tmp_path):
    env = platform_env(
        tmp_path,
        POLICY="schedule",
        SCHEDULE="0:2",
        MAX_INSTANCES="2",
        COLD_START="0",
        PROFILE="smoke",
        RATE="5",
        DURATION="60s",
    )
    # Two instances ready, then 2 s of k6 running before the Ctrl-C.
    run_dir = interrupted_run(
        tmp_path,
        env,
        lambda log: "local-2" in log and '"ready"' in log,
        "the platform had two instances running",
        settle_s=2,
    )
    events = read(run_dir / "platform.jsonl")
    assert any(e["event"] == "interrupted" for e in events)
    exits = {e["instance"] for e in events if e["event"] == "exit"}
    assert exits == {"local-1", "local-2"}
    assert_gone(started_pids(events))
    assert (
        json.loads((run_dir / "run.json").read_text())["profile"] == "smoke"
    )  # k6 still wrote its run


def test_a_platform_that_cannot_start_says_why_and_leaves_nothing_running(tmp_path):
    env = platform_env(tmp_path, POLICY="hpa", HAPROXY="/bin/false")
    p = subprocess.run(
        RUN,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 1
    assert "HAProxy refused its configuration" in p.stderr
    (kept,) = tmp_path.glob("platform-*-no-run")
    events = read(kept / "platform.jsonl")
    assert [e["event"] for e in events][-1] == "summary"
    assert not [e for e in events if "instance" in e]


def test_the_platform_reads_a_real_scrape_with_prometheus_clients_parser():
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with delay_echo("--delay", "0", "--max-concurrency", "4") as url:
        direct.open(f"{url}/?delay=0", timeout=5).read()
        direct.open(f"{url}/readyz", timeout=5).read()
        text = direct.open(f"{url}/metrics", timeout=5).read().decode()
    m = parse_metrics(text)
    # The echo route only; the scrape itself is in flight while it is answered.
    assert (m.echo_answered, m.queued) == (1, 0) and m.in_flight <= 1
    with pytest.raises(ValueError):
        parse_metrics("delay_echo_in_flight_requests{ 1\n")
