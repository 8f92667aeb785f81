"""A run folder read from its record lines (records.jsonl.gz, loadtests/k6/lib/echo.js) gives the
report its CSV gives: every figure of report.json and per_second.csv, on the known-answer runs of
test_analysis (a spike with a second instance and a recovery, dropped iterations and a network
error, cache tags, two generators merged and two started apart). Then the record lines' own rules:
lines that are not records are skipped, a folder of records alone is a run, and the CSV is read
beside them only for the dropped iterations summary.json counts."""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from loadtests.analysis.analyse import analyse, as_json, criteria_for
from loadtests.analysis.bench.generate import Shape
from loadtests.analysis.bench.generate import write_run as generate
from loadtests.analysis.runs import load_run
from loadtests.core.run import Segment
from loadtests.tests.servers import delay_echo
from loadtests.tests.synth import Req, arrivals, ramping, write_run
from loadtests.tests.test_analysis import SPIKE_OPTIONS, spike_requests
from loadtests.tests.test_end_to_end import K6, LOADTEST

# Where the two forms may differ: the folder's name and path; nothing else.
NAMES = {"label", "dirs", "run", "runs"}


def _dropped_run(d: Path, records: bool) -> list[Path]:
    reqs = [Req(t, 80.0) for t in arrivals(lambda s: 10, 0, 10)] + [Req(5.5, 30000.0, 0)]
    opts = ramping(10, [(10, "10s")])
    return [write_run(d, reqs, opts, dropped=[(5.2, 3), (5.7, 1)], records=records)]


def _cached_run(d: Path, records: bool) -> list[Path]:
    reqs = []
    for i, t in enumerate(arrivals(lambda s: 100, 0, 20)):
        cache = "x-cache:Miss from cloudfront" if i % 4 == 0 else "x-cache:Hit from cloudfront"
        reqs.append(Req(t, 120.0 if i % 4 == 0 else 15.0 + i % 7, cache=cache))
    return [write_run(d, reqs, ramping(100, [(100, "20s")]), records=records)]


def _spike_run(d: Path, records: bool) -> list[Path]:
    return [write_run(d, spike_requests(), SPIKE_OPTIONS, service={"MAX_CONCURRENCY": "10"},
                      records=records)]  # fmt: skip


def _merged_run(d: Path, records: bool) -> list[Path]:
    return [
        write_run(
            d / f"g{k + 1}",
            spike_requests(),
            SPIKE_OPTIONS,
            segment=Segment(k + 1, 2, ("0:1/2", "1/2:1")[k], "0,1/2,1"),
            rows_filter=lambda i, k=k: i % 2 == k,
            origin=1_780_000_000.0 + 0.4 * k,
            records=records,
        )
        for k in (0, 1)
    ]


RUNS = {"spike": _spike_run, "dropped": _dropped_run, "cache": _cached_run, "merged": _merged_run}


def _figures(folders: list[Path]) -> tuple[dict, str]:
    """What report.json and per_second.csv hold for the run (the report without its plots)."""
    run = load_run(folders)
    a = analyse(run, criteria_for(run))
    return json.loads(json.dumps(as_json(a, run))), a.per_second.to_csv()


