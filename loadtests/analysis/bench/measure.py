"""Time and peak memory of a whole report on large generated runs (make bench-analysis).

For each size it writes (once, then reuses) a run in the real k6 file format, times
`gzip -dc raw.csv.gz | wc -l` on it as the yardstick, then runs the whole report
(`python -m loadtests.analysis report`) in a child process and reads the child's peak RSS from the
kernel (wait4). The goals (loadtests/README.md): at most 1.5 × the decompression time and under
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

from .generate import Shape, write_run

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


def table(sizes: list[int], folder: Path) -> int:
    """One line per size; 1 when a report failed."""
    print(
        f"{'requests':>10} {'rows':>11} {'gz MB':>6} {'gunzip|wc s':>11} {'(cpu s)':>7} {'report s':>8} "
        f"{'(cpu s)':>7} {'× gunzip':>8} {'peak MB':>7} {'goal MB':>7} {'load1':>5}"
    )
    for n in sizes:
        run = folder / f"run-{n}"
        raw = run / "raw.csv.gz"
        if not raw.exists():
            print(f"generating {n:,} requests into {run} …", file=sys.stderr, flush=True)
            write_run(run, Shape(requests=n))
        wc = subprocess.run(f"gzip -dc '{raw}' | wc -l", shell=True, capture_output=True, text=True)
        # The yardstick right before and right after the report, averaged: the machine is shared
        # and its load drifts.
        before = measure(f"gzip -dc '{raw}' | wc -l")
        out = folder / f"report-{n}"
        rep = measure(
            [sys.executable, "-m", "loadtests.analysis", "report", str(run), "--out", str(out)]
        )
        after = measure(f"gzip -dc '{raw}' | wc -l")
        if rep.returncode != 0:
            print(f"report on {run} failed with exit status {rep.returncode}", file=sys.stderr)
            return 1
        gunzip = (before.seconds + after.seconds) / 2
        gunzip_cpu = (before.cpu_seconds + after.cpu_seconds) / 2
        goal = GOALS_MB.get(n)
        print(
            f"{n:>10,} {int(wc.stdout.strip()):>11,} {raw.stat().st_size / 1e6:>6.0f} {gunzip:>11.1f} "
            f"{gunzip_cpu:>7.1f} {rep.seconds:>8.1f} {rep.cpu_seconds:>7.1f} {rep.seconds / gunzip:>8.2f} "
            f"{rep.peak_rss_mb:>7.0f} {'' if goal is None else f'{goal:.0f}':>7} {os.getloadavg()[0]:>5.1f}",
            flush=True,
        )
    print(f"goals: report time ≤ {TIME_GOAL} × gunzip|wc (wall); peak RSS under the goal column")
    return 0
