"""Instance logs -> `records.parquet`: every record line of every log, one row per record, the
columns and their types derived from docs/records.schema.json (the one statement of the shape).

DuckDB reads the logs itself (newline-delimited JSON with the columns given, so nothing is
guessed), streaming: a log is mostly records, and a long run's logs are hundreds of megabytes.
Lines that are not records are skipped, as docs/records.md asks of readers: text log lines and
a line cut short (a killed process) fail to parse, JSON log lines have no `"v"`, and a record of
another version is not this reader's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from loadtests.core.tools import REPO

SCHEMA = REPO / "docs" / "records.schema.json"
VERSION = 1
PARQUET = "records.parquet"
# A JSON integer whose schema caps it below this fits a 32-bit column (Glue's int).
INT32_MAX = 2**31 - 1


class RecordsError(RuntimeError):
    """Records that cannot be collected or queried, with what to do."""


@dataclass(frozen=True)
class Collected:
    path: Path
    records: int
    logs: int


def _sql_type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        return _sql_type(defs[prop["$ref"].rsplit("/", 1)[1]], defs)
    if "const" in prop or "enum" in prop:
        values = [prop["const"]] if "const" in prop else prop["enum"]
        return "INTEGER" if all(isinstance(v, int) for v in values) else "VARCHAR"
    kinds = prop.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    kind = next(k for k in kinds if k != "null")
    if kind == "integer":
        return "INTEGER" if prop.get("maximum", INT32_MAX + 1) <= INT32_MAX else "BIGINT"
    if kind == "number":
        return "DOUBLE"
    if kind == "string":
        return "VARCHAR"
    if kind == "array":
        return _sql_type(prop["items"], defs) + "[]"
    if kind == "object":
        fields = ", ".join(f"{name} {_sql_type(p, defs)}" for name, p in prop["properties"].items())
        return f"STRUCT({fields})"
    raise RecordsError(f"{SCHEMA}: no column type for {prop!r}")


@cache
def columns() -> dict[str, str]:
    """Column name -> DuckDB type, in the schema's order."""
    schema = json.loads(SCHEMA.read_text())
    defs = schema.get("$defs", {})
    return {name: _sql_type(p, defs) for name, p in schema["properties"].items()}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def collect(logs: Iterable[Path], folder: Path) -> Collected:
    """Writes `folder/records.parquet` from the records in `logs` (in the logs' order; an empty
    table, with every column, when there are none). A log that does not exist is an error."""
    paths = [Path(p) for p in logs]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise RecordsError(f"no such log: {', '.join(missing)}")
    out = Path(folder) / PARQUET
    cols = columns()
    struct = "{" + ", ".join(f"{_literal(n)}: {_literal(t)}" for n, t in cols.items()) + "}"
    names = ", ".join(cols)
    if paths:
        files = "[" + ", ".join(_literal(str(p)) for p in paths) + "]"
        source = (
            f"SELECT {names} FROM read_json({files}, format = 'newline_delimited', "
            f"columns = {struct}, ignore_errors = true, maximum_object_size = 1048576) "
            f"WHERE v = {VERSION}"
        )
    else:
        source = "SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {n}" for n, t in cols.items())
        source += " WHERE false"
    tmp = out.with_name(out.name + ".tmp")
    try:
        with duckdb.connect() as db:
            db.execute(f"COPY ({source}) TO {_literal(str(tmp))} (FORMAT parquet)")
            row = db.execute(f"SELECT count(*) FROM read_parquet({_literal(str(tmp))})").fetchone()
    except duckdb.Error as e:
        tmp.unlink(missing_ok=True)
        raise RecordsError(f"cannot write {out} from {', '.join(map(str, paths))}: {e}") from e
    # Whole or not at all: a reader never sees a half-written table.
    tmp.replace(out)
    return Collected(path=out, records=int(row[0]) if row else 0, logs=len(paths))
