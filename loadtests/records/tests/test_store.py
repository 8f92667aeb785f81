"""Instance logs -> records.parquet: only records are kept, with the schema's columns."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import jsonschema
import pytest

from loadtests.records import store
from loadtests.records.__main__ import main
from loadtests.records.tests import records_lines as rl

SCHEMA = json.loads(store.SCHEMA.read_text())


def parquet_rows(path: Path) -> list[dict]:
    with duckdb.connect() as db:
        cur = db.execute(f"SELECT * FROM read_parquet('{path}')")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def test_the_columns_are_the_schemas_fields_with_their_types():
    cols = store.columns()
    assert list(cols) == list(SCHEMA["properties"])
    assert cols["v"] == "INTEGER" and cols["status"] == "INTEGER" and cols["seq"] == "BIGINT"
    assert cols["t_unix"] == "DOUBLE" and cols["ts"] == "VARCHAR"
    assert cols["legs"] == (
        "STRUCT(peer VARCHAR, status INTEGER, rtt_ms DOUBLE, peer_total_ms DOUBLE, "
        "network_ms DOUBLE)[]"
    )


def test_only_version_1_records_are_kept_from_a_log_of_mixed_lines(tmp_path):
    kept = [
        rl.lifecycle("start", 100.0, "a"),
        rl.request(101.5, "a", "eu", legs=[rl.leg("us", 10.0)], cache="miss"),
        rl.request(101.6, "a", "eu", status=400, seq=None),
    ]
    for r in kept:
        jsonschema.validate(r, SCHEMA)
    log = tmp_path / "a.log"
    log.write_text(
        "2026-12-03T11:56:14.208415Z  INFO delay_echo::server: listening address=127.0.0.1:1\n"
        + rl.lines(kept[:1])
        + '{"timestamp":"x","level":"INFO","message":"ready","startup_seed":11560205772655090716}\n'
        + "\n"
        + rl.lines(kept[1:])
        + json.dumps({**kept[1], "v": 2}) + "\n"
        + '{"v":1,"event":"request","ts":"2026-12-03T11:5'  # cut short by a kill
    )  # fmt: skip
    got = store.collect([log], tmp_path)
    assert (got.records, got.logs, got.path) == (3, 1, tmp_path / "records.parquet")
    rows = parquet_rows(got.path)
    assert [(r["event"], r["t_unix"], r["status"]) for r in rows] == [
        ("start", 100.0, None),
        ("request", 101.5, 200),
        ("request", 101.6, 400),
    ]
    assert rows[1]["legs"] == [kept[1]["legs"][0]] and rows[1]["cache"] == "miss"
    assert rows[2]["seq"] is None and rows[2]["legs"] == []


def test_no_logs_make_an_empty_table_with_every_column(tmp_path):
    got = store.collect([], tmp_path)
    assert got.records == 0
    with duckdb.connect() as db:
        cols = db.execute(f"DESCRIBE SELECT * FROM read_parquet('{got.path}')").fetchall()
    assert [c[0] for c in cols] == list(SCHEMA["properties"])


def test_a_missing_log_is_an_error_naming_it(tmp_path):
    with pytest.raises(store.RecordsError, match=r"no such log: .*nope\.log"):
        store.collect([tmp_path / "nope.log"], tmp_path)
    assert not (tmp_path / "records.parquet").exists()


def test_the_command_refuses_a_folder_without_records_and_an_unknown_question(tmp_path, capsys):
    assert main(["query", str(tmp_path)]) == 2
    assert "no records.parquet in" in capsys.readouterr().err
    store.collect([], tmp_path)
    assert main(["query", str(tmp_path), "latency"]) == 2
    err = capsys.readouterr().err
    assert "no query 'latency'; allowed: instance_timeline, latency_matrix, per_second" in err
    with pytest.raises(SystemExit) as e:
        main(["query", str(tmp_path), "--format", "xml"])
    assert e.value.code == 2
    assert "allowed: table, csv, json" in capsys.readouterr().err


def test_collect_then_query_through_the_command(tmp_path, capsys):
    log = tmp_path / "x.log"
    log.write_text(rl.lines([rl.request(10.2, "a"), rl.request(10.7, "a", status=503)]))
    assert main(["collect", "--into", str(tmp_path), str(log)]) == 0
    assert "2 records from 1 logs" in capsys.readouterr().out
    assert main(["query", str(tmp_path), "per_second", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["per_second"]
    assert (row["second"], row["requests"], row["s2xx"], row["s5xx"]) == (10, 2, 1, 1)
    assert main(["query", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "instance_timeline (1 rows)" in out and "latency_matrix (0 rows)" in out


def test_a_studys_records_come_from_each_delay_echos_log_in_its_run_folder(tmp_path):
    from loadtests.studies import runner
    from loadtests.studies.study import find

    study = find("cache-vs-db")
    echoes = [s for s in study.services.values() if s.kind == "delay-echo"]
    assert len(echoes) >= 2
    (tmp_path / "logs").mkdir()
    for i, s in enumerate(echoes):
        log = tmp_path / "logs" / f"{s.host}-{s.name}.log"
        log.write_text("text line\n" + rl.lines([rl.request(100.0 + i, s.name)]))
    (tmp_path / "logs" / "user-loadtest-A.log").write_text(rl.lines([rl.request(1.0, "not")]))
    runner.records(study, tmp_path)
    rows = parquet_rows(tmp_path / "records.parquet")
    assert sorted(r["instance"] for r in rows) == sorted(s.name for s in echoes)
