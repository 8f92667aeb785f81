"""Large synthetic runs in the exact file format k6 writes (`--out csv`, unix_milli timestamps).

Every request gets the 21 rows a real run of loadtests/k6 writes for it (k6's own http_req_* trends,
checks, data and iteration rows, then the echo_* metrics with their instance tags, the tags in
varying order as k6 emits them), so the benchmark parses what a real run would make it parse. DuckDB
writes the gzip file straight from a row-number range: generating 5 M requests (105 M rows) needs no
memory to speak of. Beside it, the same requests as the record lines the k6 script writes
(records.jsonl.gz) and a summary.json counting no dropped iterations, as a loadtest folder has them:
the analysis reads those, and an analysis from before the records reads the CSV of the same folder.

The run is a spike: BASE req/s for LEAD seconds, then PEAK req/s until the request count is reached.
One instance serves until the spike, a second answers 8 s into it, two more 15 s into it; latency is
high and 5 % of answers are 503 until 20 s into the spike, then recovers.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from loadtests.core.run import RunMeta

EPOCH_MS = 1_780_000_000_000
HEADER = (
    "metric_name,timestamp,metric_value,check,error,error_code,expected_response,method,proto,"
    "scenario,status,extra_tags,metadata"
)
# The rows k6 writes per request, in its order: (metric, value expression, kind). `http` rows carry
# expected_response/method/proto; `echo` rows the instance tags; `plain` rows only the scenario.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("http_reqs", "1", "http"),
    ("http_req_duration", "lat - 0.6", "http"),
    ("http_req_blocked", "0.004", "http"),
    ("http_req_connecting", "0", "http"),
    ("http_req_tls_handshaking", "0", "http"),
    ("http_req_sending", "0.02", "http"),
    ("http_req_waiting", "lat - 0.7", "http"),
    ("http_req_receiving", "0.05", "http"),
    ("http_req_failed", "CASE WHEN status = 200 THEN 0 ELSE 1 END", "http"),
    ("echo_latency", "lat", "echo"),
    ("echo_server_queue", "0", "echo"),
    ("echo_server_sleep", "lat - 2", "echo"),
    ("echo_server_cpu", "0", "echo"),
    ("echo_server_total", "lat - 2", "echo"),
    ("echo_in_flight", "(i % 10)", "echo"),
    ("checks", "CASE WHEN status = 200 THEN 1 ELSE 0 END", "check2xx"),
    ("checks", "1", "checkinst"),
    ("data_sent", "79", "plain"),
    ("data_received", "262", "plain"),
    ("iteration_duration", "lat + 0.1", "plain"),
    ("iterations", "1", "plain"),
)


@dataclass(frozen=True)
class Shape:
    requests: int
    base: int = 200  # req/s before the spike
    lead: int = 60  # seconds at base
    peak: int = 800  # req/s from the spike on

    @property
    def duration(self) -> int:
        at_base = self.base * self.lead
        return self.lead + -(-(self.requests - at_base) // self.peak)

    def options(self) -> dict:
        hold = self.duration - self.lead
        return {
            "scenarios": {
                "spike": {
                    "executor": "ramping-arrival-rate",
                    "startRate": self.base,
                    "timeUnit": "1s",
                    "stages": [
                        {"target": self.base, "duration": f"{self.lead}s"},
                        {"target": self.peak, "duration": "0s"},
                        {"target": self.peak, "duration": f"{hold}s"},
                    ],
                    "preAllocatedVUs": 100,
                    "maxVUs": 1000,
                }
            }
        }


def _requests(shape: Shape, k: int) -> str:
    """Arrival t (s), instance, status and latency (ms) per request i (and row k of it), all from
    i alone: the CTEs both files are written from."""
    at_base = shape.base * shape.lead
    return f"""
    WITH rows AS (
      SELECT j // {k} AS i, j % {k} AS k FROM range({shape.requests * k}) r(j)
    ), req AS (
      SELECT i, k,
        CASE WHEN i < {at_base} THEN i / {shape.base}
             ELSE {shape.lead} + (i - {at_base}) / {shape.peak} END AS t
      FROM rows
    ), req2 AS (
      SELECT i, k, t,
        CASE WHEN t < {shape.lead} + 8 THEN 'i-1'
             WHEN t < {shape.lead} + 15 THEN 'i-' || (1 + i % 2)
             ELSE 'i-' || (1 + i % 4) END AS instance,
        CASE WHEN t >= {shape.lead} AND t < {shape.lead} + 20 AND i % 20 = 0 THEN 503 ELSE 200 END AS status,
        CASE WHEN t >= {shape.lead} AND t < {shape.lead} + 20 THEN 400.0 ELSE 80.0 END
          + (hash(i) % 20000) / 1000.0 AS lat
      FROM req
    )"""


def _records(shape: Shape) -> str:
    """The record lines loadtests/k6/lib/echo.js writes for the same requests (RECORDS=1), with
    the values the CSV rows carry (latency, Server-Timing total and queue, end time in ms)."""
    return f"""{_requests(shape, 1)}
    SELECT CAST(round({EPOCH_MS} + t * 1000 + lat) AS BIGINT) AS t, round(lat, 6) AS ms, status,
      instance, '2026-01-01T00:00:00Z' AS instance_start, NULL::VARCHAR AS cache,
      round(lat - 2, 6) AS total_ms, 0.0 AS queue_ms
    FROM req2
    """


def _select(shape: Shape) -> str:
    k = len(ROWS)
    metric = (
        "CASE k " + " ".join(f"WHEN {i} THEN '{m}'" for i, (m, _, _) in enumerate(ROWS)) + " END"
    )
    value = "CASE k " + " ".join(f"WHEN {i} THEN {v}" for i, (_, v, _) in enumerate(ROWS)) + " END"
    kind = "CASE k " + " ".join(f"WHEN {i} THEN '{c}'" for i, (_, _, c) in enumerate(ROWS)) + " END"
    return f"""{_requests(shape, k)}, out AS (
      SELECT {metric} AS metric, {value} AS v, {kind} AS kind, i, t, instance, status, lat FROM req2
    )
    SELECT metric AS metric_name,
      CAST(round({EPOCH_MS} + t * 1000 + lat) AS BIGINT) AS timestamp,
      printf('%.6f', v) AS metric_value,
      CASE kind WHEN 'check2xx' THEN 'status is 2xx' WHEN 'checkinst' THEN 'answered by an instance' ELSE NULL END AS "check",
      NULL AS error, NULL AS error_code,
      CASE kind WHEN 'http' THEN CASE WHEN status = 200 THEN 'true' ELSE 'false' END ELSE NULL END AS expected_response,
      CASE kind WHEN 'http' THEN 'GET' ELSE NULL END AS method,
      CASE kind WHEN 'http' THEN 'HTTP/1.1' ELSE NULL END AS proto,
      'spike' AS scenario,
      CASE WHEN kind IN ('http', 'echo') THEN CAST(status AS VARCHAR) ELSE NULL END AS status,
      CASE kind
        WHEN 'http' THEN 'name=echo&profile=spike'
        WHEN 'echo' THEN CASE i % 3
          WHEN 0 THEN 'instance_start=2026-01-01T00:00:00Z&instance=' || instance || '&profile=spike'
          WHEN 1 THEN 'profile=spike&instance=' || instance || '&instance_start=2026-01-01T00:00:00Z'
          ELSE 'instance=' || instance || '&profile=spike&instance_start=2026-01-01T00:00:00Z' END
        ELSE 'profile=spike' END AS extra_tags,
      NULL AS metadata
    FROM out
    """


def _write(path: Path, head: str, select: str, fmt: str) -> None:
    """`head` then the rows of `select` as one gzip file: DuckDB writes the rows as a member of their
    own (gzip members concatenate into one stream), so no row is held in memory."""
    body = path.with_name("body-" + path.name)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"COPY ({select}) TO '{body}' ({fmt}, COMPRESSION gzip)")
    con.close()
    with path.open("wb") as out:
        out.write(gzip.compress(head.encode()))
        with body.open("rb") as src:
            while chunk := src.read(1 << 20):
                out.write(chunk)
    body.unlink()


def write_records(folder: Path, shape: Shape) -> Path:
    """Write records.jsonl.gz and summary.json (no dropped iterations) for `shape` into `folder`:
    what the loadtest writes beside raw.csv.gz, so one folder serves the CSV and the records."""
    folder.mkdir(parents=True, exist_ok=True)
    records = folder / "records.jsonl.gz"
    _write(records, json.dumps({"run_start": EPOCH_MS}) + "\n", _records(shape), "FORMAT json")
    counts = {"http_reqs": {"count": shape.requests}, "dropped_iterations": {"count": 0}}
    (folder / "summary.json").write_text(json.dumps({"metrics": counts}))
    return records


def write_run(folder: Path, shape: Shape) -> Path:
    """Write raw.csv.gz, records.jsonl.gz, summary.json, options.json and run.json for `shape`
    into `folder` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    # The run-start gauge comes first, as in a real file.
    _write(
        folder / "raw.csv.gz",
        f"{HEADER}\necho_run_start,{EPOCH_MS},{EPOCH_MS}.000000,,,,,,,,,,\n",
        _select(shape),
        "FORMAT csv, HEADER false, QUOTE '\"'",
    )
    write_records(folder, shape)
    (folder / "options.json").write_text(json.dumps(shape.options()))
    RunMeta(
        profile="spike",
        target="http://127.0.0.1:1",
        parameters={"SLO_P95": "250ms", "SLO_ERROR_RATE": "0.01"},
        service={"MAX_CONCURRENCY": "20"},
        start_utc="2026-01-01T00:00:00.000Z",
        end_utc="2026-01-01T01:00:00.000Z",
        git_revision="0" * 40,
        git_dirty=False,
        k6_version="k6 (bench-analysis synthetic)",
        k6_exit_code=0,
    ).write(folder)
    return folder
