"""Per-second series and the headline numbers: when capacity arrived and what users saw meanwhile.

Requests are placed in the second they *started* (when the user arrived), so "latency at second s" is
what users arriving at s experienced, and a spike's onset lines up with the planned rate. Instances are
placed in the second they *answered*, because an instance only counts as capacity once it responds.
Every aggregate is one DuckDB query over the run's tables (runs.py); only per-second and per-instance
results, which stay small, come back as pandas frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .runs import Run

# "Instances before" a rise are those that answered in this many seconds before it: capacity that was
# there and taking traffic, not every instance the run ever saw (some may have been scaled in since).
ACTIVE_LOOKBACK_S = 30.0
# Seconds are clipped at 0: samples a generator recorded just before its scenario start count there.
START_S = "CAST(greatest(floor(t_start), 0) AS BIGINT)"
END_S = "CAST(greatest(floor(t_end), 0) AS BIGINT)"


@dataclass(frozen=True)
class Criteria:
    """What the run is judged by: "recovered" means p95 under the SLO and errors under a share for
    N seconds in a row; C and u are the capacity assumptions behind Little's law and demand."""

    slo_p95_ms: float = 250.0
    error_rate: float = 0.01
    seconds: int = 5
    max_concurrency: float | None = None  # C, requests one instance serves at once
    utilisation: float = 1.0  # u, target utilisation for demand (Knative 0.7, Cloud Run 0.6)

    def describe(self) -> str:
        return (
            f"p95 ≤ {self.slo_p95_ms:g} ms and errors ≤ {self.error_rate:.2%} "
            f"for {self.seconds} consecutive seconds"
        )


@dataclass(frozen=True)
class HeadlineRow:
    """One load rise: time to the first new instance, time to recovery, damage until then."""

    onset_s: int
    rate_before: float
    rate_after: float
    instances_before: int
    first_new_instance_s: float | None
    new_instances: int
    recovery_s: int | None  # 0: the objective never broke; None: not within the window
    window_s: int
    errors: int
    requests: int
    worst_p95_ms: float | None
    max_latency_ms: float | None


@dataclass(frozen=True)
class Capacity:
    """Little's law (C ÷ S per instance) against the offered rate at which the objective broke."""

    max_concurrency: float | None
    service_ms: float | None
    instances_at_break: int
    instances_peak: int
    capacity_per_instance: float | None
    capacity_at_break: float | None
    capacity_peak: float | None
    break_s: int | None
    break_offered: float | None
    max_offered: float | None
    peak_ok_throughput: float | None


@dataclass(frozen=True)
class Summary:
    """Whole-run figures for the A/B table."""

    requests: int
    errors: int
    error_rate: float | None
    dropped: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    server_p50_ms: float | None
    overhead_p50_ms: float | None
    instances: int
    peak_ok_per_s: float | None


def _f(v: object) -> float | None:
    """A float, or None for a missing value (SQL NULL, NaN)."""
    if v is None:
        return None
    x = float(v)  # type: ignore[arg-type]
    return None if np.isnan(x) else x


def per_second(run: Run) -> pd.DataFrame:
    """One row per second of the run with rates, latency percentiles, instances and server time."""
    n = int(np.floor(max(run.duration, 0.0))) + 1
    idx = pd.RangeIndex(n, name="second")
    out = pd.DataFrame(index=idx)
    out["planned"] = run.planned.reindex(idx, fill_value=0.0) if len(run.planned) else np.nan

    by_start = run.query(
        f"""SELECT {START_S} AS s, count(*) AS sent, count(*) FILTER (WHERE NOT ok) AS errors,
                   quantile_cont(latency_ms, [0.5, 0.95, 0.99]) AS q, max(latency_ms) AS mx
            FROM requests GROUP BY s"""
    ).set_index("s")
    out["sent"] = by_start["sent"].reindex(idx, fill_value=0).astype("int64")
    out["errors"] = by_start["errors"].reindex(idx, fill_value=0).astype("int64")
    out["error_rate"] = (out["errors"] / out["sent"]).where(out["sent"] > 0)
    q = by_start["q"].reindex(idx)
    for i, p in enumerate((50, 95, 99)):
        out[f"p{p}"] = q.map(
            lambda v, i=i: float(v[i]) if isinstance(v, list | np.ndarray) else np.nan
        )
    out["max"] = by_start["mx"].reindex(idx).astype(float)

    dropped = run.query(
        "SELECT CAST(greatest(floor(t), 0) AS BIGINT) AS s, sum(count) AS n FROM dropped GROUP BY s"
    )
    out["dropped"] = dropped.set_index("s")["n"].reindex(idx, fill_value=0).astype(float)

    by_end = run.query(
        f"""SELECT {END_S} AS s, count(*) FILTER (WHERE ok) AS ok_done,
                   count(DISTINCT instance) FILTER (WHERE instance <> 'none') AS instances,
                   quantile_cont(latency_ms, 0.5) FILTER (WHERE ok) AS client_p50_done
            FROM requests GROUP BY s"""
    ).set_index("s")
    out["ok_done"] = by_end["ok_done"].reindex(idx, fill_value=0).astype("int64")
    out["instances"] = by_end["instances"].reindex(idx, fill_value=0).astype("int64")

    # Client vs server over the OK answers only: rejections are fast on both sides and would mix
    # two populations (the k6 rows of one request are not joined, so like must be compared with like).
    server = run.query(
        f"""SELECT {END_S} AS s,
                   quantile_cont(value_ms, 0.5) FILTER (WHERE part = 'total' AND ok) AS total,
                   quantile_cont(value_ms, 0.5) FILTER (WHERE part = 'queue' AND ok) AS queue
            FROM server GROUP BY s"""
    ).set_index("s")
    out["server_total_p50"] = server["total"].reindex(idx).astype(float)
    out["server_queue_p50"] = server["queue"].reindex(idx).astype(float)
    out["client_p50_done"] = by_end["client_p50_done"].reindex(idx).astype(float)
    return out


