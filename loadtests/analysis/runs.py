"""Reading run folders written by the loadtest (loadtests/loadtest) into DuckDB tables, streaming.

A run folder holds k6's raw CSV (every sample, millisecond timestamps), the resolved k6 options and
run.json (loadtests/core/run.py). Several folders can make one run: each load generator drives its execution segment and
writes its own folder; their samples share one wall clock and their planned rates add up.
Percentiles are computed afterwards from the merged samples, never averaged across generators.

Why DuckDB: k6 writes about 20 CSV rows per request, of which the analysis keeps three (the latency
with its tags, and the Server-Timing total and queue). DuckDB reads the gzip file in one streaming
pass, keeps only those rows in a database file in a temporary folder, and answers every aggregate
the report needs (per-second percentiles, per-instance first answers) with bounded memory: pandas
held every row and needed about 1.9 GB per million requests (loadtests/README.md, "Analysis at
scale", has the measurements that chose DuckDB over Polars).

A folder written with records (records.jsonl.gz: one JSON line per request from the k6 script, see
loadtests/k6/lib/echo.js) is read from them instead: the same values in one line per request, so
the CSV is read only for what the records do not carry (k6's dropped_iterations), and not at all
when summary.json counts none.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
import subprocess
import tempfile
import weakref
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from loadtests.core.plan import Plan, PlanError, k6_seconds
from loadtests.core.run import FILE as RUN_FILE
from loadtests.core.run import RunMeta, RunMetaError, Segment

from .platform import PlatformLog, PlatformLogError, read_platform_log

# The k6 metrics the analysis reads (written by loadtests/k6/lib/echo.js), plus k6's own
# dropped_iterations. The Server-Timing sleep and cpu parts and the in-flight count are not used.
WANTED = (
    "echo_latency",
    "echo_server_total",
    "echo_server_queue",
    "echo_run_start",
    "dropped_iterations",
)
COLUMNS = ("metric_name", "timestamp", "metric_value", "status", "extra_tags")
RAW_NAMES = ("raw.csv.gz", "raw.csv")
RECORD_NAMES = ("records.jsonl.gz", "records.jsonl")
# What the records carry of WANTED; the rest comes from the CSV.
IN_RECORDS = ("echo_latency", "echo_server_total", "echo_server_queue", "echo_run_start")
# A record line's fields (echo.js) and their types; a line of other JSON reads as NULLs, skipped.
RECORD_COLUMNS = {
    "t": "DOUBLE",
    "ms": "DOUBLE",
    "status": "INTEGER",
    "instance": "VARCHAR",
    "instance_start": "VARCHAR",
    "cache": "VARCHAR",
    "total_ms": "DOUBLE",
    "queue_ms": "DOUBLE",
    "run_start": "DOUBLE",
}
# DuckDB's own memory ceiling: what does not fit goes to the temporary database file.
MEMORY_LIMIT = "256MB"


class RunError(Exception):
    """A run folder that cannot be analysed, with what was expected."""


@dataclass
class Run:
    """One run, possibly merged from several generators' folders. Times are seconds since `origin`.

    The samples live in `db` (a DuckDB database in a temporary folder, removed with the Run):
    `requests(t_start, t_end, latency_ms, status, ok, instance, instance_start, cache)`,
    `server(t_end, part, value_ms, ok)` with part total or queue, and `dropped(t, count)`.
    """

    dirs: list[Path]
    meta: list[RunMeta]  # of the folders that have a run.json, in the order given
    label: str
    origin: float  # epoch seconds of the earliest scenario start
    db: duckdb.DuckDBPyConnection
    planned: pd.Series  # planned arrivals per second (index: second), all generators together
    events: list[tuple[int, bool]] = field(
        default_factory=list
    )  # (second, rises?) where the plan jumps
    parameters: dict[str, Any] = field(default_factory=dict)
    service: dict[str, Any] = field(default_factory=dict)
    n_requests: int = 0
    last_start: float = 0.0  # latest arrival, seconds
    last_end: float = 0.0  # latest answer, seconds
    platform: PlatformLog | None = None

    @property
    def profile(self) -> str:
        return self.meta[0].profile if self.meta else "?"

    @property
    def duration(self) -> float:
        ends = [self.last_end if self.n_requests else 0.0]
        if len(self.planned):
            ends.append(float(self.planned.index.max()) + 1)
        return float(max(ends))

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """A query over the run's tables as a (small) pandas frame."""
        return self.db.execute(sql, params or []).df()

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        row = self.db.execute(sql, params or []).fetchone()
        return row[0] if row else None


