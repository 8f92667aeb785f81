"""Command line: `python -m loadtests.localplatform run` (knobs from the environment, see `knobs`);
`starts RUN…` prints how long each instance took to start in those runs.

Exit status: the load's (0, or k6's), 2 with a one-line reason for a bad knob, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .config import Config, KnobError, check_cold_start, check_faults, describe_knobs
from .starts import print_starts
from .study import run

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m loadtests.localplatform", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    rp = sub.add_parser(
        "run", help="start the platform, drive the profile through HAProxy, stop, report"
    )
    rp.add_argument("--no-report", action="store_true", help="leave the report to `make report`")
    sub.add_parser("knobs", help="list every knob with its default")
    sp = sub.add_parser(
        "starts",
        help="each instance's start (requested -> running -> ready) from run folders, with medians",
    )
    sp.add_argument("runs", nargs="+", type=Path, help="run folders (or platform.jsonl files)")
    sp.add_argument(
        "--all", action="store_true", help="count the warm instances too (started before the load)"
    )
    args = ap.parse_args(argv)
    if args.command == "knobs":
        print(describe_knobs())
        return 0
    if args.command == "starts":
        return print_starts(args.runs, warm=args.all)
    try:
        cfg = Config.from_env(os.environ, REPO)
        check_cold_start(cfg.cold_start_judge(), cfg.cold_start)
        check_faults(cfg.delay_echo, cfg.faults)
    except KnobError as e:
        print(f"platform: {e}", file=sys.stderr)
        return 2
    return run(cfg, os.environ, REPO, report=not args.no_report)


if __name__ == "__main__":
    sys.exit(main())
