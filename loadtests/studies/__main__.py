"""The studies' command line (the work is in commands.py).

    python -m loadtests.studies list                     the studies, with their questions
    python -m loadtests.studies check [NAME|FILE ...]    validate study files (all by default)
    python -m loadtests.studies run NAME|FILE [--short] [--results DIR]

`run` needs root and iproute2 (it builds network namespaces) and stops at once without them.
Every setting is a flag with an environment twin (the flag wins; --help names it). Exit codes:
0 done, 2 a bad study file or a missing prerequisite, 1 the study failed (the run folder keeps
what it got), 124 out of time, 130 interrupted; in every case everything the study started has
been removed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from loadtests.core import flags, tools

from . import commands


def main(argv: list[str] | None = None) -> int:
    env = dict(os.environ)
    p = argparse.ArgumentParser(
        prog="python -m loadtests.studies",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="the studies and what each answers")
    ck = sub.add_parser("check", help="validate study files")
    ck.add_argument("studies", nargs="*", metavar="NAME|FILE")
    rn = sub.add_parser("run", help="run a study on an emulated network (root)")
    rn.add_argument("study", metavar="NAME|FILE")
    flags.add(rn, "--short", "STUDY_SHORT", env, help="the study's short plan (for tests)", default=False, type=flags.truth, nargs="?", const=True, metavar="yes|no")  # fmt: skip
    flags.add(rn, "--variant", "STUDY_VARIANT", env, help="run this variant alone (A or B), without the compare")  # fmt: skip
    flags.add(rn, "--faults", "STUDY_FAULTS", env, help="faults in each variant's run, from its load's start: partition@T:DUR:A-B, degrade@T:DUR:A-B:+X (comma-separated)", default="")  # fmt: skip
    flags.add(rn, "--results", "RESULTS", env, help="where run folders go", default=tools.REPO / "loadtests" / "results", type=Path)  # fmt: skip
    programs = (
        ("--delay-echo", "DELAY_ECHO_BIN", "the service (default: the release build)"),
        ("--link", "DELAY_ECHO_LINK_BIN", "the user-space link (default: the release build)"),
        ("--k6", "K6", "k6 (default: k6 on PATH, else the venv's)"),
        ("--python", "STUDY_PYTHON", "the interpreter with locust and the analysis (this one)"),
        ("--nginx", "NGINX", "nginx for an edge (default: nginx on PATH)"),
    )
    for flag, var, what in programs:
        flags.add(rn, flag, var, env, help=what, dest=var)
    a = vars(p.parse_args(argv))
    if a["cmd"] == "list":
        return commands.list_studies()
    if a["cmd"] == "check":
        return commands.check(a["studies"])
    given = {var: str(a[var]) for _, var, _ in programs if a[var] is not None}
    return commands.run(
        a["study"], a["results"], a["short"], {**env, **given}, a["variant"], a["faults"]
    )


if __name__ == "__main__":
    sys.exit(main())
