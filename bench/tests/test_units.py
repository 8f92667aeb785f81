"""Unit tests of the harness's pure parts: parsers, percentiles, the steady-state cut, verdicts.

These run in milliseconds and pin down the arithmetic the report rests on, with inputs whose
right answer is known by hand; the quick run (test_quick.py) checks the moving parts.
"""

import json
import math
import os
import sqlite3
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest

from bench import coldstart, harness, loadgen, procs, report
from bench.results import (
    ClosedRun,
    ClosedSeries,
    ClosedSummary,
    ColdStart,
    Idle,
    Meta,
    OpenRun,
    OpenSeries,
    OpenSummary,
    Results,
    to_json,
)

WRK_LINE = (
    "Running 1s test @ http://127.0.0.1:1/\n  1 threads and 64 connections\n"
    'BENCH-JSON {"requests":120000,"duration_us":2000000,"bytes":1,'
    '"errors":{"connect":0,"read":2,"write":0,"status":3,"timeout":1},'
    '"latency_us":{"min":80,"mean":500.0,"p50":450,"p90":800,"p99":1500,"p999":3000,"max":9000}}\n'
)


def test_wrk_line_is_parsed_into_rate_latency_and_errors():
    s = loadgen.wrk_summary(loadgen.parse_wrk(WRK_LINE))
    assert s.rps == 60000
    assert (s.p50_ms, s.p99_ms, s.max_ms) == (0.45, 1.5, 9.0)
    assert s.errors == 6
    assert s.errors_by_kind["status"] == 3


def test_wrk_output_without_the_hook_line_is_an_error_naming_the_script():
    with pytest.raises(procs.BenchError, match=r"wrk_json\.lua"):
        loadgen.parse_wrk("Running 1s test\nRequests/sec: 1.00\n")


@pytest.mark.parametrize(
    ("p", "expected"),
    [(50, 50), (99, 99), (99.9, 100), (100, 100), (0.5, 1), (1, 1)],
)
def test_nearest_rank_percentile_of_1_to_100(p, expected):
    assert loadgen.nearest_rank(list(range(1, 101)), p) == expected


def test_nearest_rank_of_nothing_is_nan():
    assert math.isnan(loadgen.nearest_rank([], 50))


def make_oha_db(path, rows):
    """An sqlite file with oha's schema (src/db.rs of oha 1.16) holding (scheduled start s, duration s, status)."""
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE oha (url TEXT NOT NULL, start REAL NOT NULL, start_latency_correction REAL,"
        " end REAL NOT NULL, duration REAL NOT NULL, status INTEGER NOT NULL, len_bytes INTEGER NOT NULL,"
        " run INTEGER NOT NULL)"
    )
    for sched, dur, status in rows:
        con.execute(
            "INSERT INTO oha VALUES ('http://127.0.0.1:1/', ?, ?, ?, ?, ?, 2, 1)",
            (sched + 0.0001, sched, sched + dur, dur, status),
        )
    con.commit()
    con.close()


def test_steady_state_drops_the_warm_up_and_counts_early_answers(tmp_path):
    db = tmp_path / "o.sqlite"
    # Warm-up (scheduled before 1 s): slow and early answers that must not count.
    rows = [(0.1, 0.500, 200), (0.5, 0.0790, 200)]
    # Steady state: 0.0801 .. 0.0900 s, one early answer at 79.9 ms, one 503.
    rows += [(1.0 + i / 100, 0.0800 + i / 10000, 200) for i in range(1, 101)]
    rows += [(2.5, 0.0799, 200), (2.6, 0.0810, 503)]
    make_oha_db(db, rows)
    s = loadgen.steady_state(db, warmup_s=1.0)
    assert s.answers == 102
    assert s.min_ms == pytest.approx(79.9)
    assert s.below_80ms == 1
    assert s.non_200 == 1
    assert s.max_ms == pytest.approx(90.0)
    assert 80.4 < s.p50_ms < 85.2


def test_oha_json_summary_yields_error_counts():
    text = json.dumps(
        {
            "summary": {"successRate": 0.99, "requestsPerSec": 7990.5},
            "errorDistribution": {"aborted due to deadline": 3, "connection closed": 2},
            "statusCodeDistribution": {"200": 79000},
        }
    )
    s = loadgen.parse_oha_json(text)
    assert s.errors == 5
    assert s.rps_whole_run == 7990.5
    assert s.status_codes == {"200": 79000}


