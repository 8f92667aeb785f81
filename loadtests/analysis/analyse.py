"""One analysis of one run, shared by `report` and `compare`: `analyse(run, criteria)` → `Analysis`.

Everything the documents show comes from the Analysis (report.py only formats it), and
`as_json` turns it into report.json / compare.json, so a script reads the same numbers a reader
sees. The JSON layout is versioned (SCHEMA_VERSION) and described by report.schema.json beside this
file; bump the version when a field changes meaning or goes away.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import cache, elasticity, metrics
from .metrics import Capacity, Criteria, HeadlineRow, Summary
from .runs import Run, parse_duration

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RiseElasticity:
    onset_s: int
    window_s: int
    covered_after_s: int | None  # first second after the rise whose supply covers demand
    metrics: elasticity.Elasticity


@dataclass(frozen=True)
class SupplyView:
    """The metrics with one view of supply: `clients` (instances that answered in the second),
    `platform` (instances the platform held ready, from platform.jsonl) or `platform_metric` (the
    platform's own count, a CloudWatch metric such as ActiveInstances, from platform.jsonl)."""

    supply: str
    whole: elasticity.Elasticity
    rises: list[RiseElasticity]


@dataclass(frozen=True)
class ElasticityReport:
    service_ms: float
    max_concurrency: float
    utilisation: float
    minimum: int
    seconds: int
    peak_demand: int
    views: list[SupplyView]


@dataclass(frozen=True)
class PlatformRise:
    """The platform's own times for one rise beside what the clients saw, seconds after the rise."""

    onset_s: int
    decision_s: float | None
    desired: int | None
    instance: str | None
    requested_s: float | None
    ready_s: float | None
    in_rotation_s: float | None
    first_request_s: float | None
    client_first_answer_s: float | None


@dataclass(frozen=True)
class FaultImpact:
    """One fault of FAULTS: what the platform did and what the clients felt, from when it was
    applied until recovery (seconds since the run's origin, durations in seconds)."""

    fault: int
    kind: str
    spec: str
    instance: str | None
    planned_s: float | None
    applied_s: float | None
    restored_s: float | None  # hang: SIGCONT; slow: configuration back
    exit_code: int | None  # kill
    ejected_s: float | None  # hang: out of HAProxy's rotation
    readmitted_s: float | None  # hang: back in rotation
    replaced_by: str | None  # kill: the next instance requested that became ready
    replacement_ready_s: float | None
    response: str  # replaced | ejected | waited | not applied
    supply_back_s: float | None  # the lost capacity serving again
    recovered_s: float | None  # from applied to supply back and the objective met again
    requests: int  # started from applied until recovery (the run's end if none)
    failed: int
    over_objective: int  # answered, but slower than the objective's p95
    note: str | None  # why it was not applied


@dataclass(frozen=True)
class Accounting:
    """Every planned request is answered, failed or dropped by the generator, and only one of them."""

    planned: int | None  # from k6's plan (arrival-rate executors); None without one
    answered: int
    failed: int
    dropped: int
    difference: int | None  # planned - (answered + failed + dropped)
    tolerance: int
    holds: bool | None


@dataclass
class Analysis:
    label: str
    criteria: Criteria
    per_second: pd.DataFrame
    headline: list[HeadlineRow]
    instances: pd.DataFrame
    capacity: Capacity
    summary: Summary
    elasticity: ElasticityReport | None
    elasticity_missing: str | None  # why there is no elasticity section
    cache: cache.CacheReport | None
    platform_rises: list[PlatformRise] = field(default_factory=list)
    faults: list[FaultImpact] = field(default_factory=list)
    accounting: Accounting | None = None  # runs with faults

    def largest_rise(self) -> HeadlineRow | None:
        """The spike a study is about (the run's start is a rise too, usually small)."""
        return (
            max(self.headline, key=lambda h: h.rate_after - h.rate_before)
            if self.headline
            else None
        )


def criteria_for(
    run: Run,
    slo_ms: float | None = None,
    error_rate: float | None = None,
    seconds: int | None = None,
    max_concurrency: float | None = None,
    utilisation: float | None = None,
) -> Criteria:
    """Command-line values first, then the run's own knobs (SLO_P95, SLO_ERROR_RATE,
    MAX_CONCURRENCY), then the defaults."""
    p, d = run.parameters, Criteria()
    mc = run.service.get("MAX_CONCURRENCY")
    return Criteria(
        slo_p95_ms=_given(
            slo_ms,
            parse_duration(p["SLO_P95"]) * 1000.0 if p.get("SLO_P95") else None,
            d.slo_p95_ms,
        ),
        error_rate=_given(
            error_rate,
            float(p["SLO_ERROR_RATE"]) if p.get("SLO_ERROR_RATE") else None,
            d.error_rate,
        ),
        seconds=int(_given(seconds, d.seconds)),
        max_concurrency=_given(max_concurrency, float(mc) if mc not in (None, "", "0") else None),
        utilisation=_given(utilisation, d.utilisation),
    )


def _given(*values: float | None) -> Any:
    """The first value that is not None (a command-line value, then the run's, then a default)."""
    return next((float(v) for v in values if v is not None), None)


def _load_end(run: Run, sec: pd.DataFrame) -> int:
    # The elasticity window is the load itself: up to the last arrival (not the tail of answers).
    return min(len(sec), int(np.floor(run.last_start)) + 1) if run.n_requests else len(sec)


def _elasticity(
    run: Run, sec: pd.DataFrame, rows: list[HeadlineRow], cap: Capacity, c: Criteria
) -> tuple[ElasticityReport | None, str | None]:
    if not c.max_concurrency:
        return None, "no max concurrency per instance: give --max-concurrency (or MAX_CONCURRENCY)"
    if not cap.service_ms or cap.service_ms <= 0:
        return None, "no Server-Timing samples, so no measured service time"
    end = _load_end(run, sec)
    if end < 1:
        return None, "no seconds with load"
    off = metrics.offered(sec).iloc[:end].fillna(0).to_numpy()
    d = elasticity.demand(off, cap.service_ms / 1000.0, c.max_concurrency, c.utilisation)
    sec["demand"] = pd.Series(d, index=sec.index[:end])
    supplies = {"clients": sec["instances"].iloc[:end].to_numpy()}
    if run.platform is not None and run.platform.has_instance_spans():
        ready = run.platform.ready_count(len(sec))
        sec["supply_platform"] = ready
        supplies["platform"] = ready[:end]
    reported = run.platform.supply_metric(len(sec)) if run.platform is not None else None
    if reported is not None:
        sec["supply_platform_metric"] = reported[1]
        supplies["platform_metric"] = reported[1][:end]
    views = []
    for name, s in supplies.items():
        rises = [
            RiseElasticity(
                onset_s=h.onset_s,
                window_s=min(h.onset_s + h.window_s, end) - h.onset_s,
                covered_after_s=elasticity.covered_after(
                    d[h.onset_s : h.onset_s + h.window_s], s[h.onset_s : h.onset_s + h.window_s]
                ),
                metrics=elasticity.metrics(
                    d[h.onset_s : h.onset_s + h.window_s], s[h.onset_s : h.onset_s + h.window_s]
                ),
            )
            for h in rows
            if h.onset_s < end
        ]
        views.append(SupplyView(name, elasticity.metrics(d, s), rises))
    return (
        ElasticityReport(
            service_ms=cap.service_ms,
            max_concurrency=c.max_concurrency,
            utilisation=c.utilisation,
            minimum=1,
            seconds=end,
            peak_demand=int(d.max()),
            views=views,
        ),
        None,
    )


def _platform_rises(run: Run, rows: list[HeadlineRow], inst: pd.DataFrame) -> list[PlatformRise]:
    log = run.platform
    if log is None:
        return []
    first_answer = (
        inst.set_index("instance")["first_answer"] if len(inst) else pd.Series(dtype=float)
    )
    out = []
    for h in rows:
        lo, hi = float(h.onset_s), float(h.onset_s + h.window_s)
        prev = None
        decision = None
        for dcs in log.decisions:
            before = dcs.current if dcs.current is not None else prev
            if lo <= dcs.t < hi and before is not None and dcs.desired > before:
                decision = dcs
                break
            prev = dcs.desired
        since = decision.t if decision is not None else lo
        fresh = [
            i
            for i in log.instances.values()
            if i.ready is not None
            and since <= i.ready < hi
            and (i.requested is None or i.requested >= since - 1e-9)
        ]
        first = min(fresh, key=lambda i: i.ready or 0.0) if fresh else None

        def rel(x: float | None, lo: float = lo) -> float | None:
            return None if x is None else x - lo

        out.append(
            PlatformRise(
                onset_s=h.onset_s,
                decision_s=rel(decision.t) if decision else None,
                desired=decision.desired if decision else None,
                instance=first.instance if first else None,
                requested_s=rel(first.requested) if first else None,
                ready_s=rel(first.ready) if first else None,
                in_rotation_s=rel(first.in_rotation) if first else None,
                first_request_s=rel(first.first_request) if first else None,
                client_first_answer_s=rel(float(first_answer[first.instance]))
                if first is not None and first.instance in first_answer.index
                else None,
            )
        )
    return out


# k6 starts a ramp's arrivals at whole iterations: its count may differ from the plan's integral by one
# per stage; 0.1 % bounds that for the longest profiles.
ACCOUNTING_TOLERANCE = 0.001


def accounting(run: Run, sec: pd.DataFrame) -> Accounting:
    """planned = answered + failed + dropped. Answered and failed are the requests k6 completed (a
    status 200-399 or not; a timeout is a failure), so each is one or the other; a dropped iteration
    never sent its request."""
    answered, failed = run.db.execute(
        "SELECT count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok) FROM requests"
    ).fetchone() or (0, 0)
    dropped = round(float(sec["dropped"].sum()))
    has_plan = bool(sec["planned"].notna().any()) and float(sec["planned"].sum()) > 0
    planned = round(float(sec["planned"].sum())) if has_plan else None
    tolerance = max(1, math.ceil((planned or 0) * ACCOUNTING_TOLERANCE))
    diff = None if planned is None else planned - (int(answered) + int(failed) + dropped)
    return Accounting(
        planned=planned,
        answered=int(answered),
        failed=int(failed),
        dropped=dropped,
        difference=diff,
        tolerance=tolerance,
        holds=None if diff is None else abs(diff) <= tolerance,
    )


def _fault_impacts(run: Run, sec: pd.DataFrame, c: Criteria) -> list[FaultImpact]:
    log = run.platform
    if log is None:
        return []
    ok = metrics.ok_seconds(sec, c)  # the headline's own test of a second
    end = _load_end(run, sec)
    out = []
    for f in log.faults:
        replacement = (
            log.replacement(f.applied) if f.kind == "kill" and f.applied is not None else None
        )
        if f.applied is None:
            response, back = "not applied", None
        elif f.kind == "kill":
            response = "replaced" if replacement is not None else "waited"
            back = (
                (replacement.in_rotation or replacement.ready) if replacement is not None else None
            )
        elif f.kind == "hang" and f.ejected is not None:
            response, back = "ejected", f.readmitted
        else:
            response, back = "waited", f.restored
        recovered_at = None
        if f.applied is not None and back is not None:
            start = math.floor(back)  # never before the fault: back comes after it
            first = metrics.first_run(ok, start, end, max(1, min(c.seconds, end - start)))
            if first is not None:
                recovered_at = max(float(first), back)
        requests = failed = over = 0
        if f.applied is not None:
            until = recovered_at if recovered_at is not None else float("inf")
            row = run.db.execute(
                """SELECT count(*), count(*) FILTER (WHERE NOT ok),
                          count(*) FILTER (WHERE ok AND latency_ms > ?)
                   FROM requests WHERE t_start >= ? AND t_start < ?""",
                [c.slo_p95_ms, f.applied, until],
            ).fetchone()
            requests, failed, over = (int(x) for x in row) if row else (0, 0, 0)
        out.append(
            FaultImpact(
                fault=f.fault,
                kind=f.kind,
                spec=f.spec,
                instance=f.instance,
                planned_s=f.planned,
                applied_s=f.applied,
                restored_s=f.restored,
                exit_code=f.exit_code,
                ejected_s=f.ejected,
                readmitted_s=f.readmitted,
                replaced_by=replacement.instance if replacement else None,
                replacement_ready_s=replacement.ready if replacement else None,
                response=response,
                supply_back_s=back,
                recovered_s=None
                if recovered_at is None or f.applied is None
                else recovered_at - f.applied,
                requests=requests,
                failed=failed,
                over_objective=over,
                note=f.reason if f.applied is None else None,
            )
        )
    return out


def analyse(run: Run, criteria: Criteria) -> Analysis:
    """Every number the report (or one side of a compare) shows, computed once."""
    sec = metrics.per_second(run)
    cache_sec = cache.per_second(run, sec.index)
    for col in cache_sec.columns:
        sec[col] = cache_sec[col]
    inst = metrics.instances(run)
    rows = metrics.headline(run, sec, criteria, inst)
    cap = metrics.capacity(run, sec, criteria, inst)
    el, why = _elasticity(run, sec, rows, cap, criteria)
    return Analysis(
        label=run.label,
        criteria=criteria,
        per_second=sec,
        headline=rows,
        instances=inst,
        capacity=cap,
        summary=metrics.summary(run, sec),
        elasticity=el,
        elasticity_missing=why,
        cache=cache.cache_report(run),
        platform_rises=_platform_rises(run, rows, inst),
        faults=_fault_impacts(run, sec, criteria),
        accounting=accounting(run, sec) if _has_faults(run) else None,
    )


def _has_faults(run: Run) -> bool:
    log = run.platform
    return log is not None and bool(log.faults or log.settings.get("faults"))


def _clean(v: Any) -> Any:
    """JSON-safe: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def as_json(a: Analysis, run: Run) -> dict[str, Any]:
    """The analysis as report.json's `run`-level object (see report.schema.json)."""
    sec = a.per_second
    m = run.meta[0] if run.meta else None
    return _clean(
        {
            "label": a.label,
            "run": {
                "folders": [str(d) for d in run.dirs],
                "profile": run.profile,
                "target": m.target if m else None,
                "start_utc": min((x.start_utc for x in run.meta), default=None),
                "end_utc": max((x.end_utc for x in run.meta if x.end_utc), default=None),
                "git_revision": m.git_revision if m else None,
                "git_dirty": bool(m and m.git_dirty),
                "k6_version": m.k6_version if m else None,
                "parameters": run.parameters,
                "service": run.service,
            },
            "criteria": dataclasses.asdict(a.criteria),
            "headline": [dataclasses.asdict(h) for h in a.headline],
            "capacity": dataclasses.asdict(a.capacity),
            "summary": dataclasses.asdict(a.summary),
            "instances": a.instances.to_dict(orient="records"),
            "elasticity": dataclasses.asdict(a.elasticity) if a.elasticity else None,
            "elasticity_missing": a.elasticity_missing,
            "cache": dataclasses.asdict(a.cache) if a.cache else None,
            "platform_rises": [dataclasses.asdict(p) for p in a.platform_rises],
            "faults": [dataclasses.asdict(f) for f in a.faults],
            "accounting": dataclasses.asdict(a.accounting) if a.accounting else None,
            "per_second": {"second": list(sec.index)} | {c: sec[c].tolist() for c in sec.columns},
        }
    )
