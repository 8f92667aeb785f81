"""`delay-echo-campaign` (python -m loadtests.campaign): K runs of N configurations in a seeded
random order, then the campaign's report. Each setting is a flag with an environment twin.

  run [FILE]        CAMPAIGN=file.toml  run a campaign file into a new folder under RESULTS
  resume [FOLDER]   RESUME=folder       continue an interrupted campaign
  report FOLDER                         (re)write campaign.md, .html and .json of a folder
  plan [FILE]                           the order, and how long it will take

Exit status: 0 all runs ok; 1 some run failed twice (recorded, reported); 2 bad input; 130
interrupted (finished runs are kept: resume continues).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import commands


def main(argv: list[str] | None = None) -> int:
    env = os.environ
    ap = argparse.ArgumentParser(prog="delay-echo-campaign", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a campaign file ($CAMPAIGN)")
    run.add_argument("file", nargs="?", type=Path, default=env.get("CAMPAIGN") or None)
    run.add_argument(
        "--results",
        type=Path,
        default=Path(env.get("RESULTS") or "loadtests/results"),
        help="where campaign folders go ($RESULTS; default loadtests/results)",
    )
    res = sub.add_parser("resume", help="continue an interrupted campaign ($RESUME)")
    res.add_argument("folder", nargs="?", type=Path, default=env.get("RESUME") or None)
    rep = sub.add_parser("report", help="(re)write a campaign folder's report")
    rep.add_argument("folder", type=Path)
    plan = sub.add_parser("plan", help="print the order and the planned duration")
    plan.add_argument("file", nargs="?", type=Path, default=env.get("CAMPAIGN") or None)
    args = ap.parse_args(argv)
    if args.command == "run":
        return commands.run(args.file, None, args.results)
    if args.command == "resume":
        if args.folder is None:
            ap.error("give the campaign folder to resume (or RESUME=…)")
        return commands.run(None, args.folder, Path("."))
    if args.command == "report":
        return commands.rewrite_report(args.folder)
    if args.file is None:
        ap.error("give a campaign file (or CAMPAIGN=…)")
    return commands.show_plan(args.file)


if __name__ == "__main__":
    sys.exit(main())
