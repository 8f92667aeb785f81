"""The issue's targets, judged within one run, and the Markdown report.

Targets compare delay-echo with the reference servers measured in the same run (ratios), or
with a fixed bound where the issue gives one (80 ms floor, 82 ms p99, 100 MB, 20 ms, 5 MB).
A target whose figures are missing (a server or scenario left out) is "n/a", never PASS.
MB here is 10^6 bytes, as in the issue; /proc reports KiB.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable

from bench.results import (
    ClosedRun,
    ClosedSeries,
    ClosedSummary,
    Meta,
    OpenRun,
    OpenSummary,
    Results,
    TargetRow,
)

SERVERS = ["delay-echo", "hyper-floor", "go-sleep", "nginx-echo"]
SUBJECT = "delay-echo"
REFERENCE = "nginx-echo"
# The least a hyper/tokio server can do for the same job (bench/hyper_floor.rs): every target is
# judged for it too, so a target its own stack cannot reach on this machine shows as such.
STACK_FLOOR = "hyper-floor"
S1_TARGET_RATE = "8000"
S1_FLOOR_MS = 80.0
# The extra row of S1 and S2: nginx-echo with no delay, i.e. what the client and the kernel
# add (S1) or allow (S2) by themselves.
FLOOR = "client floor"


def median(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(kept) if kept else None


def kib_to_mb(kib: float | None) -> float | None:
    return None if kib is None else kib * 1024 / 1e6


def fmt(value: float | None, spec: str = ".1f", suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:{spec}}{suffix}"


def fmt_k(rps: float | None) -> str:
    return "—" if rps is None else f"{rps / 1000:.1f}k"


# --- aggregation over rounds ---------------------------------------------------------------


def summarize_closed(runs: list[ClosedRun]) -> ClosedSummary:
    """Median over rounds of a closed-loop (wrk) scenario's runs; errors are summed."""
    return ClosedSummary(
        rps=median(r.rps for r in runs),
        cpu_us_per_req=median(r.cpu_us_per_req for r in runs),
        p50_ms=median(r.p50_ms for r in runs),
        p99_ms=median(r.p99_ms for r in runs),
        max_ms=max(r.max_ms for r in runs),
        peak_rss_kib=median(r.peak_rss_kib for r in runs),
        established=median(r.established for r in runs),
        backlog=runs[0].backlog,
        errors=sum(r.errors for r in runs),
        rounds=len(runs),
        foreign_cpu_pct=median(r.foreign_cpu_pct for r in runs),
    )


def summarize_open(runs: list[OpenRun]) -> OpenSummary:
    """Median over rounds of p50/p99 and the achieved rate; the minimum is the lowest seen."""
    return OpenSummary(
        achieved_rps=median(r.achieved_rps for r in runs),
        answers=sum(r.answers for r in runs),
        min_ms=min(r.min_ms for r in runs),
        p50_ms=median(r.p50_ms for r in runs),
        p99_ms=median(r.p99_ms for r in runs),
        max_ms=max(r.max_ms for r in runs),
        below_80ms=sum(r.below_80ms for r in runs),
        errors=sum(r.errors + r.non_200 for r in runs),
        rounds=len(runs),
        foreign_cpu_pct=median(r.foreign_cpu_pct for r in runs),
    )


# --- targets -------------------------------------------------------------------------------


def _closed(scenario: dict[str, ClosedSeries] | None, server: str) -> ClosedSummary | None:
    series = (scenario or {}).get(server)
    return series.summary if series else None


def _open(results: Results, rate: str, server: str) -> OpenSummary | None:
    series = (results.s1 or {}).get(rate, {}).get(server)
    return series.summary if series else None


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def evaluate(results: Results) -> list[TargetRow]:
    """One row per target of the issue: what, the figures it compares, PASS/MISS/n/a; and the
    same target judged for hyper-floor (`floor`, `floor_verdict`; "—"/"n/a" when not run)."""
    rows = _evaluate_for(results, SUBJECT)
    for row, floor in zip(rows, _evaluate_for(results, STACK_FLOOR), strict=True):
        row.floor = floor.subject
        row.floor_verdict = floor.verdict
    return rows


