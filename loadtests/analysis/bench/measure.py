"""Time and peak memory of a whole report on large generated runs (make bench-analysis).

For each size it writes (once, then reuses) a run in the real k6 file format, times
`gzip -dc raw.csv.gz | wc -l` on it as the yardstick, then runs the whole report
(`python -m loadtests.analysis report`) in a child process and reads the child's peak RSS from the
kernel (wait4); with --before, alternately with another checkout's analysis on the same folder.
The goals (loadtests/README.md): at most 1.5 × the decompression time and under
400 MB for 576 k requests, under 600 MB for 5 M. A benchmark, not a test: it prints, it asserts
nothing; the machine's load average is printed beside the figures because they depend on it.
"""
# ruff: noqa: RUF003  (×, −, θ, τ, υ are the notation the report and its sources use)

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .generate import Shape, write_records, write_run

GOALS_MB = {576_000: 400.0, 5_000_000: 600.0}
TIME_GOAL = 1.5


@dataclass
class Measurement:
    seconds: float
    cpu_seconds: float  # user + system of the process and the children it waited for
    peak_rss_mb: float
    returncode: int


def measure(cmd: list[str] | str) -> Measurement:
    """Run `cmd` (a shell line when a string) and read its wall time, CPU time and peak RSS."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, shell=isinstance(cmd, str), stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measurement(
        time.perf_counter() - t0,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024.0,
        proc.returncode,
    )


def _report(run: Path, out: Path, code: Path | None) -> Measurement:
    """The whole report on `run` in a child process; `code`: a checkout whose loadtests package
    runs instead of this one (its folder first on the path), for a before/after comparison."""
    if code is None:
        return measure(
            [sys.executable, "-m", "loadtests.analysis", "report", str(run), "--out", str(out)]
        )
    return measure(
        f"cd '{code}' && PYTHONPATH='{code}' exec '{sys.executable}' -m loadtests.analysis report "
        f"'{run}' --out '{out}'"
    )


def table(sizes: list[int], folder: Path, before: Path | None = None, pairs: int = 1) -> int:
    """One line per size and code (with `before`: `pairs` alternating before/after pairs); 1 when
    a report failed."""
    print(
        f"{'requests':>10} {'code':>6} {'rows':>11} {'gz MB':>6} {'gunzip|wc s':>11} {'(cpu s)':>7} "
        f"{'report s':>8} {'(cpu s)':>7} {'× gunzip':>8} {'peak MB':>7} {'goal MB':>7} {'load1':>5}"
    )
    for n in sizes:
        run = folder / f"run-{n}"
        raw = run / "raw.csv.gz"
        if not raw.exists():
            print(f"generating {n:,} requests into {run} …", file=sys.stderr, flush=True)
            write_run(run, Shape(requests=n))
        elif not (run / "records.jsonl.gz").exists():
            print(f"adding the records of {n:,} requests to {run} …", file=sys.stderr, flush=True)
            write_records(run, Shape(requests=n))
        wc = subprocess.run(f"gzip -dc '{raw}' | wc -l", shell=True, capture_output=True, text=True)
        codes: list[tuple[str, Path | None]] = [("after", None)]
        if before is not None:
            codes = [("before", before), ("after", None)] * pairs
        for i, (name, code) in enumerate(codes):
            # The yardstick right before and right after the report, averaged: the machine is
            # shared and its load drifts.
            first = measure(f"gzip -dc '{raw}' | wc -l")
            rep = _report(run, folder / f"report-{n}-{name}", code)
            after = measure(f"gzip -dc '{raw}' | wc -l")
            if rep.returncode != 0:
                print(
                    f"report on {run} ({name}) failed with exit status {rep.returncode}",
                    file=sys.stderr,
                )
                return 1
            gunzip = (first.seconds + after.seconds) / 2
            gunzip_cpu = (first.cpu_seconds + after.cpu_seconds) / 2
            goal = GOALS_MB.get(n)
            label = name if before is None else f"{name}{i // 2 + 1}"
            print(
                f"{n:>10,} {label:>6} {int(wc.stdout.strip()):>11,} {raw.stat().st_size / 1e6:>6.0f} "
                f"{gunzip:>11.1f} {gunzip_cpu:>7.1f} {rep.seconds:>8.1f} {rep.cpu_seconds:>7.1f} "
                f"{rep.seconds / gunzip:>8.2f} {rep.peak_rss_mb:>7.0f} "
                f"{'' if goal is None else f'{goal:.0f}':>7} {os.getloadavg()[0]:>5.1f}",
                flush=True,
            )
    print(f"goals: report time ≤ {TIME_GOAL} × gunzip|wc (wall); peak RSS under the goal column")
    return 0
