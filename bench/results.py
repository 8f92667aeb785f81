"""What a benchmark run produces, as typed records: one run of a load generator, the summary of a
server's rounds, a cold start, an idle footprint, a target's verdict, and the whole run.

The harness fills them, the report reads them, and `to_json` writes them to the raw
results.json with the same field names, so a results file stays readable by `jq` and by older
notes. Fields filled by the harness around a run (CPU, noise) start as None.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(kw_only=True)
class Measured:
    """What the harness reads around any measured run: the server's cost and the noise."""

    server_cpu_s: float | None = None
    threads: int | None = None
    server_cpus: str | None = None
    load1: float | None = None
    # Share of the server's core used by other work during the run (percent).
    foreign_cpu_pct: float = 0.0
    # Attempts made when the run was repeated for noise (the quietest one is kept).
    attempts: int = 1
    attempts_foreign_cpu_pct: list[float] = field(default_factory=list)


@dataclass(kw_only=True)
class ClosedRun(Measured):
    """One closed-loop run (wrk: S0, S2)."""

    raw: dict[str, Any]  # the numbers bench/wrk_json.lua printed, unchanged
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    min_ms: float
    errors: int
    errors_by_kind: dict[str, int]
    cpu_us_per_req: float | None = None  # S0
    peak_rss_kib: int | None = None  # S2
    established: int | None = None  # S2: connections seen mid-run
    backlog: int | None = None  # S2: the listener's accept-queue limit


@dataclass(kw_only=True)
class SteadyState:
    """Latency of the answers scheduled after the warm-up (exact percentiles, milliseconds)."""

    answers: int
    min_ms: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    below_80ms: int
    non_200: int


@dataclass(kw_only=True)
class OpenRun(SteadyState, Measured):
    """One open-model run at a fixed offered rate (S1)."""

    client: str  # the load generator: "oha" or "h2load"
    rate: int
    connections: int
    seconds: float
    warmup_s: float
    achieved_rps: float
    errors: int
    errors_by_kind: dict[str, int]
    status_codes: dict[str, int]
    success_rate: float | None = None
    rps_whole_run: float | None = None


@dataclass(kw_only=True)
class ClosedSummary:
    """Medians over the rounds of a closed-loop scenario; errors summed."""

    rps: float | None
    cpu_us_per_req: float | None
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    peak_rss_kib: float | None
    established: float | None
    backlog: int | None
    errors: int
    rounds: int
    foreign_cpu_pct: float | None = None


@dataclass(kw_only=True)
class OpenSummary:
    """Medians over the rounds of an open-model rate; the lowest minimum, errors summed."""

    achieved_rps: float | None
    answers: int
    min_ms: float
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float
    below_80ms: int
    errors: int
    rounds: int
    foreign_cpu_pct: float | None = None


@dataclass(kw_only=True)
class ClosedSeries:
    """One server's rounds of S0 or S2."""

    runs: list[ClosedRun]
    summary: ClosedSummary


@dataclass(kw_only=True)
class OpenSeries:
    """One server's rounds at one rate of S1."""

    runs: list[OpenRun]
    summary: OpenSummary


@dataclass(kw_only=True)
class ColdStart:
    """S3: milliseconds from exec to the first 200 on /readyz, per start; then, per start, the
    first and the second request's round trips (and delay-echo's own sleep figures, asked for
    `FIRST_DELAY_MS`)."""

    starts_ms: list[float]
    median_ms: float | None
    min_ms: float
    max_ms: float
    argv: list[str]
    first_ms: list[float] = field(default_factory=list)
    second_ms: list[float] = field(default_factory=list)
    first_sleep_ms: list[float] = field(default_factory=list)
    second_sleep_ms: list[float] = field(default_factory=list)
    # Medians over the starts: first minus second round trip, and how far each request's sleep
    # overshot the delay it asked for (delay-echo only).
    first_later_ms: float | None = None
    first_overshoot_ms: float | None = None
    second_overshoot_ms: float | None = None


@dataclass(kw_only=True)
class Idle:
    """S4: a started server's footprint after idling."""

    idle_rss_kib: int
    threads: int
    server_cpus: str
    binary: str
    binary_bytes: int


@dataclass(kw_only=True)
class TargetRow:
    """One target of the issue judged for delay-echo, and the same target for the stack floor."""

    scenario: str
    target: str
    subject: str
    reference: str
    verdict: str  # PASS, MISS or n/a
    floor: str = "—"
    floor_verdict: str = "n/a"


@dataclass(kw_only=True)
class Meta:
    """How, where and on what a run was made."""

    servers: list[str]
    scenarios: list[str] = field(default_factory=list)
    started_utc: str = ""
    mode: str = "full"
    git: str = ""
    machine: str = ""
    tools: str = ""
    profile: dict[str, Any] = field(default_factory=dict)
    server_cpu: int = 0
    load_cpu: int = 1
    nofile: int = 0
    perf: bool = False
    max_noise_pct: float | None = None
    load_before: str = ""
    load_after: str = ""
    raw_dir: str = ""
    delay_echo_flags: str = "?"
    open_client: str = "oha"  # S1's load generator
    foreign_cpu_max_pct: float | None = None
    foreign_cpu_median_pct: float | None = None
    seconds: int = 0
    targets: list[TargetRow] = field(default_factory=list)


@dataclass(kw_only=True)
class Results:
    """A whole run: each scenario keyed by server (S1 by offered rate, then server); a scenario
    left out of the run is None."""

    meta: Meta
    s0: dict[str, ClosedSeries] | None = None
    s1: dict[str, dict[str, OpenSeries]] | None = None
    s2: dict[str, ClosedSeries] | None = None
    s3: dict[str, ColdStart] | None = None
    s4: dict[str, Idle] | None = None


def to_json(results: Results) -> str:
    """results.json: every record as a JSON object with its field names; scenarios not run left out."""
    data = {k: v for k, v in dataclasses.asdict(results).items() if v is not None}
    return json.dumps(data, indent=1)