def _evaluate_for(results: Results, subject: str) -> list[TargetRow]:
    """The targets judged for one server (delay-echo, or the stack floor)."""
    rows: list[TargetRow] = []

    def row(scenario: str, target: str, figure: str, reference: str, ok: bool | None) -> None:
        rows.append(
            TargetRow(
                scenario=scenario,
                target=target,
                subject=figure,
                reference=reference,
                verdict=_verdict(ok),
            )
        )

    # S0: CPU per request against nginx-echo.
    s0_de, s0_ng = _closed(results.s0, subject), _closed(results.s0, REFERENCE)
    de = s0_de.cpu_us_per_req if s0_de else None
    ng = s0_ng.cpu_us_per_req if s0_ng else None
    ratio = de / ng if de is not None and ng else None
    row(
        "S0",
        "server CPU per request ≤ 0.8× nginx-echo",
        f"{fmt(de, '.2f')} µs ({fmt(ratio, '.2f')}×)",
        f"{fmt(ng, '.2f')} µs",
        None if ratio is None else ratio <= 0.8,
    )

    # S1: never early at any rate; p50 and p99 bounds at 8,000 req/s.
    rates = list(results.s1 or {})
    subject_s1 = [m for m in (_open(results, rate, subject) for rate in rates) if m]
    ref_s1 = [m for m in (_open(results, rate, REFERENCE) for rate in rates) if m]
    early = sum(m.below_80ms for m in subject_s1)
    lowest = min((m.min_ms for m in subject_s1), default=None)
    ref_lowest = min((m.min_ms for m in ref_s1), default=None)
    row(
        "S1",
        "no answer below 80 ms (every rate)",
        f"min {fmt(lowest, '.3f')} ms, {early} early",
        f"min {fmt(ref_lowest, '.3f')} ms",
        None if lowest is None else lowest >= S1_FLOOR_MS and early == 0,
    )
    at_target, ref_at_target = (
        _open(results, S1_TARGET_RATE, subject),
        _open(results, S1_TARGET_RATE, REFERENCE),
    )
    for label, bound, pick in (
        ("p50", 80.3, lambda m: m.p50_ms),
        ("p99", 82.0, lambda m: m.p99_ms),
    ):
        v = pick(at_target) if at_target else None
        r = pick(ref_at_target) if ref_at_target else None
        row(
            "S1",
            f"{label} at 8,000 req/s ≤ {bound} ms",
            f"{fmt(v, '.2f')} ms",
            f"{fmt(r, '.2f')} ms",
            None if v is None else v <= bound,
        )

    # S2: throughput, tail and memory at 10,000 connections.
    s2_de, s2_ng = _closed(results.s2, subject), _closed(results.s2, REFERENCE)
    de_rps = s2_de.rps if s2_de else None
    ng_rps = s2_ng.rps if s2_ng else None
    ratio = de_rps / ng_rps if de_rps is not None and ng_rps else None
    row(
        "S2",
        "throughput ≥ 1.1× nginx-echo",
        f"{fmt_k(de_rps)} req/s ({fmt(ratio, '.2f')}×)",
        f"{fmt_k(ng_rps)} req/s",
        None if ratio is None else ratio >= 1.1,
    )
    de_p99 = s2_de.p99_ms if s2_de else None
    ng_p99 = s2_ng.p99_ms if s2_ng else None
    row(
        "S2",
        "p99 ≤ nginx-echo's",
        f"{fmt(de_p99)} ms",
        f"{fmt(ng_p99)} ms",
        None if de_p99 is None or ng_p99 is None else de_p99 <= ng_p99,
    )
    de_rss = kib_to_mb(s2_de.peak_rss_kib if s2_de else None)
    ng_rss = kib_to_mb(s2_ng.peak_rss_kib if s2_ng else None)
    row(
        "S2",
        "peak RSS ≤ 100 MB",
        f"{fmt(de_rss)} MB",
        f"{fmt(ng_rss)} MB",
        None if de_rss is None else de_rss <= 100,
    )

    # S3, S4: absolute bounds.
    s3 = results.s3 or {}
    cold = s3[subject].median_ms if subject in s3 else None
    ref_cold = s3[REFERENCE].median_ms if REFERENCE in s3 else None
    row(
        "S3",
        "cold start (exec → 200 /readyz), median ≤ 20 ms",
        f"{fmt(cold, '.2f')} ms",
        f"{fmt(ref_cold, '.2f')} ms",
        None if cold is None else cold <= 20,
    )
    s4 = results.s4 or {}
    idle = kib_to_mb(s4[subject].idle_rss_kib) if subject in s4 else None
    ref_idle = kib_to_mb(s4[REFERENCE].idle_rss_kib) if REFERENCE in s4 else None
    row(
        "S4",
        "idle RSS 1 s after ready ≤ 5 MB",
        f"{fmt(idle, '.2f')} MB",
        f"{fmt(ref_idle, '.2f')} MB",
        None if idle is None else idle <= 5,
    )

    # Every figure above assumes delay-echo answered every request with 200.
    errs = [m.errors for m in (s0_de, s2_de, *subject_s1) if m is not None]
    row(
        "S0–S2",
        "every request answered 200 (no errors, no rejections)",
        f"{sum(errs)} errors" if errs else "—",
        "",
        None if not errs else sum(errs) == 0,
    )
    return rows