def test_h2load_log_keeps_what_started_after_the_warm_up_and_marks_failures():
    # start µs since the epoch, status (-1: failed stream), µs to the end of the response
    log = "1000000\t200\t95000\n2000000\t200\t80500\n2100000\t-1\t0\n2200000\t503\t81000\n\n"
    durations, statuses = loadgen.parse_h2load_log(log, since_epoch_us=1500000)
    assert durations == [80.5, 0.0, 81.0]
    assert statuses == [200, -1, 503]
    steady = loadgen.latency_summary(durations, statuses)
    assert steady.answers == 3 and steady.non_200 == 2 and steady.below_80ms == 1


def test_h2load_summary_line_yields_error_counts():
    out = "finished in 1.50s\nrequests: 960 total, 1024 started, 950 done, 940 succeeded, 10 failed, 4 errored, 2 timeout\n"
    assert loadgen.parse_h2load_errors(out) == {"failed": 10, "errored": 4, "timeout": 2}
    with pytest.raises(procs.BenchError, match=r"no .requests:. summary line"):
        loadgen.parse_h2load_errors("h2load: connection refused\n")


def test_open_model_connections_cover_twice_the_in_flight_requests():
    # 8,000 req/s x 80 ms = 640 in flight on average.
    assert loadgen.oha_connections(8000, 0.080) >= 1280
    assert loadgen.oha_connections(1000, 0.080) >= 160
    assert loadgen.oha_connections(10, 0.0) == 64


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1:80/", "http://example.com/", "https://127.0.0.1:1/"]
)
def test_load_generators_refuse_anything_but_loopback(url):
    with pytest.raises(procs.BenchError, match="only loads loopback"):
        loadgen.check_loopback(url)


def test_status_line_parsing():
    assert procs.parse_status_line(b"HTTP/1.1 200 OK\r\n") == 200
    assert procs.parse_status_line(b"HTTP/1.1 503 Service Unavailable\r\n") == 503
    assert procs.parse_status_line(b"") is None
    assert procs.parse_status_line(b"garbage") is None


def test_cpu_and_memory_of_this_process_are_readable():
    assert procs.cpu_ticks(os.getpid()) >= 0
    assert procs.status_kib(os.getpid(), "VmRSS") > 0
    assert procs.thread_count(os.getpid()) >= 1


# --- verdicts ------------------------------------------------------------------------------


def closed(rps, cpu=None, p99=1.0, rss=None, errors=0):
    return ClosedSeries(
        runs=[],
        summary=ClosedSummary(
            rps=rps,
            cpu_us_per_req=cpu,
            p50_ms=1.0,
            p99_ms=p99,
            max_ms=2.0,
            peak_rss_kib=rss,
            established=None,
            backlog=4096,
            errors=errors,
            rounds=1,
        ),
    )


def opened(mn, p50, p99, early=0, errors=0):
    return OpenSeries(
        runs=[],
        summary=OpenSummary(
            achieved_rps=8000,
            answers=80000,
            min_ms=mn,
            p50_ms=p50,
            p99_ms=p99,
            max_ms=99.0,
            below_80ms=early,
            errors=errors,
            rounds=1,
        ),
    )


def cold(median_ms):
    return ColdStart(starts_ms=[median_ms], median_ms=median_ms, min_ms=1.0, max_ms=9.0, argv=["x"])


def idle(kib):
    return Idle(
        idle_rss_kib=kib, threads=1, server_cpus="0", binary="/bin/x", binary_bytes=1_000_000
    )


def results(
    de_cpu=5.0,
    de_min=80.05,
    de_p50=80.2,
    de_p99=81.0,
    de_rps=70000,
    de_p99_s2=100.0,
    de_rss_kib=50000,
    cold_ms=5.0,
    idle_kib=3000,
    errors=0,
):
    s1 = {
        rate: {
            "delay-echo": opened(de_min, de_p50, de_p99, errors=errors),
            "nginx-echo": opened(79.1, 80.3, 84.5),
        }
        for rate in ("1000", "4000", "8000")
    }
    return Results(
        meta=Meta(servers=report.SERVERS),
        s0={
            "delay-echo": closed(100000, de_cpu),
            "nginx-echo": closed(125000, 7.7),
            "go-sleep": closed(75000, 13.3),
        },
        s1=s1,
        s2={
            "delay-echo": closed(de_rps, p99=de_p99_s2, rss=de_rss_kib),
            "nginx-echo": closed(57900, p99=214.0, rss=108000),
        },
        s3={"delay-echo": cold(cold_ms), "nginx-echo": cold(7.5)},
        s4={"delay-echo": idle(idle_kib), "nginx-echo": idle(18000)},
    )


def verdicts(res):
    return [(r.scenario, r.target, r.verdict) for r in report.evaluate(res)]


def test_all_targets_pass_when_delay_echo_leads():
    v = verdicts(results())
    assert len(v) == 10
    assert all(verdict == "PASS" for _, _, verdict in v), v


