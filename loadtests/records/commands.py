"""What `delay-echo-records` does: collect logs into a run folder's records.parquet, print a
question's answer, or show a question as DuckDB will run it."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from . import queries, store
from .store import RecordsError

FORMATS = ("table", "csv", "json")


def collect(logs: Sequence[Path], folder: Path, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    got = store.collect(logs, folder)
    print(f"records: {got.records} records from {got.logs} logs in {got.path}", file=out)
    return 0


def query(folder: Path, names: Sequence[str], fmt: str, out: TextIO | None = None) -> int:
    """Each question's answer (every question when `names` is empty), in `fmt`."""
    out = out or sys.stdout
    answers = [queries.run(folder, n) for n in (names or queries.names())]
    if fmt == "json":
        json.dump({a.name: a.records() for a in answers}, out, indent=1)
        out.write("\n")
        return 0
    for i, a in enumerate(answers):
        if fmt == "csv":
            if len(answers) > 1:
                print(f"# {a.name}", file=out)
            w = csv.writer(out, lineterminator="\n")
            w.writerow(a.columns)
            w.writerows(a.rows)
        else:
            print(("\n" if i else "") + f"{a.name} ({len(a.rows)} rows)", file=out)
            print("\n".join(table(a.columns, a.rows)), file=out)
    return 0


def show(name: str, out: TextIO | None = None) -> int:
    """A question as Athena runs it (the file) and as DuckDB runs it here."""
    out = out or sys.stdout
    path = queries.find(name)
    print(f"-- {path} (Trino, as Athena runs it)\n{path.read_text().strip()}\n", file=out)
    print(f"-- as DuckDB runs it here\n{queries.to_duckdb(path.read_text(), str(path))}", file=out)
    return 0


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Columns aligned, numbers to the right."""
    cells = [[_cell(v) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [
        all(isinstance(r[i], int | float) or r[i] is None for r in rows) and bool(rows)
        for i in range(len(columns))
    ]

    def line(vals: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(vals, widths, numeric, strict=True)
        ).rstrip()

    return [line(list(columns))] + [line(r) for r in cells]


def guarded(fn: Callable[[], int]) -> int:
    """Exit 2 with the reason for bad input (a folder without records, an unknown question)."""
    try:
        return fn()
    except RecordsError as e:
        print(f"records: {e}", file=sys.stderr)
        return 2