INSTANCE_COLUMNS = [
    "instance",
    "instance_start",
    "first_answer",
    "last_answer",
    "requests",
    "share",
    "p50_ms",
]


def instances(run: Run) -> pd.DataFrame:
    """Each instance: when it first and last answered, its start time as it reported it, its share."""
    t = run.query(
        """SELECT instance, arg_min(instance_start, t_start) AS instance_start,
                  min(t_end) AS first_answer, max(t_end) AS last_answer, count(*) AS requests,
                  quantile_cont(latency_ms, 0.5) AS p50_ms
           FROM requests WHERE instance <> 'none' GROUP BY instance ORDER BY first_answer, instance"""
    )
    if not len(t):
        return pd.DataFrame(columns=INSTANCE_COLUMNS)
    t["share"] = t["requests"] / max(run.n_requests, 1)
    return t[INSTANCE_COLUMNS].reset_index(drop=True)


def answers_per_instance(run: Run) -> pd.DataFrame:
    """Answers per second (rows) and instance (columns), for the shares plot."""
    t = run.query(
        f"""SELECT {END_S} AS s, instance, count(*) AS n FROM requests
            WHERE instance <> 'none' GROUP BY s, instance"""
    )
    if not len(t):
        return pd.DataFrame()
    wide = t.pivot(index="s", columns="instance", values="n").fillna(0)
    return wide.reindex(range(int(wide.index.max()) + 1), fill_value=0)


def ok_seconds(sec: pd.DataFrame, c: Criteria) -> pd.Series:
    # A second with no requests proves nothing, so it never counts as meeting the objective.
    return (
        (sec["sent"] > 0)
        & (sec["p95"] <= c.slo_p95_ms)
        & (sec["error_rate"].fillna(1.0) <= c.error_rate)
    )


def first_run(flags: pd.Series, start: int, stop: int, length: int) -> int | None:
    """First second in [start, stop) that begins `length` consecutive True flags, or None."""
    count = 0
    for s in range(start, stop):
        count = count + 1 if bool(flags.get(s, False)) else 0
        if count >= length:
            return s - length + 1
    return None


def load_changes(run: Run, sec: pd.DataFrame) -> list[tuple[int, float, float, int]]:
    """(onset second, rate before, rate after, window end) for every sudden rise of the planned rate.

    Rises come from the plan (the start of a scenario, a zero-length stage upwards), so a ramp's
    gradual climb is not mistaken for spikes. The window a rise opens ends at the next jump of the plan,
    up or down: a recovery after the load dropped says nothing about capacity. Without a plan, the
    start of the run is the only onset.
    """
    end = len(sec)
    if run.n_requests:
        # A run stopped early (MAX_RUN_TIME, abort) has no data past its last arrival: windows end there.
        end = min(end, int(np.floor(run.last_start)) + 1)
    if not run.events:
        return [(0, 0.0, float(sec["sent"].max()), end)]
    plan = sec["planned"].fillna(0)
    jumps = sorted({s for s, _ in run.events})
    out = []
    for s in sorted({s for s, up in run.events if up}):
        if s >= end:
            continue
        later = [j for j in jumps if j > s]
        before = float(plan.iloc[s - 1]) if s > 0 else 0.0
        out.append((s, before, float(plan.iloc[s]), min(later[0], end) if later else end))
    return out


