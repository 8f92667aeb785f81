"""Per-second series and the headline numbers: when capacity arrived and what users saw meanwhile.

Requests are placed in the second they *started* (when the user arrived), so "latency at second s" is
what users arriving at s experienced, and a spike's onset lines up with the planned rate. Instances are
placed in the second they *answered*, because an instance only counts as capacity once it responds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .runs import Run

# "Instances before" a rise are those that answered in this many seconds before it: capacity that was
# there and taking traffic, not every instance the run ever saw (some may have been scaled in since).
ACTIVE_LOOKBACK_S = 30.0


@dataclass
class Criteria:
    """What "recovered" means: p95 under the SLO and errors under a share, for N seconds in a row."""

    slo_p95_ms: float = 250.0
    error_rate: float = 0.01
    seconds: int = 5

    def describe(self) -> str:
        return (f"p95 ≤ {self.slo_p95_ms:g} ms and errors ≤ {self.error_rate:.2%} "
                f"for {self.seconds} consecutive seconds")


def _q(p):
    def f(x):
        return float(np.percentile(x, p)) if len(x) else np.nan
    f.__name__ = f"p{p}"
    return f


def per_second(run: Run) -> pd.DataFrame:
    """One row per second of the run with rates, latency percentiles, instances and server time."""
    r = run.requests
    n = int(np.floor(max(run.duration, 0.0))) + 1
    idx = pd.RangeIndex(n, name="second")
    out = pd.DataFrame(index=idx)
    out["planned"] = run.planned.reindex(idx, fill_value=0.0) if len(run.planned) else np.nan

    start_s = np.floor(r["t_start"]).clip(lower=0).astype(int)
    end_s = np.floor(r["t_end"]).clip(lower=0).astype(int)
    by_start = r.groupby(start_s)
    out["sent"] = by_start.size().reindex(idx, fill_value=0)
    out["errors"] = (~r["ok"]).groupby(start_s).sum().reindex(idx, fill_value=0)
    out["error_rate"] = (out["errors"] / out["sent"]).where(out["sent"] > 0)
    out["ok_done"] = r["ok"].groupby(end_s).sum().reindex(idx, fill_value=0)
    lat = by_start["latency_ms"]
    for p in (50, 95, 99):
        out[f"p{p}"] = lat.quantile(p / 100).reindex(idx)
    out["max"] = lat.max().reindex(idx)

    d = run.dropped
    out["dropped"] = (d["count"].groupby(np.floor(d["t"]).clip(lower=0).astype(int)).sum().reindex(idx, fill_value=0)
                      if len(d) else 0)

    answered = r[r["instance"] != "none"]
    out["instances"] = answered.groupby(end_s[answered.index])["instance"].nunique().reindex(idx, fill_value=0)

    # Client vs server over the OK answers only: rejections are fast on both sides and would mix
    # two populations (the k6 rows of one request are not joined, so like must be compared with like).
    s = run.server
    if len(s):
        s_sec = np.floor(s["t_end"]).clip(lower=0).astype(int)
        for part in ("total", "queue"):
            m = (s["part"] == part) & s["ok"]
            out[f"server_{part}_p50"] = s.loc[m, "value_ms"].groupby(s_sec[m]).median().reindex(idx)
    else:
        out["server_total_p50"] = np.nan
        out["server_queue_p50"] = np.nan
    out["client_p50_done"] = r.loc[r["ok"], "latency_ms"].groupby(end_s[r["ok"]]).median().reindex(idx)
    return out


def instances(run: Run) -> pd.DataFrame:
    """Each instance: when it first and last answered, its start time as it reported it, its share."""
    r = run.requests[run.requests["instance"] != "none"]
    if not len(r):
        return pd.DataFrame(columns=["instance", "instance_start", "first_answer", "last_answer", "requests", "share", "p50_ms"])
    g = r.groupby("instance")
    t = pd.DataFrame({
        "instance_start": g["instance_start"].first(),
        "first_answer": g["t_end"].min(),
        "last_answer": g["t_end"].max(),
        "requests": g.size(),
        "p50_ms": g["latency_ms"].median(),
    })
    t["share"] = t["requests"] / len(run.requests)
    return t.sort_values("first_answer").reset_index()


def _ok_seconds(sec: pd.DataFrame, c: Criteria) -> pd.Series:
    # A second with no requests proves nothing, so it never counts as meeting the objective.
    return (sec["sent"] > 0) & (sec["p95"] <= c.slo_p95_ms) & (sec["error_rate"].fillna(1.0) <= c.error_rate)


def _first_run(flags: pd.Series, start: int, stop: int, length: int):
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
    if len(run.requests):
        # A run stopped early (MAX_RUN_TIME, abort) has no data past its last arrival: windows end there.
        end = min(end, int(np.floor(run.requests["t_start"].max())) + 1)
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


def headline(run: Run, sec: pd.DataFrame, c: Criteria) -> list[dict]:
    """One row per load rise: time to the first new instance, time to recovery, damage until then."""
    ok = _ok_seconds(sec, c)
    r = run.requests
    first = instances(run).set_index("instance")["first_answer"] if len(r) else pd.Series(dtype=float)
    answered = r[r["instance"] != "none"]
    rows = []
    for onset, before, after, stop in load_changes(run, sec):
        # Instances that answered shortly before the rise, or within its first second (with no traffic
        # before a spike the standing instances answer its first requests), are the capacity already
        # there; a new one is an instance never seen before that.
        recent = answered[(answered["t_end"] >= onset - ACTIVE_LOOKBACK_S) & (answered["t_end"] < onset + 1.0)]
        existing = recent["instance"].unique()
        new = first[(first >= onset + 1.0) & (first < stop)]
        # A window shorter than N seconds can still show a recovery: it needs all its remaining seconds.
        rec = _first_run(ok, onset, stop, min(c.seconds, stop - onset))
        # Never broke: the damage columns then cover the whole window (all of it within objective).
        until = rec if rec is not None and rec > onset else stop
        w = r[(r["t_start"] >= onset) & (r["t_start"] < until)]
        wsec = sec.iloc[onset:until]
        rows.append({
            "onset_s": onset,
            "rate_before": before,
            "rate_after": after,
            "instances_before": int(len(existing)),
            "first_new_instance_s": float(new.min() - onset) if len(new) else None,
            "new_instances": int(len(new)),
            "recovery_s": (rec - onset) if rec is not None else None,
            "window_s": stop - onset,
            "errors": int((~w["ok"]).sum()),
            "requests": int(len(w)),
            "worst_p95_ms": float(wsec["p95"].max()) if wsec["p95"].notna().any() else None,
            "max_latency_ms": float(w["latency_ms"].max()) if len(w) else None,
        })
    return rows


def capacity(run: Run, sec: pd.DataFrame, c: Criteria, max_concurrency: float | None) -> dict:
    """Little's law: an instance holding C requests for S seconds each serves C/S req/s. Compared with
    the offered rate at which the objective first broke for N seconds in a row."""
    s = run.server
    service_ms = None
    if len(s):
        total = s.loc[s["part"] == "total", "value_ms"]
        queue = s.loc[s["part"] == "queue", "value_ms"]
        if len(total):
            # Mean time holding a concurrency slot: total minus admission queueing (means subtract exactly).
            service_ms = float(total.mean() - (queue.mean() if len(queue) else 0.0))
    inst = instances(run)
    peak = int(sec["instances"].max()) if len(sec) else 0
    bad = ~_ok_seconds(sec, c) & (sec["sent"] > 0)
    brk = _first_run(bad, 0, len(sec), c.seconds)
    # The configuration that broke: the instances that had answered by the end of the first bad second.
    # Without a break, the configuration that held: every instance seen.
    at_break = int((inst["first_answer"] < brk + 1).sum()) if brk is not None and len(inst) else len(inst)
    offered = sec["planned"] if sec["planned"].notna().any() and sec["planned"].sum() > 0 else sec["sent"]
    out = {
        "max_concurrency": max_concurrency,
        "service_ms": service_ms,
        "instances_at_break": at_break,
        "instances_peak": peak,
        "capacity_at_break": None,
        "capacity_peak": None,
        "break_s": brk,
        "break_offered": float(offered.iloc[brk]) if brk is not None else None,
        "max_offered": float(offered.max()) if len(offered) else None,
        "peak_ok_throughput": float(sec["ok_done"].max()) if len(sec) else None,
    }
    if max_concurrency and service_ms and service_ms > 0:
        per = max_concurrency / (service_ms / 1000.0)
        out["capacity_at_break"] = per * max(at_break, 1)
        out["capacity_peak"] = per * max(peak, 1)
        out["capacity_per_instance"] = per
    return out


def summary(run: Run, sec: pd.DataFrame) -> dict:
    """Whole-run figures for the A/B table."""
    r = run.requests
    lat = r["latency_ms"]
    s = run.server
    tot = s.loc[(s["part"] == "total") & s["ok"], "value_ms"] if len(s) else pd.Series(dtype=float)
    ok_lat = lat[r["ok"]]
    return {
        "requests": int(len(r)),
        "errors": int((~r["ok"]).sum()),
        "error_rate": float((~r["ok"]).mean()) if len(r) else None,
        "dropped": int(sec["dropped"].sum()),
        "p50_ms": float(lat.median()) if len(r) else None,
        "p95_ms": float(lat.quantile(0.95)) if len(r) else None,
        "p99_ms": float(lat.quantile(0.99)) if len(r) else None,
        "max_ms": float(lat.max()) if len(r) else None,
        "server_p50_ms": float(tot.median()) if len(tot) else None,
        "overhead_p50_ms": float(ok_lat.median() - tot.median()) if len(tot) and len(ok_lat) else None,
        "instances": int(r.loc[r["instance"] != "none", "instance"].nunique()),
        "peak_ok_per_s": float(sec["ok_done"].max()) if len(sec) else None,
    }
