"""Load generators: wrk for closed-loop runs (S0, S2); oha or h2load for open-model runs (S1).

Each runs pinned to the load core, bounded in time (a run that overstays its duration plus a
grace is killed and reported as an error), against 127.0.0.1 only, and comes back as a record
of bench.results.

oha (built from source by `make bench-tools`) is the open-model client of `make bench`: it
schedules every request on a fixed timetable and, with latency correction, counts a late send
as latency (no coordinated omission). h2load (Debian's nghttp2-client) is the quick mode's:
installed in seconds, it also offers a fixed rate and logs every request, but measures from the
actual send, so a client that falls behind hides part of the wait. Its figures are good enough to
check the harness end to end, not to judge the S1 targets.
"""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import BenchError, spawn_pinned
from bench.results import ClosedRun, OpenRun, SteadyState

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "wrk_json.lua"
# Grace after the nominal duration before a load generator is considered hung.
GRACE_S = 60


OPEN_CLIENTS = ("oha", "h2load")


def wait_bounded(proc: subprocess.Popen[bytes], seconds: float, cmd: list[str]) -> None:
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


def parse_wrk(stdout: str) -> dict[str, Any]:
    for line in stdout.splitlines():
        if line.startswith("BENCH-JSON "):
            raw: dict[str, Any] = json.loads(line[len("BENCH-JSON ") :])
            return raw
    raise BenchError(
        "wrk printed no BENCH-JSON line (is bench/wrk_json.lua loaded?); output:\n" + stdout[-2000:]
    )


def wrk_summary(raw: dict[str, Any]) -> ClosedRun:
    """Derived figures from the Lua hook's raw numbers (latencies to ms, rate per second)."""
    secs = raw["duration_us"] / 1e6
    lat = raw["latency_us"]
    errors: dict[str, int] = raw["errors"]
    return ClosedRun(
        raw=raw,
        requests=raw["requests"],
        seconds=secs,
        rps=raw["requests"] / secs if secs > 0 else 0.0,
        p50_ms=lat["p50"] / 1000,
        p99_ms=lat["p99"] / 1000,
        max_ms=lat["max"] / 1000,
        min_ms=lat["min"] / 1000,
        errors=sum(errors.values()),
        errors_by_kind=errors,
    )


