"""Command line: `report RUN_DIR [RUN_DIR…]` (several folders = several generators of one run) and
`compare RUN_A RUN_B [RUN…]` (commands.py: the first run the baseline); each option a flag with an environment twin (REPORT_*, the
flag wins). Exit status 2 with a one-line reason when a folder cannot be
analysed or an option is out of range."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from loadtests.core import flags

from .commands import Judging, compare, report
from .plots import RUN_COLORS
from .runs import RunError

MAX_RUNS = len(RUN_COLORS)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="delay-echo-analysis", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("report", help="report one run; several folders are merged as one run's "
                        "generators (default output: the folder itself, or <first>-merged)")  # fmt: skip
    rp.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    cp = sub.add_parser("compare", help="runs side by side, the first the baseline (default output: <A>-vs-<B>[-vs-…])")  # fmt: skip
    cp.add_argument("runs", nargs="+", type=Path, metavar="RUN")
    cg = sub.add_parser(
        "campaign", help="a campaign folder's report (as delay-echo-campaign report)"
    )
    cg.add_argument("folder", type=Path, metavar="CAMPAIGN_DIR")
    env = dict(os.environ)
    for p in (rp, cp):
        for flag, var, what, kw in (
            ("--slo-p95", "REPORT_SLO_P95", "p95 objective in ms (default: the run's SLO_P95)", {"type": float, "metavar": "MS"}),
            ("--error-threshold", "REPORT_ERROR_THRESHOLD", "error share a recovered second may have, 0..1 (default: the run's SLO_ERROR_RATE)", {"type": float, "metavar": "SHARE"}),
            ("--recovery-seconds", "REPORT_RECOVERY_SECONDS", "consecutive good seconds that make a recovery", {"type": int, "metavar": "N", "default": 5}),
            ("--max-concurrency", "REPORT_MAX_CONCURRENCY", "requests one instance serves at once, for Little's law and demand (default: the run's MAX_CONCURRENCY)", {"type": float, "metavar": "C"}),
            ("--target-utilisation", "REPORT_TARGET_UTILISATION", "share of C an instance should run at, 0 < U ≤ 1, for the elasticity demand (default 1)", {"type": float, "metavar": "U"}),
            ("--out", "REPORT_OUT", "where to write (defaults above)", {"type": Path, "metavar": "DIR"}),
        ):  # fmt: skip
            flags.add(p, flag, var, env, help=what, **kw)
    args = ap.parse_args(argv)
    if args.command == "campaign":
        from loadtests.campaign.commands import rewrite_report

        return rewrite_report(args.folder)
    try:
        judging = Judging(args.slo_p95, args.error_threshold, args.recovery_seconds,
                          args.max_concurrency, args.target_utilisation)  # fmt: skip
    except ValueError as e:
        ap.error(str(e))
    try:
        if args.command == "report":
            out = report(args.runs, args.out, judging)
        else:
            if not 2 <= len(args.runs) <= MAX_RUNS:
                ap.error(f"compare takes 2 to {MAX_RUNS} run folders; got {len(args.runs)}")
            out = compare(*args.runs, out=args.out, judging=judging)
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