def _same(a, b, where="report.json"):
    """Equal, floats to 1e-9 relative (a sum may add in another order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            if k not in NAMES:
                _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float) and math.isfinite(a):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-9), where
    else:
        assert a == b, where


@pytest.mark.parametrize("name", sorted(RUNS))
def test_the_records_give_every_figure_the_csv_gives(name, tmp_path):
    with_csv = RUNS[name](tmp_path / "csv", False)
    with_records = RUNS[name](tmp_path / "records", True)
    assert all((d / "records.jsonl.gz").exists() for d in with_records)
    (a, a_seconds), (b, b_seconds) = _figures(with_csv), _figures(with_records)
    _same(a, b)
    assert a_seconds == b_seconds


def test_a_folder_of_records_alone_is_a_run_and_other_lines_are_skipped(tmp_path):
    (folder,) = _spike_run(tmp_path / "r", True)
    (tmp_path / "r" / "raw.csv.gz").unlink()
    reference = load_run([folder])
    with gzip.open(folder / "records.jsonl.gz", "rt") as f:
        lines = f.read().splitlines()
    # A console.log of something else, and a JSON line that is no record, among the records.
    lines[5:5] = ["k6 said something", '{"note": "not a record"}', ""]
    with gzip.open(folder / "records.jsonl.gz", "wt") as f:
        f.write("\n".join(lines) + "\n")
    run = load_run([folder])
    assert run.n_requests == reference.n_requests == len(spike_requests())
    assert run.origin == reference.origin


def test_the_csv_beside_records_is_read_for_dropped_iterations_only_when_some_were_counted(
    tmp_path,
):
    (folder,) = _dropped_run(tmp_path / "d", True)
    assert int(load_run([folder]).scalar("SELECT sum(count) FROM dropped")) == 4
    # summary.json counts none: the CSV is not read (its rows would have said 4).
    (folder / "summary.json").write_text(json.dumps({"metrics": {}}))
    assert load_run([folder]).scalar("SELECT count(*) FROM dropped") == 0
    # No summary.json (k6 was killed): the CSV is read.
    (folder / "summary.json").unlink()
    assert int(load_run([folder]).scalar("SELECT sum(count) FROM dropped")) == 4


def test_the_benchmark_generator_writes_records_that_agree_with_its_csv(tmp_path):
    folder = generate(tmp_path / "g", Shape(requests=20_000, lead=60, base=200, peak=2000))
    csv_only = tmp_path / "c"
    csv_only.mkdir()
    for name in ("raw.csv.gz", "options.json", "run.json"):
        shutil.copy(folder / name, csv_only / name)
    _same(_figures([csv_only])[0], _figures([folder])[0])


@pytest.mark.live
def test_a_real_run_writes_one_record_per_request_that_matches_its_csv_row(tmp_path):
    # The real k6 and delay-echo: each record agrees with the echo_latency row k6 wrote for the
    # same request (its end within the millisecond, k6 stamps the sample a moment after the
    # script reads the clock; the values to the CSV's six decimals), so the analysis reads the
    # same run from either.
    env = {**os.environ, "K6": K6, "RESULTS": str(tmp_path), "MAX_RUN_TIME": "60",
           "PROFILE": "smoke", "RATE": "40", "DURATION": "3s", "ECHO_DELAY": "5ms"}  # fmt: skip
    with delay_echo("--instance-id", "rec-1") as url:
        env["TARGET"] = url
        p = subprocess.run(LOADTEST, env=env, capture_output=True, text=True, timeout=150)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    (folder,) = [d for d in tmp_path.iterdir() if d.is_dir()]
    assert not (folder / "records.jsonl").exists()
    with gzip.open(folder / "records.jsonl.gz", "rt") as f:
        lines = [json.loads(line) for line in f]
    starts = [r["run_start"] for r in lines if "run_start" in r]
    records = sorted((r for r in lines if "t" in r), key=lambda r: (r["t"], r["ms"]))
    with gzip.open(folder / "raw.csv.gz", "rt") as f:
        rows = list(csv.DictReader(f))
    latency = sorted(
        (r for r in rows if r["metric_name"] == "echo_latency"),
        key=lambda r: (int(r["timestamp"]), float(r["metric_value"])),
    )
    assert len(records) == len(latency) >= 100
    [run_start] = [
        int(float(r["metric_value"])) for r in rows if r["metric_name"] == "echo_run_start"
    ]
    assert starts == [run_start]
    by_value = sorted(latency, key=lambda r: float(r["metric_value"]))
    for rec, row in zip(sorted(records, key=lambda r: r["ms"]), by_value, strict=True):
        assert float(row["metric_value"]) == pytest.approx(rec["ms"], abs=1e-6)
    for rec in records:
        assert rec["status"] == 200 and rec["instance"] == "rec-1" and rec["cache"] is None
        assert rec["total_ms"] >= 5 and rec["queue_ms"] is not None
    assert all(
        abs(int(r["timestamp"]) - rec["t"]) <= 1 for rec, r in zip(records, latency, strict=True)
    )
    run = load_run([folder])
    assert run.n_requests == len(records)
