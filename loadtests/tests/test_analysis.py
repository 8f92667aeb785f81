"""The analysis on synthetic runs whose answers are known by construction: when the second instance
first answered, the second latency recovered, the Little's-law capacity, and that merging two
generators' folders gives the same report as the single run they were split from."""

from __future__ import annotations

import dataclasses
import gzip
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from loadtests.analysis import metrics
from loadtests.analysis.__main__ import main
from loadtests.analysis.analyse import criteria_for
from loadtests.analysis.bench import generate
from loadtests.analysis.bench.generate import Shape
from loadtests.analysis.report import build_compare, build_report
from loadtests.analysis.runs import RunError, load_run, parse_duration, planned_rate
from loadtests.core.run import RunMeta, Segment
from loadtests.tests.synth import Req, arrivals, ramping, write_run

RATE = 100
SECOND_INSTANCE_AT = 7.0  # i-b starts answering here
LATENCY_OK_FROM = 12  # p95 is 600 ms before this second, 90 ms after
ERRORS_UNTIL = 10  # 10 % of arrivals fail before this second


def spike_requests(extra_ms=0.0):
    """0 → 100 req/s at t=0 for 30 s; one instance until 7 s, two after; recovery at 12 s."""
    reqs = []
    for i, t in enumerate(arrivals(lambda s: RATE, 0, 30)):
        instance = "i-b" if t >= SECOND_INSTANCE_AT and i % 2 else "i-a"
        if t < ERRORS_UNTIL and i % 10 == 0:
            reqs.append(Req(t, 5.0 + extra_ms, 503, instance))
        else:
            reqs.append(Req(t, (600.0 if t < LATENCY_OK_FROM else 90.0) + extra_ms, 200, instance))
    return reqs


SPIKE_OPTIONS = ramping(RATE, [(RATE, "30s")])


@pytest.fixture
def spike(tmp_path):
    return write_run(
        tmp_path / "spike", spike_requests(), SPIKE_OPTIONS, service={"MAX_CONCURRENCY": "10"}
    )


def judge(run, **kw):
    c = criteria_for(run, **kw)
    sec = metrics.per_second(run)
    return c, sec, metrics.headline(run, sec, c)


def test_second_instance_is_reported_when_it_first_answered(spike):
    run = load_run([spike])
    _, sec, rows = judge(run)
    assert len(rows) == 1
    h = rows[0]
    assert h.onset_s == 0 and h.rate_after == pytest.approx(RATE)
    assert h.instances_before == 1
    assert h.new_instances == 1
    assert h.first_new_instance_s == pytest.approx(SECOND_INSTANCE_AT, abs=1.0)
    assert sec.loc[3, "instances"] == 1 and sec.loc[20, "instances"] == 2
    inst = metrics.instances(run).set_index("instance")
    assert inst.loc["i-b", "first_answer"] == pytest.approx(SECOND_INSTANCE_AT, abs=1.0)
    assert inst["share"].sum() == pytest.approx(1.0)


def test_recovery_at_the_known_second_with_damage_until_then(spike):
    run = load_run([spike])
    c, _, rows = judge(run)
    assert (
        c.slo_p95_ms == 250 and c.error_rate == 0.01 and c.seconds == 5
    )  # from the run's own knobs
    h = rows[0]
    assert h.recovery_s == LATENCY_OK_FROM
    # Every tenth arrival before ERRORS_UNTIL failed; all arrivals until the recovery are counted.
    assert h.errors == ERRORS_UNTIL * RATE // 10
    assert h.requests == LATENCY_OK_FROM * RATE
    assert h.worst_p95_ms == pytest.approx(600.0)
    assert h.max_latency_ms == pytest.approx(600.0)


def test_recovery_knobs_change_the_answer(spike):
    run = load_run([spike])
    # A looser latency objective leaves only the errors: recovery when they stop.
    assert judge(run, slo_ms=700)[2][0].recovery_s == ERRORS_UNTIL
    # Loose on both: the objective never broke.
    assert judge(run, slo_ms=700, error_rate=0.2)[2][0].recovery_s == 0
    # Demanding more good seconds than the window has remaining: no recovery.
    rows = judge(run, seconds=25)[2]
    assert rows[0].recovery_s is None and rows[0].errors == ERRORS_UNTIL * RATE // 10


