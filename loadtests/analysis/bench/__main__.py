"""`make bench-analysis`: time and peak memory of a whole report on large generated runs, beside
`gzip -dc | wc -l` on the same file (measure.py). A benchmark, not a test: it prints, it asserts
nothing. Every setting is a flag with an environment twin named as make names it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from loadtests.core import flags

from .measure import table

# Each run has a lead at the base rate before the spike (generate.Shape).
SMALLEST = 20_000


def main(argv: list[str] | None = None) -> int:
    env = dict(os.environ)
    ap = argparse.ArgumentParser(prog="python -m loadtests.analysis.bench", description=__doc__)
    flags.add(ap, "--sizes", "BENCH_ANALYSIS_SIZES", env, default="576000,5000000",
              help="comma-separated request counts")  # fmt: skip
    flags.add(ap, "--dir", "BENCH_ANALYSIS_DIR", env, type=Path,
              default=Path("/tmp/delay-echo-bench-analysis"), help="where runs are kept")  # fmt: skip
    flags.add(ap, "--before", "BENCH_ANALYSIS_BEFORE", env, type=Path, default=None,
              help="a checkout (e.g. git archive REV loadtests | tar -x -C DIR) whose analysis "
                   "runs too, alternating with this one")  # fmt: skip
    flags.add(ap, "--pairs", "BENCH_ANALYSIS_PAIRS", env, type=int, default=3,
              help="before/after pairs per size with --before")  # fmt: skip
    args = ap.parse_args(argv)
    if args.before is not None and not (args.before / "loadtests" / "analysis").is_dir():
        ap.error(f"--before {args.before}: no loadtests/analysis there; give a checkout's root")
    if args.pairs < 1:
        ap.error("--pairs must be 1 or more")
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s]
    except ValueError:
        ap.error(f"--sizes takes request counts such as 576000,5000000, got {args.sizes!r}")
    if not sizes or min(sizes) < SMALLEST:
        ap.error("--sizes: each run needs at least 20000 requests (12000 arrive before the spike)")
    return table(sizes, args.dir, args.before, args.pairs)


if __name__ == "__main__":
    sys.exit(main())
