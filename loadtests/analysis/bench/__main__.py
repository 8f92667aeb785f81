"""`make bench-analysis`: time and peak memory of a whole report on large generated runs.

For each size it writes (once, then reuses) a run in the real k6 file format, times
`gzip -dc raw.csv.gz | wc -l` on it as the yardstick, then runs the whole report
(`python -m loadtests.analysis report`) in a child process and reads the child's peak RSS from the
kernel (wait4). The goals (loadtests/README.md): at most 1.5 × the decompression time and under
400 MB for 576 k requests, under 600 MB for 5 M. A benchmark, not a test: it prints, it asserts
nothing; the machine's load average is printed beside the figures because they depend on it.
"""
# ruff: noqa: RUF001, RUF002, RUF003  (×, −, θ, τ, υ are the notation the report and its sources use)

from __future__ import annotations

import argparse
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
    peak_rss_mb: float
    returncode: int


def _measure(cmd: list[str], shell: bool = False) -> Measurement:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd if not shell else " ".join(cmd), shell=shell, stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measurement(time.perf_counter() - t0, usage.ru_maxrss / 1024.0, proc.returncode)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m loadtests.analysis.bench", description=__doc__)
    ap.add_argument(
        "--sizes",
        default="576000,5000000",
        help="comma-separated request counts (default 576000,5000000)",
    )
    ap.add_argument(
        "--dir",
        type=Path,
        default=Path("/tmp/delay-echo-bench-analysis"),
        help="where runs are kept",
    )
    args = ap.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s]
    except ValueError:
        ap.error(f"--sizes takes request counts such as 576000,5000000, got {args.sizes!r}")
    if not sizes or min(sizes) < 20_000:
        ap.error("--sizes: each run needs at least 20000 requests (12000 arrive before the spike)")

    print(
        f"{'requests':>10} {'rows':>11} {'gz MB':>7} {'gunzip|wc s':>12} {'report s':>9} "
        f"{'× gunzip':>9} {'peak MB':>8} {'goal MB':>8} {'load1':>6}"
    )
    for n in sizes:
        run = args.dir / f"run-{n}"
        raw = run / "raw.csv.gz"
        if not raw.exists():
            print(f"generating {n:,} requests into {run} …", file=sys.stderr, flush=True)
            write_run(run, Shape(requests=n))
        wc = subprocess.run(f"gzip -dc '{raw}' | wc -l", shell=True, capture_output=True, text=True)
        t0 = time.perf_counter()
        subprocess.run(f"gzip -dc '{raw}' | wc -l", shell=True, capture_output=True, check=True)
        gunzip = time.perf_counter() - t0
        out = args.dir / f"report-{n}"
        rep = _measure(
            [sys.executable, "-m", "loadtests.analysis", "report", str(run), "--out", str(out)]
        )
        if rep.returncode != 0:
            print(f"report on {run} failed with exit status {rep.returncode}", file=sys.stderr)
            return 1
        goal = GOALS_MB.get(n)
        print(
            f"{n:>10,} {int(wc.stdout.strip()):>11,} {raw.stat().st_size / 1e6:>7.0f} {gunzip:>12.1f} "
            f"{rep.seconds:>9.1f} {rep.seconds / gunzip:>9.2f} {rep.peak_rss_mb:>8.0f} "
            f"{'' if goal is None else f'{goal:.0f}':>8} {os.getloadavg()[0]:>6.2f}",
            flush=True,
        )
    print(f"goals: report time ≤ {TIME_GOAL} × gunzip|wc; peak RSS under the goal column")
    return 0


if __name__ == "__main__":
    sys.exit(main())