def test_merge_of_two_generators_equals_the_single_run(tmp_path):
    reqs = spike_requests()
    single = load_run([write_run(tmp_path / "single", reqs, SPIKE_OPTIONS)])
    # Two generators, each with every other request and half the planned rate.
    halves = [
        write_run(
            tmp_path / f"g{k + 1}",
            reqs,
            SPIKE_OPTIONS,
            segment=Segment(k + 1, 2, ("0:1/2", "1/2:1")[k], "0,1/2,1"),
            rows_filter=lambda i, k=k: i % 2 == k,
        )
        for k in (0, 1)
    ]
    merged = load_run(halves)
    assert len(merged.dirs) == 2 and merged.n_requests == single.n_requests
    s1, m1 = metrics.per_second(single), metrics.per_second(merged)
    cols = [
        "planned",
        "sent",
        "errors",
        "ok_done",
        "p50",
        "p95",
        "p99",
        "max",
        "instances",
        "server_total_p50",
    ]
    pd.testing.assert_frame_equal(s1[cols], m1[cols])
    c = criteria_for(single)
    assert metrics.headline(single, s1, c) == metrics.headline(merged, m1, c)
    # Each half plans half the rate; together they plan the whole.
    half = load_run([halves[0]])
    assert half.planned.iloc[5] == pytest.approx(RATE / 2)


def test_generators_that_started_apart_share_one_clock(tmp_path):
    reqs = spike_requests()
    a = write_run(
        tmp_path / "a",
        reqs,
        SPIKE_OPTIONS,
        segment=Segment(1, 2, "0:1/2", "0,1/2,1"),
        rows_filter=lambda i: i % 2 == 0,
    )
    late = [Req(r.start, r.latency_ms, r.status, r.instance) for r in reqs]
    b = write_run(
        tmp_path / "b",
        late,
        SPIKE_OPTIONS,
        segment=Segment(2, 2, "1/2:1", "0,1/2,1"),
        rows_filter=lambda i: i % 2 == 1,
        origin=1_780_000_002.0,
    )  # this generator started 2 s later
    merged = load_run([a, b])
    assert merged.last_start == pytest.approx(29.995 + 2.0, abs=0.01)
    assert merged.planned.iloc[1] == pytest.approx(RATE / 2)  # only generator a before 2 s
    assert merged.planned.iloc[10] == pytest.approx(RATE)


def test_littles_law_capacity_against_the_measured_break(tmp_path):
    # A ramp 0 → 300 req/s over 60 s on one instance with C = 10 and 80 ms of service:
    # capacity 125 req/s; latency breaks once arrivals exceed it.
    rate = lambda s: 5 * s  # noqa: E731  (the planned rate averaged over second s is 5 s + 2.5)
    reqs = [
        Req(t, 1000.0 if rate(t) > 125 else 82.0, 200, "i-a", server_ms=80.0)
        for t in arrivals(rate, 0, 60)
    ]
    d = write_run(tmp_path / "ramp", reqs, ramping(0, [(300, "60s")]), profile="ramp")
    run = load_run([d])
    c = criteria_for(run)
    sec = metrics.per_second(run)
    assert metrics.headline(run, sec, c) == []  # a ramp has no sudden rise
    cap = metrics.capacity(run, sec, dataclasses.replace(c, max_concurrency=10))
    assert cap.service_ms == pytest.approx(80.0)
    assert cap.capacity_per_instance == pytest.approx(125.0)
    assert cap.instances_at_break == 1 and cap.capacity_at_break == pytest.approx(125.0)
    assert cap.break_offered == pytest.approx(125, abs=10)
    # Without the concurrency setting the capacity is left open rather than guessed.
    assert (
        metrics.capacity(run, sec, dataclasses.replace(c, max_concurrency=None)).capacity_at_break
        is None
    )


def test_planned_rate_and_jumps_follow_the_stages(tmp_path):
    opts = ramping(200, [(200, "1m0s"), (300, "0s"), (300, "1m0s")])
    plan = planned_rate(opts)
    assert len(plan) == 120
    assert plan.iloc[0] == pytest.approx(200) and plan.iloc[59] == pytest.approx(200)
    assert plan.iloc[60] == pytest.approx(300) and plan.iloc[119] == pytest.approx(300)
    ramp = planned_rate(ramping(0, [(100, "10s")]))
    assert ramp.iloc[0] == pytest.approx(5, abs=0.1) and ramp.iloc[9] == pytest.approx(95, abs=0.1)
    reqs = [Req(t, 80.0) for t in arrivals(lambda s: 200 if s < 60 else 300, 0, 120)]
    run = load_run([write_run(tmp_path / "step", reqs, opts, profile="step")])
    rows = judge(run)[2]
    assert [(r.onset_s, r.rate_before, r.rate_after) for r in rows] == [(0, 0, 200), (60, 200, 300)]
    assert [r.recovery_s for r in rows] == [0, 0]


