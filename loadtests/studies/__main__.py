"""The studies' command line.

    python -m loadtests.studies list                     the studies, with their questions
    python -m loadtests.studies check [NAME|FILE ...]    validate study files (all by default)
    python -m loadtests.studies run NAME|FILE [--short] [--results DIR]

`run` needs root and iproute2 (it builds network namespaces) and stops at once without them.
Exit codes: 0 done, 2 a bad study file or a missing prerequisite, 1 the study failed (the run
folder keeps what it got), 124 out of time, 130 interrupted; in every case everything the study
started has been removed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .study import StudyError, available, find

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
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
    rn.add_argument("--short", action="store_true", help="the study's short plan (for tests)")
    rn.add_argument("--results", type=Path, default=REPO / "loadtests" / "results")
    args = p.parse_args(argv)

    try:
        if args.cmd == "list":
            for name in available():
                s = find(name)
                print(f"{name:12} {s.title}: {s.question}")
            return 0
        if args.cmd == "check":
            for name in args.studies or available():
                find(name)
                print(f"{name}: ok")
            return 0
        study = find(args.study)
    except StudyError as e:
        print(f"study: {e}", file=sys.stderr)
        return 2

    from loadtests.netlab import NetlabError

    from .runner import OutOfTime, StudyFailed, run

    try:
        folder = run(study, args.results, short=args.short)
    except NetlabError as e:
        print(f"study: {e}", file=sys.stderr)
        return 2
    except StudyFailed as e:
        print(f"study: {study.name} failed: {e}", file=sys.stderr)
        return 1
    except OutOfTime as e:
        print(
            f"study: {study.name} stopped: {e}; everything it started was removed", file=sys.stderr
        )
        return 124
    except KeyboardInterrupt:
        print(
            f"study: {study.name} interrupted; everything it started was removed", file=sys.stderr
        )
        return 130
    print(f"study: {study.name} done: {folder}/compare.md (study.md says what to expect)")
    table = (folder / "compare.md").read_text()
    print(table.split("\n## ", 2)[1] if "\n## " in table else table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
