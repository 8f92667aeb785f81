"""Elasticity metrics: the worked example of loadtests/README.md by hand and through a whole synthetic
run (clients' and platform's supply), the zero rule of the elastic speedup, the platform's events
per rise, and report.json / compare.json against their schema."""
# ruff: noqa: RUF003  (×, −, θ, τ, υ are the notation the report and its sources use)

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest

from loadtests.analysis import elasticity
from loadtests.analysis.__main__ import main
from loadtests.analysis.report import build_compare, build_report
from loadtests.analysis.runs import RunError, load_run
from loadtests.core.run import RunMeta
from loadtests.tests.synth import Req, arrivals, ramping, write_run

SCHEMA = json.loads((Path(__file__).parents[1] / "analysis" / "report.schema.json").read_text())

# The worked example: T = 30 s, demand 1 for 10 s then 3 for 20 s; supply 1 until 5 s into the
# rise, 2 for the next 5 s, then 3.
DEMAND = [1] * 10 + [3] * 20
SUPPLY = [1] * 15 + [2] * 5 + [3] * 10


def test_the_worked_example_by_hand():
    m = elasticity.metrics(DEMAND, SUPPLY)
    assert m.seconds == 30
    assert m.accuracy_u == pytest.approx(0.5)  # (2·5 + 1·5) / 30
    assert m.timeshare_u == pytest.approx(1 / 3)  # 10 / 30
    assert m.theta_u == pytest.approx(100 / 30 * (5 * 2 / 3 + 5 * 1 / 3))  # 16.7 %
    assert round(m.theta_u, 1) == 16.7
    assert m.tau_u == pytest.approx(100 / 3)
    assert m.accuracy_o == m.theta_o == m.timeshare_o == m.tau_o == 0
    assert m.missing_instance_seconds == 15
    assert elasticity.covered_after(DEMAND[10:], SUPPLY[10:]) == 10


def test_no_under_provisioning_gives_zero():
    m = elasticity.metrics(DEMAND, [3] * 30)
    assert m.accuracy_u == m.timeshare_u == m.theta_u == m.tau_u == m.missing_instance_seconds == 0
    # Three instances from the start are 2 too many for the first 10 s.
    assert m.accuracy_o == pytest.approx(20 / 30) and m.timeshare_o == pytest.approx(1 / 3)
    assert m.theta_o == pytest.approx(100 / 30 * 10 * 2)


def test_instability_and_jitter():
    # Demand rises at the 2nd step, supply one step early: two steps where they move differently.
    m = elasticity.metrics([1, 1, 2, 2], [1, 2, 2, 2])
    assert m.instability == pytest.approx(100 * 2 / 3)
    assert m.jitter == 0  # one adaptation each
    # Supply flapping under a flat demand: 4 adaptations in 5 s = 48 per minute, oscillating.
    assert elasticity.metrics([2] * 5, [2, 3, 2, 3, 2]).jitter == pytest.approx(4 / (5 / 60))


def test_demand_from_littles_law():
    # One instance with C = 8 and 80 ms serves exactly 100 req/s.
    assert list(elasticity.demand([0, 100, 101, 300], 0.08, 8)) == [1, 1, 2, 3]
    # At 70 % target utilisation 100 req/s already needs two.
    assert list(elasticity.demand([100], 0.08, 8, utilisation=0.7)) == [2]
    with pytest.raises(ValueError):
        elasticity.demand([1], 0.0, 8)


def test_speedup_ratios_and_the_zero_rule():
    a = elasticity.metrics(DEMAND, SUPPLY)
    b = elasticity.metrics(DEMAND, [1] * 10 + [2] * 5 + [3] * 15)  # half the provisioning lag
    eps, ratios = elasticity.speedup(a, b, 3, 3)
    by = {r.metric: r for r in ratios}
    assert by["theta_u"].ratio == pytest.approx(a.theta_u / b.theta_u)
    assert by["theta_o"].ratio == 1 and by["theta_o"].rule == "both 0"
    assert eps == pytest.approx((a.theta_u / b.theta_u * a.tau_u / b.tau_u) ** 0.25)
    assert eps > 1
    # B never under-provisions: its 0 counts as one second of one missing instance at peak demand.
    perfect = elasticity.metrics(DEMAND, DEMAND)
    _, ratios = elasticity.speedup(a, perfect, 3, 3)
    theta = next(r for r in ratios if r.metric == "theta_u")
    assert theta.ratio == pytest.approx(a.theta_u / (100 / 30 / 3)) and "B's 0" in theta.rule