def run_wrk(
    url: str,
    conns: int,
    seconds: int,
    cpu: int,
    log_path: Path,
    during: Callable[[], None] | None = None,
) -> ClosedRun:
    """One wrk run (one thread: the load core is a single core). `during` runs once mid-run."""
    check_loopback(url)
    cmd = [
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        url,
    ]
    with open(log_path, "w") as out:
        proc = spawn_pinned(
            cmd, cpu, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        if during is not None:
            time.sleep(seconds / 2)
            during()
        wait_bounded(proc, seconds, cmd)
    text = log_path.read_text()
    if proc.returncode != 0:
        raise BenchError(f"wrk exited with {proc.returncode}: {' '.join(cmd)}\n{text[-2000:]}")
    return wrk_summary(parse_wrk(text))


# --- oha -----------------------------------------------------------------------------------


def oha_connections(rate: int, delay_s: float) -> int:
    """Connections for an open-model run: twice Little's law (rate x delay) plus slack.

    A connection that is busy cannot take the next scheduled request, and with latency
    correction the wait for a free one counts against the server; twice the in-flight
    average keeps that wait out of the measurement without opening thousands of idle
    connections.
    """
    return max(64, math.ceil(2 * rate * max(delay_s, 0.001)) + 32)


def latency_summary(durations_ms: Sequence[float], statuses: Sequence[int]) -> SteadyState:
    """Exact percentiles (nearest rank) of the steady-state answers, and what was early or not 200."""
    durations = sorted(durations_ms)
    return SteadyState(
        answers=len(durations),
        min_ms=durations[0] if durations else math.nan,
        p50_ms=nearest_rank(durations, 50),
        p99_ms=nearest_rank(durations, 99),
        p999_ms=nearest_rank(durations, 99.9),
        max_ms=durations[-1] if durations else math.nan,
        below_80ms=sum(1 for d in durations if d < 80.0),
        non_200=sum(1 for status in statuses if status != 200),
    )


def steady_state(db_path: Path, warmup_s: float) -> SteadyState:
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
    return latency_summary([r[0] * 1000 for r in rows], [r[1] for r in rows])


@dataclass(frozen=True)
class OhaSummary:
    """The parts of oha's JSON summary the report uses: totals, rate, errors by kind."""

    success_rate: float | None
    rps_whole_run: float | None
    errors: int
    errors_by_kind: dict[str, int]
    status_codes: dict[str, int]


def parse_oha_json(text: str) -> OhaSummary:
    data = json.loads(text)
    summary = data.get("summary", {})
    errors = data.get("errorDistribution", {}) or {}
    return OhaSummary(
        success_rate=summary.get("successRate"),
        rps_whole_run=summary.get("requestsPerSec"),
        errors=sum(errors.values()),
        errors_by_kind=errors,
        status_codes=data.get("statusCodeDistribution", {}),
    )


@dataclass(frozen=True)
class OpenLoad:
    """One open-model run to make: `rate` req/s for warm-up + `seconds` on keep-alive connections
    sized for a `delay_s` answer, pinned to `cpu`, files under `out_dir` named by `tag`."""

    url: str
    rate: int
    seconds: float
    warmup_s: float
    delay_s: float
    cpu: int
    out_dir: Path
    tag: str

    @property
    def total_s(self) -> float:
        return self.warmup_s + self.seconds

    @property
    def connections(self) -> int:
        return oha_connections(self.rate, self.delay_s)


def run_open(client: str, binary: str, load: OpenLoad) -> OpenRun:
    """An open-model run with the named client (`oha` or `h2load`) found at `binary`."""
    check_loopback(load.url)
    if client == "oha":
        return run_oha(binary, load)
    if client == "h2load":
        return run_h2load(binary, load)
    raise BenchError(f"unknown open-model client {client!r}; allowed: {', '.join(OPEN_CLIENTS)}")


def run_oha(oha: str, load: OpenLoad) -> OpenRun:
    db = load.out_dir / f"{load.tag}.sqlite"
    db.unlink(missing_ok=True)
    cmd = [
        oha,
        load.url,
        "-z",
        f"{round(load.total_s * 1000)}ms",
        "-q",
        str(load.rate),
        "--latency-correction",
        "-c",
        str(load.connections),
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
    json_path = load.out_dir / f"{load.tag}.json"
    err_path = load.out_dir / f"{load.tag}.stderr"
    with open(json_path, "w") as out, open(err_path, "w") as err:
        proc = spawn_pinned(cmd, load.cpu, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        wait_bounded(proc, load.total_s, cmd)
    if proc.returncode != 0:
        raise BenchError(
            f"oha exited with {proc.returncode}: {' '.join(cmd)}\n{err_path.read_text()[-2000:]}"
        )
    whole = parse_oha_json(json_path.read_text())
    steady = steady_state(db, load.warmup_s)
    db.unlink()  # tens of MB per run; the JSON and the figures below are what we keep
    return OpenRun(
        client="oha",
        rate=load.rate,
        connections=load.connections,
        seconds=load.seconds,
        warmup_s=load.warmup_s,
        achieved_rps=steady.answers / load.seconds if load.seconds > 0 else 0.0,
        **vars(steady),
        **vars(whole),
    )


def parse_h2load_log(text: str, since_epoch_us: int) -> tuple[list[float], list[int]]:
    """Durations (ms) and statuses of the requests h2load started at or after `since_epoch_us`.

    Each line of h2load's --log-file is `start µs since the epoch <TAB> status <TAB> µs to the
    end of the response`; status -1 marks a failed stream.
    """
    durations, statuses = [], []
    for line in text.splitlines():
        cols = line.split("\t")
        if len(cols) < 3:
            continue
        start, status, micros = int(cols[0]), int(cols[1]), int(cols[2])
        if start >= since_epoch_us:
            durations.append(micros / 1000)
            statuses.append(status)
    return durations, statuses


def parse_h2load_errors(stdout: str) -> dict[str, int]:
    """The failure counts of h2load's `requests:` summary line (failed, errored, timeout)."""
    for line in stdout.splitlines():
        if line.startswith("requests:"):
            counts = {}
            for part in line.removeprefix("requests:").split(","):
                value, _, kind = part.strip().partition(" ")
                counts[kind] = int(value)
            return {kind: counts.get(kind, 0) for kind in ("failed", "errored", "timeout")}
    raise BenchError("h2load printed no `requests:` summary line; output:\n" + stdout[-2000:])


def run_h2load(h2load: str, load: OpenLoad) -> OpenRun:
    """h2load over HTTP/1.1 with one client per connection, each sending rate/connections req/s."""
    log = load.out_dir / f"{load.tag}.h2load.tsv"
    log.unlink(missing_ok=True)
    clients = load.connections
    cmd = [
        h2load,
        "--h1",
        "-c",
        str(clients),
        "--rps",
        f"{load.rate / clients:.3f}",
        "-D",
        f"{round(load.total_s * 1000)}ms",
        "-t",
        "1",
        "--log-file",
        str(log),
        load.url,
    ]
    out_path = load.out_dir / f"{load.tag}.h2load.txt"
    started_us = time.time_ns() // 1000
    with open(out_path, "w") as out:
        proc = spawn_pinned(
            cmd, load.cpu, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        wait_bounded(proc, load.total_s, cmd)
    text = out_path.read_text()
    if proc.returncode != 0:
        raise BenchError(f"h2load exited with {proc.returncode}: {' '.join(cmd)}\n{text[-2000:]}")
    errors = parse_h2load_errors(text)
    durations, statuses = parse_h2load_log(log.read_text(), started_us + round(load.warmup_s * 1e6))
    steady = latency_summary(durations, statuses)
    # Failed streams carry status -1: they are errors, not answers with a latency.
    codes: dict[str, int] = {}
    for status in statuses:
        codes[str(status)] = codes.get(str(status), 0) + 1
    return OpenRun(
        client="h2load",
        rate=load.rate,
        connections=clients,
        seconds=load.seconds,
        warmup_s=load.warmup_s,
        achieved_rps=steady.answers / load.seconds if load.seconds > 0 else 0.0,
        errors=sum(errors.values()),
        errors_by_kind=errors,
        status_codes=codes,
        **vars(steady),
    )