def test_dropped_iterations_and_network_errors_are_counted(tmp_path):
    reqs = [Req(t, 80.0) for t in arrivals(lambda s: 10, 0, 10)] + [Req(5.5, 30000.0, 0)]
    run = load_run(
        [write_run(tmp_path / "d", reqs, ramping(10, [(10, "10s")]), dropped=[(5.2, 3), (5.7, 1)])]
    )
    sec = metrics.per_second(run)
    assert sec.loc[5, "dropped"] == 4 and sec["dropped"].sum() == 4
    assert sec.loc[5, "errors"] == 1
    assert metrics.summary(run, sec).instances == 1  # the failed request names no instance


@pytest.mark.parametrize(
    "text,seconds",
    [("1m0s", 60), ("250ms", 0.25), ("0s", 0), ("1h2m3.5s", 3723.5), ("500µs", 0.0005), ("0", 0)],
)
def test_go_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_bad_inputs_say_what_is_expected(tmp_path):
    with pytest.raises(RunError, match="no raw results"):
        load_run([tmp_path])
    with pytest.raises(RunError, match="not a directory"):
        load_run([tmp_path / "missing"])
    with pytest.raises(RunError, match="not a duration"):
        parse_duration("ten seconds")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "raw.csv").write_text("a,b\n1,2\n")
    with pytest.raises(RunError, match="missing columns"):
        load_run([tmp_path / "x"])


def test_report_files_are_complete_and_self_contained(spike, tmp_path):
    run = load_run([spike])
    out = tmp_path / "out"
    res = build_report(run, out)
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    assert (
        "| 1 | 0 s | 0 → 100 | 1 | 7.6 s (1 new) | 12 s | 100 of 1,200 (8.3%) | 600 ms | 600 ms |"
        in md
    )
    # Little's law with the recorded MAX_CONCURRENCY=10 and the mean server time of this run (272 ms).
    assert "| Little's-law capacity of one instance (C ÷ S) | 37 req/s |" in md
    for name in ("rate", "latency", "instances", "shares", "server_client"):
        png = out / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"plots/{name}.png" in md
    assert html.count("data:image/png;base64,") == 5
    assert 'src="http' not in html and "<script" not in html
    assert (out / "per_second.csv").exists()
    assert res.summary.p95_ms is not None and not math.isnan(res.summary.p95_ms)


def test_compare_puts_the_difference_in_the_table(tmp_path):
    a = load_run([write_run(tmp_path / "a", spike_requests(), SPIKE_OPTIONS)], label="direct")
    b = load_run(
        [write_run(tmp_path / "b", spike_requests(extra_ms=50), SPIKE_OPTIONS)], label="via proxy"
    )
    out = tmp_path / "cmp"
    res = build_compare(a, b, out)
    sa, sb = res[0].summary, res[1].summary
    assert sa.p50_ms is not None and sb.p50_ms is not None
    assert sb.p50_ms - sa.p50_ms == pytest.approx(50)
    md = (out / "report.md").read_text()
    assert "| latency p50 | 90.0 ms | 140.0 ms | 50.0 ms (+56%) |" in md
    # The table leads with average and maximum: every request of B took 50 ms longer.
    rows = md.split("## Differences", 1)[1].split("\n")
    first = [r.split(" | ")[0].strip("| ") for r in rows if r.startswith("| ")][1:3]
    assert first == ["latency average", "latency max"]
    assert sa.mean_ms is not None and sb.mean_ms is not None
    assert sb.mean_ms - sa.mean_ms == pytest.approx(50)
    assert sa.max_ms is not None and sb.max_ms is not None
    assert sb.max_ms - sa.max_ms == pytest.approx(50)
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 4


def test_cli_report_and_errors(spike, tmp_path, capsys):
    assert main(["report", str(spike)]) == 0
    assert (spike / "report.html").exists()
    assert "Headline" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["compare", str(spike), str(spike), "--out", str(tmp_path / "c")]) == 0