C, SERVICE_MS = 10, 100.0  # one instance serves 100 req/s


def example_run(tmp_path: Path, name: str = "el", platform: list | None = None, lag: float = 5.0):
    """The worked example as a real run folder: 100 req/s for 10 s, then 300 req/s for 20 s; i-b
    answers from `lag` s after the rise, i-c from 2 × lag."""
    rate = lambda s: 100 if s < 10 else 300  # noqa: E731
    reqs = []
    for i, t in enumerate(arrivals(rate, 0, 30)):
        end = t + SERVICE_MS / 1000.0
        n = 1 + (end >= 10 + lag) + (end >= 10 + 2 * lag)
        reqs.append(Req(t, SERVICE_MS, 200, ("i-a", "i-b", "i-c")[i % n], server_ms=SERVICE_MS))
    opts = ramping(100, [(100, "10s"), (300, "0s"), (300, "20s")])
    return write_run(
        tmp_path / name, reqs, opts, service={"MAX_CONCURRENCY": str(C)}, platform=platform
    )


PLATFORM = [
    {"t": -1.0, "event": "ready", "instance": "i-a"},
    {
        "t": 10.4,
        "event": "decision",
        "policy": "knative",
        "current": 1,
        "desired": 3,
        "inputs": {"panic": True},
    },
    {"t": 10.5, "event": "requested", "instance": "i-b"},
    {"t": 10.6, "event": "started", "instance": "i-b"},
    {"t": 13.2, "event": "ready", "instance": "i-b"},
    {"t": 13.22, "event": "in_rotation", "instance": "i-b"},
    {"t": 13.25, "event": "first_request", "instance": "i-b"},
    {"t": 10.5, "event": "requested", "instance": "i-c"},
    {"t": 18.7, "event": "ready", "instance": "i-c"},
    {"t": 29.5, "event": "drain", "instance": "i-c"},
    {"t": 31.0, "event": "exit", "instance": "i-c"},
]


def test_a_run_shaped_like_the_worked_example_reports_its_values(tmp_path):
    a = build_report(load_run([example_run(tmp_path)]), tmp_path / "out")
    assert a.elasticity is not None and a.elasticity.peak_demand == 3
    (clients,) = a.elasticity.views
    assert clients.supply == "clients"
    whole = clients.whole
    assert whole.seconds == 30
    assert whole.accuracy_u == pytest.approx(0.5)
    assert whole.timeshare_u == pytest.approx(1 / 3)
    assert whole.theta_u == pytest.approx(100 / 30 * (5 * 2 / 3 + 5 / 3))
    assert whole.theta_o == 0 and whole.accuracy_o == 0
    rise = clients.rises[1]
    assert (rise.onset_s, rise.window_s, rise.covered_after_s) == (10, 20, 10)
    assert rise.metrics.missing_instance_seconds == 15
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| whole run | 30 s | 0.50 | 0.00 | 0.333 | 0.000 | 16.7 % | 0.0 % | 33.3 % |" in md
    assert "| rise 2 at 10 s | 20 s | 0.75 |" in md and "| 10 s |" in md
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["schema_version"] == 1
    assert report["elasticity"]["views"][0]["whole"]["theta_u"] == pytest.approx(16.6667, abs=1e-3)
    assert report["per_second"]["demand"][:12] == [1] * 10 + [3] * 2


def test_no_max_concurrency_means_no_elasticity_and_says_why(tmp_path):
    d = example_run(tmp_path)
    dataclasses.replace(RunMeta.read(d), service={}).write(d)
    a = build_report(load_run([d]), tmp_path / "out")
    assert a.elasticity is None and "max concurrency" in (a.elasticity_missing or "")
    assert "Not computed: no max concurrency" in (tmp_path / "out" / "report.md").read_text()
    jsonschema.validate(json.loads((tmp_path / "out" / "report.json").read_text()), SCHEMA)


