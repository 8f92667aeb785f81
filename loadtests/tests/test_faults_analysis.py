"""The analysis of a run with FAULTS, on a synthetic run whose answers are worked out by hand: every
planned request accounted for (or the report says how many are not), and per fault what the platform
did (replaced, ejected, waited) and what the clients felt until recovery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from loadtests.analysis.analyse import analyse, criteria_for
from loadtests.analysis.platform import PlatformLogError
from loadtests.analysis.report import build_report
from loadtests.analysis.runs import RunError, load_run
from loadtests.tests.synth import EPOCH, Req, write_run

pytestmark = pytest.mark.platform
SCHEMA = json.loads((Path(__file__).parents[1] / "analysis" / "report.schema.json").read_text())
RATE, SECONDS = 20, 30
OPTIONS = {
    "scenarios": {
        "steady": {
            "executor": "constant-arrival-rate",
            "rate": RATE,
            "timeUnit": "1s",
            "duration": f"{SECONDS}s",
            "preAllocatedVUs": 10,
            "maxVUs": 100,
        }
    }
}
KILL_AT, REPLACED_READY, REPLACED_ROTATION = 10.2, 11.6, 11.7
HANG_AT, EJECTED, CONT, READMITTED = 20.1, 20.5, 22.1, 22.4
SLOW_AT, SLOW_END = 25.0, 27.0
DROPPED_AT = 21  # three arrivals k6 could not start (no VU free)


def platform_events() -> list[dict[str, Any]]:
    f = {
        1: {"fault": 1, "kind": "kill", "spec": "kill@10s"},
        2: {"fault": 2, "kind": "hang", "spec": "hang@20s:2s:oldest"},
        3: {"fault": 3, "kind": "slow", "spec": "slow@25s:2s:cpu=40ms"},
        4: {"fault": 4, "kind": "kill", "spec": "kill@29s:local-9"},
    }
    return [
        {
            "t": 0.0,
            "event": "platform",
            "policy_period_s": 1.0,
            "faults": [x["spec"] for x in f.values()],
        },
        *(
            {"t": 0.0, "event": e, "instance": i}
            for i in ("local-1", "local-2")
            for e in ("requested", "started", "ready", "in_rotation")
        ),
        {
            "t": KILL_AT,
            "event": "fault_applied",
            **f[1],
            "planned": EPOCH + 10.0,
            "instance": "local-2",
        },
        {
            "t": KILL_AT + 0.01,
            "event": "fault_exit",
            **f[1],
            "instance": "local-2",
            "exit_code": -9,
        },
        {"t": KILL_AT + 0.1, "event": "exit", "instance": "local-2", "exit_code": -9},
        {"t": 10.5, "event": "requested", "instance": "local-3"},
        {"t": REPLACED_READY, "event": "ready", "instance": "local-3"},
        {"t": REPLACED_ROTATION, "event": "in_rotation", "instance": "local-3"},
        {
            "t": HANG_AT,
            "event": "fault_applied",
            **f[2],
            "planned": EPOCH + 20.0,
            "instance": "local-1",
        },
        {"t": EJECTED, "event": "fault_ejected", **f[2], "instance": "local-1", "status": "DOWN"},
        {"t": CONT, "event": "fault_restored", **f[2], "instance": "local-1"},
        {"t": READMITTED, "event": "fault_readmitted", **f[2], "instance": "local-1"},
        {
            "t": SLOW_AT,
            "event": "fault_applied",
            **f[3],
            "planned": EPOCH + 25.0,
            "instance": "local-3",
        },
        {"t": SLOW_END, "event": "fault_restored", **f[3], "instance": "local-3"},
        {
            "t": 29.0,
            "event": "fault_skipped",
            **f[4],
            "planned": EPOCH + 29.0,
            "reason": "no serving instance",
        },
    ]


def requests(drop: int = 3) -> list[Req]:
    """20 req/s for 30 s, round-robin over the live instances; `drop` arrivals in second 21 never
    sent. Killed: local-2's requests in flight at 10.2 s (502) and none to it after; hung: local-1's
    requests from 20.1 s wait until 22.1 s; slowed: local-3's from 25 to 27 s take 60 ms more."""
    out: list[Req] = []
    skipped = 0
    for k in range(RATE * SECONDS):
        t = (k + 0.5) / RATE
        if int(t) == DROPPED_AT and skipped < drop:
            skipped += 1
            continue
        live = ["local-1", "local-2"] if t < KILL_AT else ["local-1", "local-3"]
        if KILL_AT <= t < REPLACED_ROTATION:
            live = ["local-1"]
        inst = live[k % len(live)]
        latency, status = 50.0, 200
        if inst == "local-2" and KILL_AT - 0.05 <= t < KILL_AT:
            latency, status, inst = 50.0, 502, "none"
        if inst == "local-1" and HANG_AT <= t < EJECTED:
            latency = (CONT - t) * 1000 + 50
        if inst == "local-3" and SLOW_AT <= t < SLOW_END:
            latency = 110.0
        out.append(Req(t, latency, status, inst))
    return out


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_run(
        tmp_path / "faults",
        requests(),
        OPTIONS,
        profile="steady",
        dropped=[(DROPPED_AT + 0.5, 3)],
        platform=platform_events(),
    )