@pytest.mark.parametrize(
    ("change", "missed"),
    [
        ({"de_cpu": 6.2}, "server CPU per request"),  # 6.2 / 7.7 = 0.805 > 0.8
        ({"de_min": 79.99}, "no answer below 80 ms"),
        ({"de_p50": 80.31}, "p50 at 8,000"),
        ({"de_p99": 82.01}, "p99 at 8,000"),
        ({"de_rps": 63000}, "throughput"),  # 63.0k / 57.9k = 1.088 < 1.1
        ({"de_p99_s2": 214.1}, "p99 ≤ nginx"),
        ({"de_rss_kib": 98000}, "peak RSS"),  # 98,000 KiB = 100.4 MB
        ({"cold_ms": 20.01}, "cold start"),
        ({"idle_kib": 4900}, "idle RSS"),  # 4,900 KiB = 5.02 MB
        ({"errors": 1}, "every request answered 200"),
    ],
)
def test_each_target_misses_just_past_its_bound(change, missed):
    v = verdicts(results(**change))
    misses = [target for _, target, verdict in v if verdict == "MISS"]
    assert len(misses) == 1 and missed in misses[0], v


def test_targets_without_figures_are_not_applicable_never_pass():
    res = results()
    assert res.s0 is not None
    del res.s0["delay-echo"]
    res.s2 = None
    v = {(s, t): verdict for s, t, verdict in verdicts(res)}
    assert v[("S0", "server CPU per request ≤ 0.8× nginx-echo")] == "n/a"
    assert [verdict for (s, _), verdict in v.items() if s == "S2"] == ["n/a"] * 3


def test_every_target_is_judged_for_the_stack_floor_too():
    res = results()
    rows = report.evaluate(res)
    # Not measured: the floor's verdicts are n/a, never PASS, and delay-echo's are unchanged.
    assert {r.floor_verdict for r in rows} == {"n/a"}
    assert all(r.verdict == "PASS" for r in rows)
    assert res.s0 is not None and res.s2 is not None
    res.s0["hyper-floor"] = closed(120000, 7.0)  # 7.0 / 7.7 = 0.91×: over 0.8×
    res.s2["hyper-floor"] = closed(60000, p99=200.0, rss=97000)  # 1.04× nginx; 99.3 MB
    floor = {r.target: (r.floor, r.floor_verdict) for r in report.evaluate(res)}
    assert floor["server CPU per request ≤ 0.8× nginx-echo"] == ("7.00 µs (0.91×)", "MISS")
    assert floor["throughput ≥ 1.1× nginx-echo"] == ("60.0k req/s (1.04×)", "MISS")
    assert floor["p99 ≤ nginx-echo's"] == ("200.0 ms", "PASS")
    assert floor["peak RSS ≤ 100 MB"] == ("99.3 MB", "PASS")
    assert floor["cold start (exec → 200 /readyz), median ≤ 20 ms"] == ("— ms", "n/a")


def open_run(mn, p50, p99, mx, errors):
    return OpenRun(
        client="oha",
        rate=8000,
        connections=1312,
        seconds=10,
        warmup_s=2,
        achieved_rps=8000,
        answers=10,
        min_ms=mn,
        p50_ms=p50,
        p99_ms=p99,
        p999_ms=p99,
        max_ms=mx,
        below_80ms=0,
        non_200=errors,
        errors=errors,
        errors_by_kind={},
        status_codes={},
    )


def test_medians_over_rounds_and_lowest_minimum():
    runs = [
        open_run(80.2, 80.4, 83, 90, 0),
        open_run(80.1, 80.2, 81, 95, 1),
        open_run(80.3, 80.3, 82, 91, 0),
    ]
    s = report.summarize_open(runs)
    assert (s.p50_ms, s.p99_ms, s.min_ms, s.max_ms) == (80.3, 82, 80.1, 95)
    assert s.errors == 2 and s.answers == 30


def test_closed_medians_skip_what_a_round_did_not_measure():
    run = loadgen.wrk_summary(loadgen.parse_wrk(WRK_LINE))
    runs = [run, ClosedRun(**{**vars(run), "rps": 90000.0, "peak_rss_kib": 2048, "errors": 1})]
    s = report.summarize_closed(runs)
    assert s.rps == 75000 and s.peak_rss_kib == 2048 and s.errors == 7 and s.rounds == 2