def test_platform_log_gives_a_second_supply_view_and_a_table_per_rise(tmp_path):
    a = build_report(load_run([example_run(tmp_path, platform=PLATFORM)]), tmp_path / "out")
    assert a.elasticity is not None
    platform = a.elasticity.views[1]
    assert platform.supply == "platform"
    # Ready: 1 until second 12, 2 from second 13 (13.2 < 13.5), 3 from second 19 (18.7 < 19.5).
    assert list(a.per_second["supply_platform"][10:20]) == [1, 1, 1, 2, 2, 2, 2, 2, 2, 3]
    # i-c drains at 29.5 s: from the last second's midpoint on it no longer counts.
    assert a.per_second["supply_platform"][29] == 2
    assert platform.whole.missing_instance_seconds == 3 * 2 + 6 * 1 + 1
    assert platform.rises[1].covered_after_s == 9
    rise = a.platform_rises[1]
    assert rise.decision_s == pytest.approx(0.4) and rise.desired == 3
    assert rise.instance == "i-b"
    assert rise.requested_s == pytest.approx(0.5)
    assert rise.ready_s == pytest.approx(3.2) and rise.in_rotation_s == pytest.approx(0.0 + 3.22)
    assert rise.first_request_s == pytest.approx(3.25)
    assert rise.client_first_answer_s == pytest.approx(5.0, abs=0.01)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Platform events per rise" in md
    assert "| 2 | 10 s | 0.40 s | 3 | i-b | 0.50 s | 3.20 s | 3.22 s | 3.25 s | 5.0" in md
    jsonschema.validate(json.loads((tmp_path / "out" / "report.json").read_text()), SCHEMA)


def test_a_bad_platform_log_is_a_clear_error(tmp_path):
    d = example_run(tmp_path, platform=[{"t": 1.0, "event": "ready"}])
    with pytest.raises(RunError, match='needs "instance"'):
        load_run([d])
    (d / "platform.jsonl").write_text("{not json\n")
    assert main(["report", str(d)]) == 2


def test_compare_shows_the_elastic_speedup_with_each_ratio(tmp_path):
    slow = load_run([example_run(tmp_path, "slow", lag=5.0)], label="slow")
    fast = load_run([example_run(tmp_path, "fast", lag=2.0)], label="fast")
    out = tmp_path / "cmp"
    a, b = build_compare(slow, fast, out)
    assert a.elasticity and b.elasticity
    cmp = json.loads((out / "compare.json").read_text())
    jsonschema.validate(cmp, SCHEMA)
    speed = cmp["elastic_speedup"]
    ratios = {r["metric"]: r for r in speed["ratios"]}
    wa, wb = a.elasticity.views[0].whole, b.elasticity.views[0].whole
    assert ratios["theta_u"]["ratio"] == pytest.approx(wa.theta_u / wb.theta_u)
    assert ratios["tau_u"]["ratio"] == pytest.approx(wa.tau_u / wb.tau_u)  # 10 s vs 4 s short: 2.5
    assert ratios["tau_u"]["ratio"] == pytest.approx(2.5)
    assert ratios["theta_o"]["rule"] == "both 0" and ratios["tau_o"]["ratio"] == 1
    assert speed["value"] == pytest.approx((ratios["theta_u"]["ratio"] * 2.5) ** 0.25)
    md = (out / "report.md").read_text()
    assert f"Elastic speedup of B over A: {speed['value']:.2f}" in md
    assert "| τ_U (%) | 33.33 | 13.33 | 2.50 | — |" in md


def test_compare_takes_n_runs_the_first_the_baseline(tmp_path):
    folders = [
        example_run(tmp_path, name, lag=lag) for name, lag in (("a", 5.0), ("b", 2.0), ("c", 8.0))
    ]
    out = tmp_path / "three"
    assert main(["compare", *map(str, folders), "--out", str(out)]) == 0
    cmp = json.loads((out / "compare.json").read_text())
    jsonschema.validate(cmp, SCHEMA)
    assert [r["label"] for r in cmp["runs"]] == ["a", "b", "c"]
    speeds = {s["over"]: s["value"] for s in cmp["elastic_speedups"]}
    # B reacts sooner than the baseline, C later: above 1 and below 1.
    assert speeds["B"] > 1 > speeds["C"]
    assert cmp["elastic_speedup"]["value"] == speeds["B"]
    md = (out / "report.md").read_text()
    minus = "\N{MINUS SIGN}"
    assert f"|  | A | B | B {minus} A | C | C {minus} A |" in md
    assert "Elastic speedup of C over A" in md
    # Fewer than two runs is a usage error, exit 2.
    with pytest.raises(SystemExit) as err:
        main(["compare", str(folders[0])])
    assert err.value.code == 2