def headline(
    run: Run, sec: pd.DataFrame, c: Criteria, inst: pd.DataFrame | None = None
) -> list[HeadlineRow]:
    """One row per load rise: time to the first new instance, time to recovery, damage until then."""
    ok = ok_seconds(sec, c)
    inst = instances(run) if inst is None else inst
    first = inst.set_index("instance")["first_answer"] if len(inst) else pd.Series(dtype=float)
    rows = []
    for onset, before, after, stop in load_changes(run, sec):
        # Instances that answered shortly before the rise, or within its first second (with no traffic
        # before a spike the standing instances answer its first requests), are the capacity already
        # there; a new one is an instance never seen before that.
        existing = run.scalar(
            """SELECT count(DISTINCT instance) FROM requests
               WHERE instance <> 'none' AND t_end >= ? AND t_end < ?""",
            [onset - ACTIVE_LOOKBACK_S, onset + 1.0],
        )
        new = first[(first >= onset + 1.0) & (first < stop)]
        # A window shorter than N seconds can still show a recovery: it needs all its remaining seconds.
        rec = first_run(ok, onset, stop, min(c.seconds, stop - onset))
        # Never broke: the damage columns then cover the whole window (all of it within objective).
        until = rec if rec is not None and rec > onset else stop
        n, errors, worst = run.db.execute(
            """SELECT count(*), count(*) FILTER (WHERE NOT ok), max(latency_ms) FROM requests
               WHERE t_start >= ? AND t_start < ?""",
            [float(onset), float(until)],
        ).fetchone() or (0, 0, None)
        wsec = sec.iloc[onset:until]
        rows.append(
            HeadlineRow(
                onset_s=onset,
                rate_before=before,
                rate_after=after,
                instances_before=int(existing or 0),
                first_new_instance_s=float(new.min() - onset) if len(new) else None,
                new_instances=len(new),
                recovery_s=(rec - onset) if rec is not None else None,
                window_s=stop - onset,
                errors=int(errors),
                requests=int(n),
                worst_p95_ms=float(wsec["p95"].max()) if wsec["p95"].notna().any() else None,
                max_latency_ms=_f(worst),
            )
        )
    return rows


def service_ms(run: Run) -> float | None:
    """Mean time holding a concurrency slot: Server-Timing total minus admission queueing (means
    subtract exactly)."""
    total, queue = run.db.execute(
        """SELECT avg(value_ms) FILTER (WHERE part = 'total'), avg(value_ms) FILTER (WHERE part = 'queue')
           FROM server"""
    ).fetchone() or (None, None)
    if total is None:
        return None
    return float(total) - (float(queue) if queue is not None else 0.0)


def offered(sec: pd.DataFrame) -> pd.Series:
    """The planned rate when the run has a plan, else what was sent."""
    has_plan = sec["planned"].notna().any() and sec["planned"].sum() > 0
    return sec["planned"] if has_plan else sec["sent"].astype(float)


def capacity(
    run: Run, sec: pd.DataFrame, c: Criteria, inst: pd.DataFrame | None = None
) -> Capacity:
    """Little's law: an instance holding C requests for S seconds each serves C/S req/s. Compared with
    the offered rate at which the objective first broke for N seconds in a row."""
    s_ms = service_ms(run)
    inst = instances(run) if inst is None else inst
    peak = int(sec["instances"].max()) if len(sec) else 0
    bad = ~ok_seconds(sec, c) & (sec["sent"] > 0)
    brk = first_run(bad, 0, len(sec), c.seconds)
    # The configuration that broke: the instances that had answered by the end of the first bad second.
    # Without a break, the configuration that held: every instance seen.
    at_break = (
        int((inst["first_answer"] < brk + 1).sum()) if brk is not None and len(inst) else len(inst)
    )
    off = offered(sec)
    per = None
    if c.max_concurrency and s_ms and s_ms > 0:
        per = c.max_concurrency / (s_ms / 1000.0)
    return Capacity(
        max_concurrency=c.max_concurrency,
        service_ms=s_ms,
        instances_at_break=at_break,
        instances_peak=peak,
        capacity_per_instance=per,
        capacity_at_break=per * max(at_break, 1) if per else None,
        capacity_peak=per * max(peak, 1) if per else None,
        break_s=brk,
        break_offered=float(off.iloc[brk]) if brk is not None else None,
        max_offered=float(off.max()) if len(off) else None,
        peak_ok_throughput=float(sec["ok_done"].max()) if len(sec) else None,
    )


def summary(run: Run, sec: pd.DataFrame) -> Summary:
    """Whole-run figures for the A/B table."""
    n, errors, q, mean, mx, ok_p50, instances_seen = run.db.execute(
        """SELECT count(*), count(*) FILTER (WHERE NOT ok), quantile_cont(latency_ms, [0.5, 0.95, 0.99]),
                  avg(latency_ms), max(latency_ms), quantile_cont(latency_ms, 0.5) FILTER (WHERE ok),
                  count(DISTINCT instance) FILTER (WHERE instance <> 'none')
           FROM requests"""
    ).fetchone() or (0, 0, None, None, None, None, 0)
    server_p50 = _f(
        run.scalar("SELECT quantile_cont(value_ms, 0.5) FROM server WHERE part = 'total' AND ok")
    )
    ok_p50 = _f(ok_p50)
    q = list(q) if q is not None else [None, None, None]
    return Summary(
        requests=int(n),
        errors=int(errors),
        error_rate=errors / n if n else None,
        dropped=int(sec["dropped"].sum()),
        mean_ms=_f(mean),
        p50_ms=_f(q[0]),
        p95_ms=_f(q[1]),
        p99_ms=_f(q[2]),
        max_ms=_f(mx),
        server_p50_ms=server_p50,
        overhead_p50_ms=ok_p50 - server_p50
        if server_p50 is not None and ok_p50 is not None
        else None,
        instances=int(instances_seen),
        peak_ok_per_s=float(sec["ok_done"].max()) if len(sec) else None,
    )
