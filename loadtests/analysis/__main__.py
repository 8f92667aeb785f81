"""Command line: `report RUN_DIR [RUN_DIR…]` (several folders = several generators of one run) and
`compare RUN_A RUN_B`. Exit status 2 with a one-line reason when a folder cannot be analysed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .analyse import criteria_for
from .metrics import Criteria
from .report import build_compare, build_report
from .runs import Run, RunError, load_run


def _criteria_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--slo-p95",
        type=float,
        metavar="MS",
        help="p95 objective in ms (default: the run's SLO_P95)",
    )
    p.add_argument(
        "--error-threshold",
        type=float,
        metavar="SHARE",
        help="error share a recovered second may have, 0..1 (default: the run's SLO_ERROR_RATE)",
    )
    p.add_argument(
        "--recovery-seconds",
        type=int,
        metavar="N",
        default=5,
        help="consecutive good seconds that make a recovery (default 5)",
    )
    p.add_argument(
        "--max-concurrency",
        type=float,
        metavar="C",
        help="requests one instance serves at once, for Little's law and demand (default: the run's MAX_CONCURRENCY)",
    )
    p.add_argument(
        "--target-utilisation",
        type=float,
        metavar="U",
        help="share of C an instance should run at, 0 < U ≤ 1, for the elasticity demand (default 1)",
    )
    p.add_argument(
        "--out", type=Path, metavar="DIR", help="where to write the report (see defaults above)"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m loadtests.analysis", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    rp = sub.add_parser(
        "report",
        help="report one run; several folders are merged as one run's generators "
        "(default output: the folder itself, or <first>-merged)",
    )
    rp.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    _criteria_args(rp)
    cp = sub.add_parser(
        "compare", help="put two runs side by side (default output: <A>-vs-<B name>)"
    )
    cp.add_argument("a", type=Path, metavar="RUN_A")
    cp.add_argument("b", type=Path, metavar="RUN_B")
    _criteria_args(cp)
    args = ap.parse_args(argv)
    if args.recovery_seconds < 1:
        ap.error(f"--recovery-seconds must be at least 1, got {args.recovery_seconds}")
    if args.error_threshold is not None and not 0 <= args.error_threshold <= 1:
        ap.error(f"--error-threshold is a share between 0 and 1, got {args.error_threshold}")
    if args.max_concurrency is not None and args.max_concurrency <= 0:
        ap.error(f"--max-concurrency must be above 0, got {args.max_concurrency}")
    if args.target_utilisation is not None and not 0 < args.target_utilisation <= 1:
        ap.error(
            f"--target-utilisation is a share above 0 and at most 1, got {args.target_utilisation}"
        )

    def criteria(run: Run) -> Criteria:
        return criteria_for(
            run,
            slo_ms=args.slo_p95,
            error_rate=args.error_threshold,
            seconds=args.recovery_seconds,
            max_concurrency=args.max_concurrency,
            utilisation=args.target_utilisation,
        )

    try:
        if args.command == "report":
            run = load_run(args.runs)
            out = args.out or (
                args.runs[0]
                if len(args.runs) == 1
                else args.runs[0].with_name(args.runs[0].name + "-merged")
            )
            build_report(run, out, criteria(run))
            written = "report.md, report.html and report.json"
        else:
            a, b = load_run([args.a], label=args.a.name), load_run([args.b], label=args.b.name)
            out = args.out or args.a.with_name(f"{args.a.name}-vs-{args.b.name}")
            build_compare(a, b, out, criteria)
            written = "report.md, report.html and compare.json"
    except RunError as e:
        print(f"analysis: {e}", file=sys.stderr)
        return 2
    print(f"analysis: wrote {written} in {out}")
    if args.command == "report":
        print((out / "report.md").read_text().split("## Offered")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