def parse_duration(text: object) -> float:
    """Seconds from a Go/k6 duration ("1m0s", "250ms", "0s") or a number of milliseconds."""
    try:
        return k6_seconds(text)
    except PlanError as e:
        raise RunError(str(e)) from None


def segment_fraction(segment: Segment | None) -> float:
    """The share of the planned rate one generator drives ("1/3:2/3" → 1/3); 1 when unsegmented."""
    if not segment:
        return 1.0
    try:
        a, b = (Fraction(x) if x else Fraction(0) for x in segment.segment.split(":"))
    except (ValueError, ZeroDivisionError) as e:
        raise RunError(
            f"run.json segment {segment!r} is not of the form from:to (e.g. 1/3:2/3)"
        ) from e
    return float(b - a)


def planned_rate(options: dict[str, Any], fraction: float = 1.0, step: float = 0.01) -> pd.Series:
    """Planned arrivals per second from the k6 scenarios (arrival-rate executors only)."""
    try:
        pieces = Plan.from_options(options).pieces
    except PlanError as e:
        raise RunError(str(e)) from None
    if not pieces:
        return pd.Series(dtype=float)
    end = max(p.t1 for p in pieces)
    n = math.ceil(end - 1e-9)
    # Average the rate over each second by sampling at sub-second midpoints: exact for steps that
    # land on whole seconds, close enough (1 %) for ramps.
    ts = (np.arange(round(n / step)) + 0.5) * step
    rate = np.zeros_like(ts)
    for p in pieces:
        m = (ts >= p.t0) & (ts < p.t1)
        rate[m] += p.r0 + (p.r1 - p.r0) * (ts[m] - p.t0) / (p.t1 - p.t0)
    per_second = rate.reshape(n, -1).mean(axis=1) * fraction
    return pd.Series(per_second, index=pd.RangeIndex(n, name="second"), name="planned")


def plan_events(options: dict[str, Any]) -> list[tuple[float, bool]]:
    """Instants where the planned rate jumps and whether it rises (Plan.jumps); these delimit the
    report's spike windows."""
    try:
        return list(Plan.from_options(options).jumps)
    except PlanError as e:
        raise RunError(str(e)) from None


def _first(d: Path, names: tuple[str, ...]) -> Path | None:
    return next((d / n for n in names if (d / n).exists()), None)


def _raw_path(d: Path) -> Path:
    if (raw := _first(d, RAW_NAMES)) is not None:
        return raw
    raise RunError(
        f"{d}: no raw results ({' or '.join(RAW_NAMES + RECORD_NAMES)}); is this a folder written by "
        "make loadtest?"
    )


def _counted_dropped(d: Path) -> int | None:
    """dropped_iterations in the folder's summary.json (k6 writes it at the end); None without."""
    try:
        metrics = json.loads((d / "summary.json").read_text()).get("metrics", {})
        return int(metrics.get("dropped_iterations", {}).get("count", 0))
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def _header(path: Path) -> list[str]:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", newline="") as f:
                return f.readline().strip().split(",")
        with path.open(newline="") as f:
            return f.readline().strip().split(",")
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise RunError(f"{path}: not a readable k6 CSV result file ({e})") from e


def _tag(name: str) -> str:
    # k6 writes extra tags as name=value pairs joined by '&', in no fixed order.
    return f"nullif(regexp_extract(extra_tags, '(?:^|&){name}=([^&]*)', 1), '')"