def test_repeated_bursts_each_get_their_own_row(tmp_path):
    # spikes: 10 req/s, burst to 100 at 10 s for 20 s, back to 10 for 60 s, burst again at 90 s.
    opts = ramping(
        10,
        [
            (10, "10s"),
            (100, "0s"),
            (100, "20s"),
            (10, "0s"),
            (10, "1m0s"),
            (100, "0s"),
            (100, "20s"),
        ],
    )
    rate = lambda s: 100 if 10 <= s < 30 or 90 <= s < 110 else 10  # noqa: E731
    reqs = []
    for i, t in enumerate(arrivals(rate, 0, 110)):
        # i-b joins the first burst at 15 s and is scaled in at 40 s; i-c joins the second at 96 s.
        if 15 <= t < 40 and i % 2:
            instance = "i-b"
        elif t >= 96 and i % 2:
            instance = "i-c"
        else:
            instance = "i-a"
        reqs.append(Req(t, 80.0, 200, instance))
    run = load_run([write_run(tmp_path / "spikes", reqs, opts, profile="spikes")])
    rows = judge(run)[2]
    assert [(r.onset_s, r.rate_before, r.rate_after, r.window_s) for r in rows] == [
        (0, 0, 10, 10),
        (10, 10, 100, 20),
        (90, 10, 100, 20),
    ]
    assert rows[1].instances_before == 1 and rows[1].first_new_instance_s == pytest.approx(5, abs=1)
    # i-b left 50 s before the second burst: only i-a was there, and i-c is the new one.
    assert rows[2].instances_before == 1 and rows[2].new_instances == 1
    assert rows[2].first_new_instance_s == pytest.approx(6, abs=1)


def test_report_command_runs_from_any_directory(spike, tmp_path):
    # The console script pip installs beside the interpreter (pyproject.toml [project.scripts]).
    tool = Path(sys.executable).with_name("delay-echo-analysis")
    p = subprocess.run(
        [str(tool), "report", str(spike), "--out", str(tmp_path / "r"), "--recovery-seconds", "3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert "3 consecutive seconds" in (tmp_path / "r" / "report.md").read_text()


def test_a_run_stopped_early_ends_its_windows_at_the_last_arrival(tmp_path):
    # Planned for 30 s, stopped (MAX_RUN_TIME, abort) after 20 s: no window may claim the missing 10 s.
    reqs = [r for r in spike_requests() if r.start < 20]
    run = load_run([write_run(tmp_path / "cut", reqs, SPIKE_OPTIONS)])
    (row,) = judge(run)[2]
    assert row.window_s == 20 and row.recovery_s == LATENCY_OK_FROM


def test_an_uncompressed_raw_csv_reads_the_same(spike, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("options.json", "run.json"):
        (plain / name).write_bytes((spike / name).read_bytes())
    with gzip.open(spike / "raw.csv.gz", "rb") as f:
        (plain / "raw.csv").write_bytes(f.read())
    a, b = load_run([spike]), load_run([plain])
    assert judge(a)[2] == judge(b)[2]
    assert b.n_requests == a.n_requests == 3000


def test_a_corrupt_gzip_file_is_a_clear_error(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    with gzip.open(d / "raw.csv.gz", "wt") as f:
        f.write("metric_name,timestamp,metric_value,status,extra_tags\n")
    (d / "raw.csv.gz").write_bytes((d / "raw.csv.gz").read_bytes() + b"not gzip at all" * 100)
    with pytest.raises(RunError, match="gzip"):
        load_run([d])


def test_the_benchmark_generator_writes_a_run_the_analysis_reads(tmp_path):
    # make bench-analysis's runs are real run folders: run.json of the schema, samples analysed.
    shape = Shape(requests=400, base=20, lead=5, peak=100)
    folder = generate.write_run(tmp_path / "bench", shape)
    meta = RunMeta.read(folder)
    assert meta.profile == "spike" and meta.service == {"MAX_CONCURRENCY": "20"}
    run = load_run([folder])
    assert run.n_requests == 400 and run.service == {"MAX_CONCURRENCY": "20"}


def test_each_report_option_has_an_environment_twin_and_the_flag_wins(spike, tmp_path, monkeypatch):
    monkeypatch.setenv("REPORT_RECOVERY_SECONDS", "3")
    monkeypatch.setenv("REPORT_OUT", str(tmp_path / "env"))
    assert main(["report", str(spike)]) == 0
    assert "3 consecutive seconds" in (tmp_path / "env" / "report.md").read_text()
    assert (
        main(["report", str(spike), "--recovery-seconds", "4", "--out", str(tmp_path / "f")]) == 0
    )
    assert "4 consecutive seconds" in (tmp_path / "f" / "report.md").read_text()
