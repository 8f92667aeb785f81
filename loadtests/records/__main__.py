"""The records command line (the work is in commands.py).

    delay-echo-records query FOLDER [QUERY ...] [--format table|csv|json]
    delay-echo-records collect --into FOLDER LOG ...
    delay-echo-records show QUERY

`query` runs questions (loadtests/queries/*.sql by name, or a .sql file; every one without a
QUERY) over FOLDER/records.parquet with DuckDB and prints their answers. `collect` writes
FOLDER/records.parquet from delay-echo logs written with --access-log. `show` prints a question
as Athena runs it and as DuckDB runs it here. Every setting is a flag with an environment twin
(the flag wins; --help names it). Exit codes: 0 done, 2 bad input (what is allowed is said).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from loadtests.core import flags

from . import commands


def fmt(text: str) -> str:
    if text not in commands.FORMATS:
        raise argparse.ArgumentTypeError(f"{text!r}; allowed: {', '.join(commands.FORMATS)}")
    return text


def main(argv: list[str] | None = None) -> int:
    env = dict(os.environ)
    p = argparse.ArgumentParser(
        prog="delay-echo-records",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("query", help="print questions' answers over a run folder's records")
    q.add_argument("folder", type=Path, help="a run folder with records.parquet")
    q.add_argument("query", nargs="*", help="question names or .sql files (default: every one)")
    flags.add(q, "--format", "RECORDS_FORMAT", env, help=f"output: {', '.join(commands.FORMATS)}", default="table", type=fmt)  # fmt: skip
    c = sub.add_parser("collect", help="write FOLDER/records.parquet from delay-echo logs")
    c.add_argument(
        "logs", nargs="*", type=Path, help="delay-echo logs (stderr) written with --access-log"
    )
    flags.add(c, "--into", "RECORDS_INTO", env, help="the run folder to write records.parquet into", type=Path, required=not env.get("RECORDS_INTO"))  # fmt: skip
    s = sub.add_parser("show", help="print a question as Athena and as DuckDB run it")
    s.add_argument("query", help="a question name or .sql file")
    a = p.parse_args(sys.argv[1:] if argv is None else argv)
    if a.cmd == "query":
        return commands.guarded(lambda: commands.query(a.folder, a.query, a.format))
    if a.cmd == "collect":
        return commands.guarded(lambda: commands.collect(a.logs, a.into))
    return commands.guarded(lambda: commands.show(a.query))


if __name__ == "__main__":
    sys.exit(main())