def _filter(path: Path, fifo: Path, wanted: tuple[str, ...]) -> list[subprocess.Popen[bytes]]:
    """Start `gzip -dc | grep` writing the wanted rows of `path` into `fifo`.

    Why: k6 writes ~20 rows per request and the analysis keeps 3. Decompressing and dropping the
    other rows in two small processes lets DuckDB parse only what it keeps, on the other core, while
    the file is still being decompressed: the whole read then costs about what `gzip -dc` does
    (README, "Analysis at scale"). Only rows starting with a wanted metric name pass.
    """
    pattern = "^(" + "|".join(wanted) + "),"
    procs: list[subprocess.Popen[bytes]] = []
    grep_in: Any = subprocess.DEVNULL
    grep_args = [str(path)]
    if path.suffix == ".gz":
        gz = subprocess.Popen(
            ["gzip", "-dc", "--", str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
        )
        procs.append(gz)
        grep_in, grep_args = gz.stdout, []
    # The shell opens the FIFO for grep, so this process never blocks on a FIFO whose reader
    # does not come (a failed query); the caller kills the pipeline then.
    procs.append(
        subprocess.Popen(
            [
                "sh",
                "-c",
                'f="$1"; shift; exec grep -E "$@" > "$f"',
                "filter",
                str(fifo),
                "--",
                pattern,
                *grep_args,
            ],
            stdin=grep_in,
        )
    )
    if procs[0] is not procs[-1] and procs[0].stdout is not None:
        procs[0].stdout.close()  # grep holds the read end now; gzip gets SIGPIPE if grep dies
    return procs


def _finish(procs: list[subprocess.Popen[bytes]], path: Path, failed: bool) -> None:
    for p in procs:
        if failed and p.poll() is None:
            p.kill()
        p.wait()
    if failed:
        return
    # gzip must have read the whole file; grep exits 1 when nothing matched (the caller says so).
    if len(procs) == 2 and procs[0].returncode != 0:
        raise RunError(f"{path}: not a readable gzip file (gzip -dc exited {procs[0].returncode})")
    if procs[-1].returncode not in (0, 1):
        raise RunError(f"{path}: could not filter the samples (grep exited {procs[-1].returncode})")


def _ingest(
    db: duckdb.DuckDBPyConnection, g: int, path: Path, tmp: Path, wanted: tuple[str, ...] = WANTED
) -> None:
    """One streaming pass over one generator's CSV: keep the `wanted` rows, typed, tags split out."""
    header = _header(path)
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise RunError(
            f"{path}: missing columns {missing}; a k6 CSV result has {list(COLUMNS)} among its columns"
        )
    types = {c: "DOUBLE" if c in ("timestamp", "metric_value") else "VARCHAR" for c in header}
    fifo = tmp / f"samples-{g}.csv"
    os.mkfifo(fifo)
    procs = _filter(path, fifo, wanted)
    failed = True
    try:
        db.execute(
            f"""
            INSERT INTO samples
            SELECT {g}, metric_name,
              -- k6 writes whole seconds unless K6_CSV_TIME_FORMAT=unix_milli (what the loadtest sets).
              CASE WHEN "timestamp" > 1e11 THEN "timestamp" / 1000.0 ELSE "timestamp" END,
              metric_value, coalesce(TRY_CAST(status AS INTEGER), 0),
              CASE WHEN metric_name = 'echo_latency' THEN extra_tags END
            FROM read_csv(?, header = false, auto_detect = false, columns = ?, quote = '"', escape = '"')
            """,
            [str(fifo), types],
        )
        failed = False
    except duckdb.Error as e:
        raise RunError(f"{path}: not a readable k6 CSV result file ({e})") from e
    finally:
        _finish(procs, path, failed)
        fifo.unlink()


def _ingest_records(db: duckdb.DuckDBPyConnection, g: int, path: Path) -> None:
    """One generator's record lines as the samples the CSV would have given: the latency with its
    tags (in one canonical order: tagmap splits them as it splits k6's), the Server-Timing total
    and queue where the answer had them, and the run start."""
    tags = (
        "concat_ws('&', 'instance=' || instance, 'instance_start=' || instance_start, "
        "'cache=' || cache)"
    )
    # One streaming pass: each line becomes its (up to four) samples, those without a value dropped.
    samples = f"""unnest([
        {{'metric': 'echo_latency', 'ts': t, 'value': ms, 'tags': {tags}}},
        {{'metric': 'echo_server_total', 'ts': t, 'value': total_ms, 'tags': NULL}},
        {{'metric': 'echo_server_queue', 'ts': t, 'value': queue_ms, 'tags': NULL}},
        {{'metric': 'echo_run_start', 'ts': run_start, 'value': run_start, 'tags': NULL}}])"""
    try:
        db.execute(
            f"""
            INSERT INTO samples
            SELECT {g}, s.metric, s.ts / 1000.0, s.value, status, s.tags
            FROM (
              SELECT {samples} AS s, coalesce(status, 0) AS status
              FROM read_json(?, format = 'newline_delimited', columns = ?, ignore_errors = true)
            )
            WHERE s.ts IS NOT NULL AND s.value IS NOT NULL
            """,
            [str(path), RECORD_COLUMNS],
        )
    except duckdb.Error as e:
        raise RunError(f"{path}: not a readable records file ({e})") from e


def _ingest_folder(db: duckdb.DuckDBPyConnection, g: int, d: Path, tmp: Path) -> None:
    """The folder's records where it has them, else its CSV; from the CSV beside records only the
    dropped iterations, and only when summary.json does not count none."""
    records = _first(d, RECORD_NAMES)
    if records is None:
        _ingest(db, g, _raw_path(d), tmp)
        return
    _ingest_records(db, g, records)
    raw = _first(d, RAW_NAMES)
    if raw is not None and _counted_dropped(d) != 0:
        _ingest(db, g, raw, tmp, tuple(w for w in WANTED if w not in IN_RECORDS))


def _read_meta(folder: Path) -> RunMeta | None:
    """The folder's run.json; None without one (the samples and the plan are enough to analyse)."""
    if not (folder / RUN_FILE).exists():
        return None
    try:
        return RunMeta.read(folder)
    except RunMetaError as e:
        raise RunError(str(e)) from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as e:
        raise RunError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(value, dict):
        raise RunError(f"{path}: expected a JSON object")
    return value


def _open_db() -> tuple[duckdb.DuckDBPyConnection, Path]:
    tmp = Path(tempfile.mkdtemp(prefix="delay-echo-analysis-"))
    db = duckdb.connect(str(tmp / "run.duckdb"))
    db.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    db.execute(f"SET temp_directory = '{tmp / 'spill'}'")
    db.execute("SET preserve_insertion_order = false")
    db.execute("SET enable_progress_bar = false")
    db.execute(
        """CREATE TABLE samples (g INTEGER, metric VARCHAR, ts DOUBLE, value DOUBLE, status INTEGER,
                                 tags VARCHAR)"""
    )
    # The folder goes when the connection does (end of the Run or of the process).
    weakref.finalize(db, shutil.rmtree, tmp, True)
    return db, tmp


def load_run(dirs: list[Path] | list[str], label: str | None = None) -> Run:
    """Load and merge one or more folders of the same run (one per load generator)."""
    paths = [Path(d) for d in dirs]
    if not paths:
        raise RunError("no run folder given")
    for d in paths:
        if not d.is_dir():
            raise RunError(
                f"{d}: not a directory; give a run folder such as loadtests/results/<time>-<profile>"
            )
    metas = [_read_meta(d) for d in paths]
    options = [_read_json(d / "options.json") for d in paths]
    for d in paths:
        if _first(d, RECORD_NAMES) is None:
            _raw_path(d)
    profiles = {m.profile for m in metas if m}
    if len(profiles) > 1:
        raise RunError(
            f"folders of different profiles {sorted(profiles)} cannot be merged; compare them instead"
        )
    db, tmp = _open_db()
    for g, d in enumerate(paths):
        _ingest_folder(db, g, d, tmp)

    # Each generator's clock starts at its own scenario start (recorded in setup); the merged run
    # starts at the earliest one, and each generator's plan is shifted by its offset.
    starts = []
    for g in range(len(paths)):
        row = db.execute(
            """SELECT min(value) FILTER (WHERE metric = 'echo_run_start') / 1000.0,
                      min(ts - value / 1000.0) FILTER (WHERE metric = 'echo_latency')
               FROM samples WHERE g = ?""",
            [g],
        ).fetchone()
        run_start, first_arrival = row if row else (None, None)
        if run_start is None and first_arrival is None:
            raise RunError(f"{paths[g]}: no echo_latency samples: did any request complete?")
        starts.append(float(run_start if run_start is not None else first_arrival))
    origin = min(starts)

    # Tags repeat (a few instances, a few orders): split each distinct string once, then join.
    db.execute(
        f"""
        CREATE TABLE tagmap AS
          SELECT tags, coalesce({_tag("instance")}, 'none') AS instance,
                 coalesce({_tag("instance_start")}, 'none') AS instance_start, {_tag("cache")} AS cache
          FROM (SELECT DISTINCT tags AS extra_tags, tags FROM samples WHERE tags IS NOT NULL);
        CREATE TABLE requests AS
          SELECT s.ts - {origin!r} - s.value / 1000.0 AS t_start, s.ts - {origin!r} AS t_end,
                 s.value AS latency_ms, s.status, s.status >= 200 AND s.status < 400 AS ok,
                 coalesce(m.instance, 'none') AS instance, coalesce(m.instance_start, 'none') AS instance_start,
                 m.cache
          FROM samples s LEFT JOIN tagmap m USING (tags) WHERE s.metric = 'echo_latency';
        CREATE VIEW server AS
          SELECT ts - {origin!r} AS t_end, substr(metric, 13) AS part, value AS value_ms,
                 status >= 200 AND status < 400 AS ok
          FROM samples WHERE metric IN ('echo_server_total', 'echo_server_queue');
        CREATE VIEW dropped AS
          SELECT ts - {origin!r} AS t, value AS count FROM samples WHERE metric = 'dropped_iterations';
        """
    )
    events: set[tuple[int, bool]] = set()
    plans = []
    for meta, opts, start in zip(metas, options, starts, strict=True):
        plan = planned_rate(opts, segment_fraction(meta.segment if meta else None))
        shift = round(start - origin)
        events.update((round(t) + shift, up) for t, up in plan_events(opts))
        if len(plan):
            plan.index = plan.index + shift
            plans.append(plan)
    planned = pd.Series(dtype=float)
    if plans:
        planned = pd.concat(plans, axis=1).fillna(0).sum(axis=1).sort_index()
        planned = planned.reindex(range(0, int(planned.index.max()) + 1), fill_value=0.0)
        planned.index.name = "second"

    n, last_start, last_end = db.execute(
        "SELECT count(*), coalesce(max(t_start), 0), coalesce(max(t_end), 0) FROM requests"
    ).fetchone() or (0, 0.0, 0.0)
    first = metas[0]
    params: dict[str, Any] = dict(first.parameters) if first else {}
    if not params:
        sc: dict[str, Any] = next(iter((options[0].get("scenarios") or {}).values()), {})
        params = dict(sc.get("env") or {})
    platform = None
    for d in paths:
        if (d / "platform.jsonl").exists():
            try:
                platform = read_platform_log(d / "platform.jsonl", origin)
            except PlatformLogError as e:
                raise RunError(str(e)) from e
            break
    return Run(
        dirs=paths,
        meta=[m for m in metas if m],
        label=label
        or (paths[0].name if len(paths) == 1 else f"{paths[0].name} (+{len(paths) - 1} merged)"),
        origin=origin,
        db=db,
        planned=planned,
        events=sorted(events),
        parameters=params,
        service=dict(first.service) if first else {},
        n_requests=int(n),
        last_start=float(last_start),
        last_end=float(last_end),
        platform=platform,
    )