# --- Markdown ------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    out = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("--:" if a == "r" else "---" for a in align) + "|",
    ]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def client_note(meta: Meta) -> str:
    if meta.open_client == "oha":
        return "oha, latency correction, keep-alive"
    return f"{meta.open_client}, keep-alive, timed from the actual send: these figures check the harness, not the targets"


def retry_note(meta: Meta) -> str:
    limit = meta.max_noise_pct
    if limit is None or limit >= 100:
        return ""
    return f" (a run above {limit:.0f} % was measured again, the quietest attempt kept)"


def markdown(results: Results) -> str:
    meta = results.meta
    servers = [s for s in SERVERS if s in meta.servers]
    lines = [
        f"# delay-echo benchmark, {meta.started_utc}",
        "",
        (
            f"Mode **{meta.mode}** · git `{meta.git}` · {meta.machine} · load average before "
            f"{meta.load_before}, after {meta.load_after} · share of the server core used by other work "
            f"during runs: median {fmt(meta.foreign_cpu_median_pct, '.0f', ' %')}, "
            f"max {fmt(meta.foreign_cpu_max_pct, '.0f', ' %')}{retry_note(meta)} · server pinned to "
            f"CPU {meta.server_cpu}, load generator to CPU {meta.load_cpu} · loopback only."
        ),
        "",
        f"Tools: {meta.tools}. delay-echo runs with its defaults plus {meta.delay_echo_flags}.",
        *(
            [
                "",
                "**Profiled run** (--perf): delay-echo's figures include perf's sampling overhead.",
            ]
            if meta.perf
            else []
        ),
        "",
        "## Targets (delay-echo, ratios within this run)",
        "",
    ]
    lines += _table(
        [
            "scenario",
            "target",
            "delay-echo",
            "nginx-echo",
            "verdict",
            "hyper-floor",
            "floor's verdict",
        ],
        [
            [
                r.scenario,
                r.target,
                r.subject,
                r.reference,
                f"**{r.verdict}**",
                r.floor,
                r.floor_verdict,
            ]
            for r in evaluate(results)
        ],
        "lllllll",
    )
    lines += [
        "",
        "*hyper-floor* (bench/hyper_floor.rs) is the least a hyper/tokio server can do for the same job: "
        "HTTP/1.1 keep-alive, `tokio::time::sleep`, a 3-byte answer; no admission, metrics, knobs, headers, "
        "timeouts or precise timer. Where it misses a target too, the target is beyond what delay-echo's "
        "stack reaches on this machine, and the gap between the two columns is what delay-echo itself costs.",
    ]
    p = meta.profile

    if results.s0 is not None:
        lines += [
            "",
            f"## S0: delay 0, {p['s0_conns']} keep-alive connections, wrk, {p['s0_seconds']} s × {p['rounds']} round(s)",
            "",
        ]
        rows = []
        for s in servers:
            m = _closed(results.s0, s)
            if m:
                rows.append(
                    [
                        s,
                        fmt_k(m.rps),
                        fmt(m.cpu_us_per_req, ".2f"),
                        fmt(m.p50_ms, ".2f"),
                        fmt(m.p99_ms, ".2f"),
                        str(m.errors),
                        fmt(m.foreign_cpu_pct, ".0f"),
                    ]
                )
        lines += _table(
            ["server", "req/s", "server CPU µs/req", "p50 ms", "p99 ms", "errors", "other work %"],
            rows,
            "lrrrrrr",
        )

    if results.s1 is not None:
        lines += [
            "",
            f"## S1: 80 ms, open model ({client_note(meta)}), {p['s1_seconds']} s steady state after {p['s1_warm']} s warm-up × {p['rounds']} round(s)",
            "",
        ]
        rows = []
        for rate in sorted(results.s1, key=int):
            for s in [*servers, FLOOR]:
                o = _open(results, rate, s)
                if o:
                    floor = s == FLOOR
                    rows.append(
                        [
                            f"{int(rate):,}",
                            "*client floor (nginx-echo, delay 0)*" if floor else s,
                            fmt(o.achieved_rps, ".0f"),
                            fmt(o.min_ms, ".3f"),
                            fmt(o.p50_ms, ".2f"),
                            fmt(o.p99_ms, ".2f"),
                            fmt(o.max_ms, ".1f"),
                            "" if floor else str(o.below_80ms),
                            str(o.errors),
                            fmt(o.foreign_cpu_pct, ".0f"),
                        ]
                    )
        lines += _table(
            [
                "offered req/s",
                "server",
                "achieved",
                "min ms",
                "p50 ms",
                "p99 ms",
                "max ms",
                "< 80 ms",
                "errors",
                "other work %",
            ],
            rows,
            "llrrrrrrrr",
        )
        if any(FLOOR in per_server for per_server in results.s1.values()):
            lines += [
                "",
                (
                    f"*Client floor*: the same {meta.open_client} load on nginx-echo with no delay, one run per rate: what the load "
                    "generator, the kernel and a minimal server add to a request by themselves. A server whose "
                    "figures at 80 ms sit within this of 80 ms is at the floor of what this machine can measure."
                ),
            ]

    if results.s2 is not None:
        lines += [
            "",
            (
                f"## S2: 80 ms, {p['s2_conns']:,} keep-alive connections, wrk, {p['s2_seconds']} s × {p['rounds']} round(s); "
                f"ideal {p['s2_conns'] / 0.080 / 1000:.0f}k req/s"
            ),
            "",
        ]
        rows = []
        for s in [*servers, FLOOR]:
            m = _closed(results.s2, s)
            if m:
                rows.append(
                    [
                        "*client ceiling (nginx-echo, delay 0)*" if s == FLOOR else s,
                        fmt_k(m.rps),
                        fmt(m.p50_ms),
                        fmt(m.p99_ms),
                        fmt(m.max_ms, ".0f"),
                        fmt(kib_to_mb(m.peak_rss_kib)),
                        fmt(m.established, ".0f"),
                        fmt(m.backlog, "d"),
                        str(m.errors),
                        fmt(m.foreign_cpu_pct, ".0f"),
                    ]
                )
        lines += _table(
            [
                "server",
                "req/s",
                "p50 ms",
                "p99 ms",
                "max ms",
                "peak RSS MB",
                "connections seen",
                "listen backlog",
                "errors",
                "other work %",
            ],
            rows,
            "lrrrrrrrrr",
        )
        if FLOOR in results.s2:
            lines += [
                "",
                (
                    "*Client ceiling*: the same connections on nginx-echo with no delay: the most one wrk thread "
                    "on one core drives here. No server's req/s at 80 ms can be shown above it."
                ),
            ]

    if results.s3 is not None:
        lines += [
            "",
            f"## S3: cold start, exec → first 200 on /readyz, {p['s3_starts']} starts",
            "",
        ]
        rows = []
        for s in servers:
            c = results.s3.get(s)
            if c:
                rows.append(
                    [
                        s,
                        fmt(c.median_ms, ".2f"),
                        fmt(c.min_ms, ".2f"),
                        fmt(c.max_ms, ".2f"),
                        fmt(c.first_later_ms, ".3f"),
                        f"{fmt(c.first_overshoot_ms, '.3f')} / {fmt(c.second_overshoot_ms, '.3f')}",
                    ]
                )
        lines += _table(
            [
                "server",
                "median ms",
                "min ms",
                "max ms",
                "first request later by, ms",
                "sleep overshoot, first / second, ms",
            ],
            rows,
            "lrrrrr",
        )
        lines += [
            "",
            (
                "Once ready, each start sends two requests, each on a fresh connection: the first "
                "request of a fresh process against its second (medians over the starts). delay-echo "
                "is asked for `?delay=20ms` and its overshoot is its own `sleep` figure (Server-Timing) "
                "minus 20 ms; the reference servers answer at once here, so only their round trips count."
            ),
        ]

    if results.s4 is not None:
        lines += ["", "## S4: idle footprint", ""]
        rows = []
        for s in servers:
            i = results.s4.get(s)
            if i:
                rows.append(
                    [
                        s,
                        fmt(kib_to_mb(i.idle_rss_kib), ".2f"),
                        fmt(i.binary_bytes / 1e6, ".2f"),
                        str(i.threads),
                        i.binary,
                    ]
                )
        lines += _table(
            ["server", "idle RSS MB", "executable MB", "threads", "executable"], rows, "lrrrl"
        )

    lines += [
        "",
        (
            f"How to read: bench/README.md. Raw numbers (every run, every round): `{meta.raw_dir}/results.json`."
        ),
        "",
    ]
    return "\n".join(lines)
