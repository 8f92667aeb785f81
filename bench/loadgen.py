"""Load generators: wrk for closed-loop runs (S0, S2) and oha for open-model runs (S1).

Both run pinned to the load core, bounded in time (a run that overstays its duration plus a
grace is killed and reported as an error), against 127.0.0.1 only. Their results come back as
plain dicts of numbers so they can be written to the raw JSON unchanged.
"""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from procs import BenchError, spawn_pinned

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "wrk_json.lua"
# Grace after the nominal duration before a load generator is considered hung.
GRACE_S = 60


def wait_bounded(proc: subprocess.Popen, seconds: float, cmd: list[str]) -> None:
    """Waits for a load generator that should run `seconds`; kills it and fails past GRACE_S more."""
    try:
        proc.wait(seconds + GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise BenchError(
            f"{Path(cmd[0]).name} overran {seconds:.1f} s by more than {GRACE_S} s and was killed: {' '.join(cmd)}"
        ) from None


def check_loopback(url: str) -> None:
    """Refuse any target but this machine: the benchmark must never send traffic elsewhere."""
    if not (url.startswith(("http://127.0.0.1:", "http://localhost:"))):
        raise BenchError(f"target {url!r} is not on 127.0.0.1; the benchmark only loads loopback")


def nearest_rank(sorted_values: list[float], p: float) -> float:
    """The p-th percentile by nearest rank: the smallest value with at least p % at or below it."""
    if not sorted_values:
        return math.nan
    k = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[k - 1]


# --- wrk -----------------------------------------------------------------------------------


def parse_wrk(stdout: str) -> dict:
    for line in stdout.splitlines():
        if line.startswith("BENCH-JSON "):
            return json.loads(line[len("BENCH-JSON ") :])
    raise BenchError("wrk printed no BENCH-JSON line (is bench/wrk_json.lua loaded?); output:\n" + stdout[-2000:])


def wrk_summary(raw: dict) -> dict:
    """Derived figures from the Lua hook's raw numbers (latencies to ms, rate per second)."""
    secs = raw["duration_us"] / 1e6
    lat = raw["latency_us"]
    errors = raw["errors"]
    return {
        "requests": raw["requests"],
        "seconds": secs,
        "rps": raw["requests"] / secs if secs > 0 else 0.0,
        "p50_ms": lat["p50"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "max_ms": lat["max"] / 1000,
        "min_ms": lat["min"] / 1000,
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
    }


def run_wrk(
    url: str,
    conns: int,
    seconds: int,
    cpu: int,
    log_path: Path,
    during: Callable[[], None] | None = None,
) -> dict:
    """One wrk run (one thread: the load core is a single core). `during` runs once mid-run."""
    check_loopback(url)
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s", "-s", str(WRK_SCRIPT), url]
    with open(log_path, "w") as out:
        proc = spawn_pinned(cmd, cpu, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if during is not None:
            time.sleep(seconds / 2)
            during()
        wait_bounded(proc, seconds, cmd)
    text = log_path.read_text()
    if proc.returncode != 0:
        raise BenchError(f"wrk exited with {proc.returncode}: {' '.join(cmd)}\n{text[-2000:]}")
    raw = parse_wrk(text)
    return {"raw": raw, **wrk_summary(raw)}


# --- oha -----------------------------------------------------------------------------------


def oha_connections(rate: int, delay_s: float) -> int:
    """Connections for an open-model run: twice Little's law (rate x delay) plus slack.

    A connection that is busy cannot take the next scheduled request, and with latency
    correction the wait for a free one counts against the server; twice the in-flight
    average keeps that wait out of the measurement without opening thousands of idle
    connections.
    """
    return max(64, math.ceil(2 * rate * max(delay_s, 0.001)) + 32)


def steady_state(db_path: Path, warmup_s: float) -> dict:
    """Latency of the answers whose scheduled start lies after the warm-up, from oha's database.

    oha's JSON summary covers the whole run including connection set-up; its per-request
    records let us drop the warm-up and compute exact percentiles (no histogram buckets).
    With latency correction, `duration` runs from the scheduled start, so a late send by the
    client shows up as latency rather than vanishing (coordinated omission).
    """
    con = sqlite3.connect(db_path)
    try:
        rows = con.execute(
            "SELECT duration, status FROM oha WHERE COALESCE(start_latency_correction, start) >= ?",
            (warmup_s,),
        ).fetchall()
    finally:
        con.close()
    durations = sorted(r[0] * 1000 for r in rows)
    non_200 = sum(1 for r in rows if r[1] != 200)
    return {
        "answers": len(durations),
        "min_ms": durations[0] if durations else math.nan,
        "p50_ms": nearest_rank(durations, 50),
        "p99_ms": nearest_rank(durations, 99),
        "p999_ms": nearest_rank(durations, 99.9),
        "max_ms": durations[-1] if durations else math.nan,
        "below_80ms": sum(1 for d in durations if d < 80.0),
        "non_200": non_200,
    }


def parse_oha_json(text: str) -> dict:
    """The parts of oha's JSON summary the report uses: totals, rate, errors by kind."""
    data = json.loads(text)
    summary = data.get("summary", {})
    errors = data.get("errorDistribution", {}) or {}
    return {
        "success_rate": summary.get("successRate"),
        "rps_whole_run": summary.get("requestsPerSec"),
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "status_codes": data.get("statusCodeDistribution", {}),
    }


def run_oha(
    oha: str,
    url: str,
    rate: int,
    seconds: float,
    warmup_s: float,
    delay_s: float,
    cpu: int,
    out_dir: Path,
    tag: str,
) -> dict:
    """One open-model run at `rate` req/s for warm-up + `seconds`, keep-alive connections."""
    check_loopback(url)
    total = warmup_s + seconds
    db = out_dir / f"{tag}.sqlite"
    db.unlink(missing_ok=True)
    conns = oha_connections(rate, delay_s)
    cmd = [
        oha,
        url,
        "-z",
        f"{round(total * 1000)}ms",
        "-q",
        str(rate),
        "--latency-correction",
        "-c",
        str(conns),
        # Requests still in flight at the deadline finish instead of counting as aborted.
        "-w",
        "-t",
        "10s",
        "--worker-threads",
        "1",
        "--no-tui",
        "--output-format",
        "json",
        "--db-url",
        str(db),
    ]
    json_path = out_dir / f"{tag}.json"
    err_path = out_dir / f"{tag}.stderr"
    with open(json_path, "w") as out, open(err_path, "w") as err:
        proc = spawn_pinned(cmd, cpu, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        wait_bounded(proc, total, cmd)
    if proc.returncode != 0:
        raise BenchError(f"oha exited with {proc.returncode}: {' '.join(cmd)}\n{err_path.read_text()[-2000:]}")
    whole = parse_oha_json(json_path.read_text())
    steady = steady_state(db, warmup_s)
    db.unlink()  # tens of MB per run; the JSON and the figures below are what we keep
    return {
        "rate": rate,
        "connections": conns,
        "seconds": seconds,
        "warmup_s": warmup_s,
        "achieved_rps": steady["answers"] / seconds if seconds > 0 else 0.0,
        **steady,
        **whole,
    }
