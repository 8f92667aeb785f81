"""The questions asked of the records, one SQL file each in loadtests/queries/, run with DuckDB
over a run folder's `records.parquet` as the table `records`.

The files are Trino SQL, the dialect Athena runs them in (infra/ makes each a named query), and
run here as DuckDB SQL through sqlglot's transpiler plus two rewrites of our own, because the two
engines disagree where the questions need them:
- `CROSS JOIN UNNEST(legs) AS l (peer, status, …)`: Trino expands an array of rows into one
  column per field; DuckDB's UNNEST in FROM gives one struct column, so it becomes
  `CROSS JOIN LATERAL (SELECT UNNEST(legs, max_depth := 2)) AS l (peer, status, …)`;
- `approx_percentile(x, p)`: Trino's is approximate (a quantile digest); here it is the exact
  `quantile_cont`, so a local answer is the true percentile (interpolated) the tests can hold
  to a ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from loadtests.core.tools import REPO

from .store import PARQUET, RecordsError

QUERIES = REPO / "loadtests" / "queries"
TABLE = "records"


@dataclass(frozen=True)
class Answer:
    """A query's answer: column names and rows, in the query's order."""

    name: str
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


def names() -> list[str]:
    """The questions: the SQL files' names without `.sql`."""
    return sorted(p.stem for p in QUERIES.glob("*.sql"))


def find(query: str) -> Path:
    """A question by name (`latency_matrix`) or a path to a .sql file."""
    path = Path(query)
    if path.suffix == ".sql" and path.is_file():
        return path
    named = QUERIES / f"{query}.sql"
    if named.is_file():
        return named
    raise RecordsError(
        f"no query {query!r}; allowed: {', '.join(names())}, or the path of a .sql file"
    )


def parse(sql: str, source: str = "query") -> exp.Expr:
    """The Trino SQL parsed (what Athena will be given); a syntax error names the file."""
    try:
        tree = sqlglot.parse_one(sql, read="trino", error_level=sqlglot.ErrorLevel.RAISE)
    except sqlglot.errors.ParseError as e:
        raise RecordsError(f"{source} is not Trino SQL: {e}") from None
    if tree is None:
        raise RecordsError(f"{source} holds no statement")
    return tree


def _lateral_unnest(node: exp.Expr) -> exp.Expr:
    if not isinstance(node, exp.Unnest) or len(node.expressions) != 1:
        return node
    alias = node.args.get("alias")
    if alias is None or len(alias.columns) < 2:
        return node
    select = exp.select(
        exp.Explode(
            this=node.expressions[0].copy(),
            expressions=[
                exp.PropertyEQ(
                    this=exp.to_identifier("max_depth"), expression=exp.Literal.number(2)
                )
            ],
        )
    )
    return exp.Lateral(this=exp.Subquery(this=select), alias=alias.copy())


def _exact_percentile(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.ApproxQuantile):
        return exp.Anonymous(
            this="quantile_cont", expressions=[node.this.copy(), node.args["quantile"].copy()]
        )
    return node


def to_duckdb(sql: str, source: str = "query") -> str:
    """The Trino query as DuckDB runs it (see the module doc for the two rewrites)."""
    tree = parse(sql, source).transform(_lateral_unnest).transform(_exact_percentile)
    return tree.sql(dialect="duckdb")


def run(folder: Path, query: str) -> Answer:
    """Runs a question (name or .sql path) over `folder/records.parquet`."""
    parquet = Path(folder) / PARQUET
    if not parquet.is_file():
        raise RecordsError(
            f"no {PARQUET} in {folder}: a run with records writes it (make platform-local, "
            "make mesh-local, a study), or delay-echo-records collect makes one from logs"
        )
    path = find(query)
    sql = to_duckdb(path.read_text(), str(path))
    with duckdb.connect() as db:
        quoted = str(parquet).replace("'", "''")
        db.execute(f"CREATE VIEW {TABLE} AS SELECT * FROM read_parquet('{quoted}')")
        cur = db.execute(sql)
        cols = [d[0] for d in cur.description or []]
        rows = cur.fetchall()
    return Answer(name=path.stem, columns=cols, rows=rows)
