"""The questions (loadtests/queries/*.sql): Trino SQL Athena can run, and known answers from
DuckDB over records whose answers are known by construction."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import sqlglot

from loadtests.records import queries, store
from loadtests.records.tests import records_lines as rl

SCHEMA = json.loads(store.SCHEMA.read_text())


def table(tmp_path: Path, records: list[dict]) -> Path:
    for r in records:
        jsonschema.validate(r, SCHEMA)
    (tmp_path / "r.log").write_text(rl.lines(records))
    store.collect([tmp_path / "r.log"], tmp_path)
    return tmp_path


def by(answer: queries.Answer, *keys: str) -> dict:
    return {tuple(r[k] for k in keys): r for r in answer.records()}


@pytest.mark.parametrize("name", queries.names())
def test_each_question_is_trino_sql_and_answers_the_columns_its_header_names(name, tmp_path):
    sql = queries.find(name).read_text()
    tree = sqlglot.parse_one(sql, read="trino", error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(tree, sqlglot.exp.Select)
    assert {t.name for t in tree.find_all(sqlglot.exp.Table)} == {queries.TABLE}
    # No dialect's own time functions: time is t_unix (the contract's common subset).
    assert not re.search(r"\b(from_unixtime|to_timestamp|date_trunc|epoch_ms|now)\s*\(", sql, re.I)
    header = " ".join(line.lstrip("- ") for line in sql.splitlines() if line.startswith("--"))
    named = re.search(r"Columns: (.*?)\.(?:\s|$)", header)
    assert named, f"{name}.sql: its header names no Columns"
    columns = [
        re.sub(r"\s*\(.*", "", c).strip() for c in re.split(r",\s*(?![^()]*\))", named.group(1))
    ]
    store.collect([], tmp_path)
    assert queries.run(tmp_path, name).columns == columns


def test_the_latency_matrix_is_each_senders_legs_by_peer(tmp_path):
    times = iter(np.arange(1000.0, 1100.0, 0.5))
    eu_us = [float(x) for x in range(1, 10)]
    us_eu = [20.0, 22.0, 21.0]
    recs = [rl.request(next(times), "eu-1", "eu", legs=[rl.leg("us", x)]) for x in eu_us]
    recs += [rl.request(next(times), "eu-1", "eu", legs=[rl.leg("us", None)], status=504)]
    recs += [rl.request(next(times), "us-1", "us", legs=[rl.leg("eu", x)]) for x in us_eu]
    recs += [rl.request(next(times), "us-1", "us")]  # no leg: not in the matrix
    got = by(queries.run(table(tmp_path, recs), "latency_matrix"), "region", "peer")
    assert set(got) == {("eu", "us"), ("us", "eu")}
    for key, values, errors in ((("eu", "us"), eu_us, 1), (("us", "eu"), us_eu, 0)):
        row = got[key]
        assert (row["n"], row["errors"]) == (len(values), errors)
        for p in (50, 90, 99):
            assert row[f"p{p}_ms"] == pytest.approx(float(np.percentile(values, p)))


def test_the_instance_timeline_brackets_each_instances_requests(tmp_path):
    recs = [
        rl.lifecycle("start", 100.0, "a"),
        rl.lifecycle("ready", 101.0, "a"),
        *(rl.request(t, "a") for t in (102.0, 104.0, 106.0)),
        rl.lifecycle("drain", 107.0, "a"),
        rl.lifecycle("start", 103.0, "b"),
        rl.request(105.0, "b"),
    ]
    got = by(queries.run(table(tmp_path, recs), "instance_timeline"), "instance")
    a, b = got[("a",)], got[("b",)]
    assert (a["start_unix"], a["ready_unix"], a["drain_unix"]) == (100.0, 101.0, 107.0)
    assert (a["first_request_unix"], a["last_request_unix"], a["requests"]) == (102.0, 106.0, 3)
    assert a["requests_per_second"] == pytest.approx(3 / 4)
    assert a["first_request_ts"].startswith("1970-01-01T00:01:42.000000Z")
    assert (b["requests"], b["requests_per_second"], b["ready_unix"]) == (1, None, None)
    assert list(got) == [("a",), ("b",)], "ordered by start"


def test_per_second_counts_each_second_and_instance_by_status_class(tmp_path):
    recs = [
        rl.request(50.1, "a", status=200, total_ms=10.0),
        rl.request(50.9, "a", status=503, total_ms=30.0),
        rl.request(50.5, "b", status=304, total_ms=5.0),
        rl.request(51.0, "a", status=404, total_ms=7.0),
        rl.lifecycle("ready", 50.0, "a"),  # not a request
    ]
    got = by(queries.run(table(tmp_path, recs), "per_second"), "second", "instance")
    assert set(got) == {(50, "a"), (50, "b"), (51, "a")}
    a50 = got[(50, "a")]
    counts = ("requests", "s2xx", "s3xx", "s4xx", "s5xx")
    assert tuple(a50[c] for c in counts) == (2, 1, 0, 0, 1)
    assert a50["p50_total_ms"] == pytest.approx(20.0)
    assert a50["p99_total_ms"] == pytest.approx(float(np.percentile([10.0, 30.0], 99)))
    assert tuple(got[(50, "b")][c] for c in counts) == (1, 0, 1, 0, 0)
    assert tuple(got[(51, "a")][c] for c in counts) == (1, 0, 0, 1, 0)


def test_duckdb_gets_the_unnest_of_rows_and_exact_percentiles():
    sql = queries.to_duckdb(queries.find("latency_matrix").read_text())
    assert "CROSS JOIN LATERAL (SELECT UNNEST(r.legs, max_depth := 2)) AS l(peer," in sql
    assert "QUANTILE_CONT(l.network_ms, 0.5)" in sql and "APPROX" not in sql.upper()
    # A one-column UNNEST of plain values is the same in both and left alone.
    plain = queries.to_duckdb("SELECT x FROM records CROSS JOIN UNNEST(ARRAY[1, 2]) AS t (x)")
    assert "LATERAL" not in plain


def test_sql_that_is_not_trino_is_refused_naming_its_file():
    with pytest.raises(store.RecordsError, match=r"bad\.sql is not Trino SQL"):
        queries.to_duckdb("SELECT FROM WHERE (", "bad.sql")