def test_markdown_names_every_scenario_and_server():
    res = results()
    res.meta = Meta(
        servers=report.SERVERS,
        started_utc="2026-01-01 00:00 UTC",
        mode="full",
        git="abc",
        machine="2 × CPU",
        load_before="0",
        load_after="0",
        tools="wrk",
        raw_dir="bench/results/raw/x",
        profile={**asdict(harness.FULL), "s1_rates": [1000, 4000, 8000]},
    )
    assert res.s3 is not None
    res.s3["go-sleep"] = ColdStart(
        starts_ms=[4.0], median_ms=4.0, min_ms=3.0, max_ms=5.0, argv=["x"]
    )
    md = report.markdown(res)
    for heading in ("## Targets", "## S0", "## S1", "## S2", "## S3", "## S4"):
        assert heading in md
    assert md.count("**PASS**") == 10
    assert "| 8,000 | delay-echo |" in md
    assert "oha, latency correction" in md


def test_results_json_keeps_field_names_and_leaves_out_scenarios_not_run():
    res = results()
    res.s2 = None
    data = json.loads(to_json(res))
    assert "s2" not in data
    assert data["s0"]["delay-echo"]["summary"]["cpu_us_per_req"] == 5.0
    assert data["s4"]["nginx-echo"]["idle_rss_kib"] == 18000
    assert data["meta"]["servers"] == report.SERVERS


def test_a_missing_binary_stops_the_run_before_anything_starts(tmp_path, capsys):
    code = harness.main(
        [
            "--servers",
            "delay-echo",
            "--scenarios",
            "S3",
            "--binary",
            str(tmp_path / "nope"),
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "make build" in capsys.readouterr().err
    assert not (tmp_path / "raw").exists()


def test_unknown_scenario_is_refused_with_the_allowed_ones(capsys):
    with pytest.raises(SystemExit):
        harness.parse_args(["--scenarios", "S9"])
    assert "allowed: S0, S1, S2, S3, S4" in capsys.readouterr().err


def fake_bench(max_noise=20.0, retries=2, budget=600.0):
    args = harness.parse_args(
        ["--max-noise", str(max_noise), "--retries", str(retries), "--retry-budget", str(budget)]
    )
    return harness.Bench(args, harness.QUICK, raw_dir=Path("/nonexistent"))


def test_a_noisy_run_is_measured_again_and_the_quietest_kept():
    noise = iter([50.0, 30.0, 10.0, 5.0])
    tags = []

    def measure(tag):
        tags.append(tag)
        return OpenRun(**{**vars(open_run(80, 80, 80, 80, 0)), "foreign_cpu_pct": next(noise)})

    best = fake_bench().quietest(measure, "s0-x-r0")
    assert best.foreign_cpu_pct == 10.0
    assert best.attempts == 3  # the first and two retries: --retries 2
    assert tags == ["s0-x-r0", "s0-x-r0-a2", "s0-x-r0-a3"]  # each attempt keeps its own files


def test_a_quiet_run_is_not_repeated_nor_one_past_the_time_budget():
    def noisy(pct):
        return lambda tag: OpenRun(**{**vars(open_run(80, 80, 80, 80, 0)), "foreign_cpu_pct": pct})

    assert fake_bench().quietest(noisy(19.0), "t").attempts == 1
    assert fake_bench(budget=0).quietest(noisy(90.0), "t").attempts == 1


def test_a_load_generator_past_its_bound_is_killed_and_named(monkeypatch):
    monkeypatch.setattr(loadgen, "GRACE_S", 0.2)
    cmd = ["sleep", "30"]
    proc = subprocess.Popen(cmd)
    with pytest.raises(
        procs.BenchError, match=r"sleep overran 0\.1 s by more than 0\.2 s and was killed"
    ):
        loadgen.wait_bounded(proc, 0.1, cmd)
    assert proc.returncode is not None  # killed and reaped, not left running


def test_what_nginx_echo_s_start_leaves_is_removed_when_the_run_ends(tmp_path):
    args = harness.parse_args(["--reference", str(tmp_path), "--out", str(tmp_path / "out")])
    bench = harness.Bench(args, harness.QUICK, tmp_path)
    spec = bench.spec("nginx-echo", 20001, 0)
    assert spec.leaves == (Path("/tmp/bench-nginx-20001"),)
    # The folder stays through the run (S3 re-executes nginx from it), then goes.
    left = tmp_path / "bench-nginx-20001"
    (left / "logs").mkdir(parents=True)
    bench.leftovers.add(left)
    bench.clean_up()
    assert not left.exists()
    assert not bench.leftovers


def test_the_server_sleep_figure_is_read_from_server_timing_and_absent_without_it():
    answer = (
        b"HTTP/1.1 200 OK\r\nx-instance-id: a\r\n"
        b"Server-Timing: queue;dur=0.000, sleep;dur=20.091, cpu;dur=0.000, total;dur=20.120\r\n"
        b"content-length: 0\r\n\r\n"
    )
    assert coldstart.server_sleep_ms(answer) == 20.091
    assert coldstart.server_sleep_ms(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n") is None