def test_every_planned_request_is_accounted_for_once(run_dir):
    run = load_run([run_dir])
    acc = analyse(run, criteria_for(run)).accounting
    assert acc is not None
    assert (acc.planned, acc.answered, acc.failed, acc.dropped) == (600, 596, 1, 3)
    assert (acc.difference, acc.holds) == (0, True)


def test_requests_missing_from_the_count_are_reported(tmp_path):
    d = write_run(
        tmp_path / "lost",
        requests(drop=5),  # 5 never sent, only 3 reported dropped: 2 lost
        OPTIONS,
        profile="steady",
        dropped=[(DROPPED_AT + 0.5, 3)],
        platform=platform_events(),
    )
    run = load_run([d])
    out = tmp_path / "out"
    a = build_report(run, out)
    assert a.accounting is not None
    assert (a.accounting.difference, a.accounting.holds) == (2, False)
    assert "NOT BALANCED, +2 unaccounted for (allowed: ±1)" in (out / "report.md").read_text()


def test_each_fault_what_the_platform_did_and_what_the_clients_felt(run_dir):
    run = load_run([run_dir])
    kill, hang, slow, skipped = analyse(run, criteria_for(run)).faults

    assert (kill.instance, kill.exit_code, kill.response) == ("local-2", -9, "replaced")
    assert (kill.replaced_by, kill.replacement_ready_s) == (
        "local-3",
        pytest.approx(REPLACED_READY),
    )
    assert kill.planned_s == pytest.approx(10.0)
    # Second 10 broke the objective (a 502 in 20); from 11 on it holds, and capacity was back
    # (local-3 in rotation) at 11.7 s.
    assert kill.supply_back_s == pytest.approx(REPLACED_ROTATION)
    assert kill.recovered_s == pytest.approx(REPLACED_ROTATION - KILL_AT)
    assert kill.requests == 30 and kill.failed == 0  # the 502 started before the kill was logged

    assert (hang.instance, hang.response) == ("local-1", "ejected")
    assert (hang.ejected_s, hang.restored_s, hang.readmitted_s) == pytest.approx(
        (EJECTED, CONT, READMITTED)
    )
    # local-1's requests that arrived while it was hung and not yet out waited for SIGCONT: slower
    # than 250 ms except the last one. The objective (p95 per second) broke in second 20 only, so
    # recovery is capacity back at 22.4 s.
    assert hang.over_objective == 4
    assert hang.recovered_s == pytest.approx(READMITTED - HANG_AT)

    assert (slow.response, slow.restored_s) == ("waited", pytest.approx(SLOW_END))
    assert slow.recovered_s == pytest.approx(SLOW_END - SLOW_AT)
    assert (slow.failed, slow.over_objective) == (0, 0)

    assert (skipped.response, skipped.applied_s, skipped.note) == (
        "not applied",
        None,
        "no serving instance",
    )
    assert skipped.requests == 0


def test_the_report_has_the_faults_table_and_stays_valid(run_dir, tmp_path):
    out = tmp_path / "out"
    build_report(load_run([run_dir]), out)
    md = (out / "report.md").read_text()
    assert "## Faults" in md
    assert "Planned 600 = answered 596 + failed 1 + dropped by k6 3: every planned request" in md
    assert (
        "| 1 | kill@10s | local-2 | 10.00 s | 10.20 s | exit -9; local-3 ready at 11.60 s | replaced "
        "| 1.50 s | 1.50 s | 30 | 0 | 0 |" in md
    )
    assert "out of rotation at 20.50 s, SIGCONT at 22.10 s, back at 22.40 s | ejected |" in md
    assert "not applied: no serving instance" in md
    report = json.loads((out / "report.json").read_text())
    jsonschema.validate(report, SCHEMA)
    assert [f["response"] for f in report["faults"]] == [
        "replaced",
        "ejected",
        "waited",
        "not applied",
    ]
    assert report["accounting"]["holds"] is True


def test_a_run_without_faults_has_neither_section_nor_accounting(tmp_path):
    d = write_run(
        tmp_path / "plain",
        requests(drop=0),
        OPTIONS,
        profile="steady",
        platform=platform_events()[:1],
    )
    out = tmp_path / "out"
    a = build_report(load_run([d]), out)
    # The platform line asked for faults, so the count is checked even with none applied.
    assert a.faults == [] and a.accounting is not None
    d2 = write_run(tmp_path / "none", requests(drop=0), OPTIONS, profile="steady")
    b = build_report(load_run([d2]), tmp_path / "out2")
    assert b.faults == [] and b.accounting is None
    assert "## Faults" not in (tmp_path / "out2" / "report.md").read_text()
    jsonschema.validate(json.loads((tmp_path / "out2" / "report.json").read_text()), SCHEMA)


def test_a_fault_event_without_its_number_is_refused_with_where(tmp_path):
    d = write_run(
        tmp_path / "bad",
        requests(),
        OPTIONS,
        profile="steady",
        platform=[{"t": 1.0, "event": "fault_applied", "kind": "kill"}],
    )
    with pytest.raises(RunError, match=r'platform.jsonl:1: a fault_applied event needs "fault"'):
        load_run([d])
    assert issubclass(PlatformLogError, ValueError)
