"""Command line: `report RUN_DIR [RUN_DIR…]` (several folders = several generators of one run) and
`compare RUN_A RUN_B` (commands.py). Exit status 2 with a one-line reason when a folder cannot be
analysed or an option is out of range."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .commands import Judging, compare, report
from .runs import RunError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="delay-echo-analysis", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("report", help="report one run; several folders are merged as one run's "
                        "generators (default output: the folder itself, or <first>-merged)")  # fmt: skip
    rp.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    cp = sub.add_parser("compare", help="two runs side by side (default output: <A>-vs-<B name>)")
    cp.add_argument("a", type=Path, metavar="RUN_A")
    cp.add_argument("b", type=Path, metavar="RUN_B")
    for p in (rp, cp):
        p.add_argument("--slo-p95", type=float, metavar="MS",
                       help="p95 objective in ms (default: the run's SLO_P95)")  # fmt: skip
        p.add_argument("--error-threshold", type=float, metavar="SHARE", help="error share a "
                       "recovered second may have, 0..1 (default: the run's SLO_ERROR_RATE)")  # fmt: skip
        p.add_argument("--recovery-seconds", type=int, metavar="N", default=5,
                       help="consecutive good seconds that make a recovery (default 5)")  # fmt: skip
        p.add_argument("--max-concurrency", type=float, metavar="C", help="requests one instance "
                       "serves at once, for Little's law and demand (default: the run's MAX_CONCURRENCY)")  # fmt: skip
        p.add_argument("--target-utilisation", type=float, metavar="U", help="share of C an "
                       "instance should run at, 0 < U ≤ 1, for the elasticity demand (default 1)")  # fmt: skip
        p.add_argument("--out", type=Path, metavar="DIR", help="where to write (defaults above)")
    args = ap.parse_args(argv)
    try:
        judging = Judging(args.slo_p95, args.error_threshold, args.recovery_seconds,
                          args.max_concurrency, args.target_utilisation)  # fmt: skip
    except ValueError as e:
        ap.error(str(e))
    try:
        if args.command == "report":
            out = report(args.runs, args.out, judging)
        else:
            out = compare(args.a, args.b, args.out, judging)
    except RunError as e:
        print(f"analysis: {e}", file=sys.stderr)
        return 2
    kind = "report.json" if args.command == "report" else "compare.json"
    print(f"analysis: wrote report.md, report.html and {kind} in {out}")
    if args.command == "report":
        print((out / "report.md").read_text().split("## Offered")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
