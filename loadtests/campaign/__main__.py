"""`delay-echo-campaign` (python -m loadtests.campaign): K runs of N configurations in a seeded
random order, then the campaign's report. Each setting is a flag with an environment twin.

  run --campaign FILE       run a campaign file into a new folder under --results
  resume --resume FOLDER    continue an interrupted campaign
  report FOLDER             (re)write campaign.md, .html and .json of a folder
  plan --campaign FILE      the order, and how long it will take

Exit status: 0 all runs ok; 1 some run failed twice (recorded, reported); 2 bad input; 130
interrupted (finished runs are kept: resume continues).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from loadtests.core import flags, tools

from . import commands


def main(argv: list[str] | None = None) -> int:
    env = os.environ
    ap = argparse.ArgumentParser(prog="delay-echo-campaign", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a campaign file")
    plan = sub.add_parser("plan", help="print the order and the planned duration")
    for p in (run, plan):
        flags.add(p, "--campaign", "CAMPAIGN", env, help="the campaign file (TOML)", type=Path)
    flags.add(run, "--results", "RESULTS", env, help="where campaign folders go", type=Path, default=tools.REPO / "loadtests" / "results")  # fmt: skip
    res = sub.add_parser("resume", help="continue an interrupted campaign")
    flags.add(res, "--resume", "RESUME", env, help="the campaign folder to continue", type=Path)
    rep = sub.add_parser("report", help="(re)write a campaign folder's report")
    rep.add_argument("folder", type=Path)
    args = ap.parse_args(argv)
    if args.command == "report":
        return commands.rewrite_report(args.folder)
    if args.command == "resume":
        if args.resume is None:
            ap.error("give the campaign folder: --resume FOLDER (or RESUME=…)")
        return commands.run(None, args.resume, Path("."))
    if args.campaign is None:
        ap.error("give a campaign file: --campaign FILE (or CAMPAIGN=…)")
    if args.command == "plan":
        return commands.show_plan(args.campaign)
    return commands.run(args.campaign, None, args.results)


if __name__ == "__main__":
    sys.exit(main())
