"""A campaign's runs turned into evidence: per configuration and metric every run's value, the
median and its interval; per pair the difference of medians with its interval, the elastic speedup
with its interval, and a verdict only where the interval excludes 0.

Each run's metrics come from its own report.json (the analysis of a single run, written by
`report`, run here when missing): the spike's rise from the headline (the rise with the largest
jump in offered rate), the elasticity metrics from the clients' view of supply (the one every kind
of run has: a deployed target has no platform log).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests.analysis.elasticity import SPEEDUP_METRICS, resolution
from loadtests.analysis.runs import RunError

from . import stats

# Metric key → (label, unit, what smaller means). All of them: smaller is better.
METRICS: dict[str, tuple[str, str]] = {
    "first_new_instance_s": ("first new instance", "s"),
    "recovered_after_s": ("recovered after", "s"),
    "errors_until_recovery_pct": ("errors until recovery", "%"),
    "worst_p95_ms": ("worst p95", "ms"),
    "theta_u_pct": ("θ_U", "%"),
    "tau_u_pct": ("τ_U", "%"),
    "missing_instance_s": ("missing instance·s", "instance·s"),
    "supply_instance_s": ("supply instance·s", "instance·s"),
    # The whole run, as the clients saw it: what a study without scaling compares.
    "p50_ms": ("p50", "ms"),
    "p99_ms": ("p99", "ms"),
    "error_rate_pct": ("errors", "%"),
}
SCHEMA = Path(__file__).with_name("campaign.schema.json")


class CampaignAnalysisError(ValueError):
    """A campaign folder that cannot be analysed; the message says what is missing."""


@dataclass(frozen=True)
class RunMetrics:
    slot: str
    config: str
    repetition: int
    folder: Path
    values: dict[str, float | None]
    # Per run, the geometric mean of θ_U, θ_O, τ_U, τ_O (a 0 counted as the run's resolution):
    # the ratio of two runs' scores is the elastic speedup `compare` reports for them.
    elasticity_score: float | None


def _rise(headline: list[dict[str, Any]]) -> dict[str, Any] | None:
    rises = [h for h in headline if h.get("rate_before", 0) > 0] or headline
    if not rises:
        return None
    return max(rises, key=lambda h: h["rate_after"] - h["rate_before"])


def _whole(report: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
    el = report.get("elasticity") or {}
    views = el.get("views") or []
    view = next((v for v in views if v.get("supply") == "clients"), views[0] if views else None)
    return (view or {}).get("whole"), int(el.get("peak_demand") or 1)


def run_metrics(report: dict[str, Any]) -> tuple[dict[str, float | None], float | None]:
    """The campaign's metrics of one run, from its report.json."""
    rise = _rise(report.get("headline") or [])
    whole, peak = _whole(report)
    out: dict[str, float | None] = dict.fromkeys(METRICS)
    if rise:
        out["first_new_instance_s"] = rise.get("first_new_instance_s")
        rec = rise.get("recovery_s")
        out["recovered_after_s"] = None if rec is None else float(rec)
        if rise.get("requests"):
            out["errors_until_recovery_pct"] = 100.0 * rise["errors"] / rise["requests"]
        out["worst_p95_ms"] = rise.get("worst_p95_ms")
    summary = report.get("summary") or {}
    out["p50_ms"] = summary.get("p50_ms")
    out["p99_ms"] = summary.get("p99_ms")
    if summary.get("error_rate") is not None:
        out["error_rate_pct"] = 100.0 * summary["error_rate"]
    score = None
    if whole:
        out["theta_u_pct"] = whole["theta_u"]
        out["tau_u_pct"] = whole["tau_u"]
        out["missing_instance_s"] = whole["missing_instance_seconds"]
        out["supply_instance_s"] = whole["supply_instance_seconds"]
        logs = [
            math.log(whole[m] or resolution(m, whole["seconds"], peak)) for m in SPEEDUP_METRICS
        ]
        score = math.exp(sum(logs) / len(logs))
    return out, score


def _report(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "report.json"
    if not path.exists():
        # A run whose report was not written (the platform's --no-report, an older run): make it.
        from loadtests.analysis.report import build_report
        from loadtests.analysis.runs import load_run

        build_report(load_run([run_dir]), run_dir)
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def collect(folder: Path) -> tuple[dict[str, Any], list[RunMetrics]]:
    try:
        record = json.loads((folder / "campaign.json").read_text())
    except (OSError, ValueError) as e:
        raise CampaignAnalysisError(f"{folder}: no readable campaign.json ({e})") from None
    runs = []
    for entry in record["runs"]:
        if entry.get("status") != "ok":
            continue
        run_dir = folder / entry["folder"]
        try:
            values, score = run_metrics(_report(run_dir))
        except (RunError, OSError, ValueError, KeyError) as e:
            # Counted as a run without a result, with its reason, rather than losing the campaign.
            entry["status"] = "failed"
            entry["reason"] = f"its run folder cannot be analysed: {e}"
            continue
        runs.append(
            RunMetrics(entry["slot"], entry["config"], entry["repetition"], run_dir, values, score)
        )
    if not runs:
        raise CampaignAnalysisError(f"{folder}: no finished run to analyse")
    return record, runs


def _iv(iv: stats.Interval | None) -> dict[str, Any]:
    if iv is None:
        return {"ci95": None, "confidence": None}
    return {"ci95": [iv.lo, iv.hi], "confidence": iv.confidence}


def _fmt(v: float, unit: str) -> str:
    digits = 0 if abs(v) >= 100 else 1 if abs(v) >= 1 else 2
    return f"{v:.{digits}f} {unit}".strip()


# How each metric reads in a verdict: what B does when its value is higher, and when lower.
PHRASES: dict[str, tuple[str, str]] = {
    "first_new_instance_s": (
        "gets its first new instance later",
        "gets its first new instance sooner",
    ),
    "recovered_after_s": ("recovers later", "recovers sooner"),
    "errors_until_recovery_pct": (
        "fails more requests until recovery",
        "fails fewer requests until recovery",
    ),
    "worst_p95_ms": ("has a higher worst p95", "has a lower worst p95"),
    "theta_u_pct": ("is under-provisioned by more (θ_U)", "is under-provisioned by less (θ_U)"),
    "tau_u_pct": ("is under-provisioned longer (τ_U)", "is under-provisioned for less time (τ_U)"),
    "missing_instance_s": ("misses more instance-seconds", "misses fewer instance-seconds"),
    "supply_instance_s": ("supplies more instance-seconds", "supplies fewer instance-seconds"),
    "p50_ms": ("has a higher p50", "has a lower p50"),
    "p99_ms": ("has a higher p99", "has a lower p99"),
    "error_rate_pct": ("fails more requests", "fails fewer requests"),
}


def shown(iv: stats.Interval) -> bool:
    """A verdict needs an interval at the stated level that excludes 0."""
    return iv.excludes(0.0) and iv.confidence >= stats.LEVEL


def verdict(a: str, b: str, metric: str, iv: stats.Interval, k: int) -> str:
    unit = METRICS[metric][1]
    # A difference of percentages is in percentage points.
    unit = "pp" if unit == "%" else unit
    level = f"{round(100 * iv.confidence)} % CI"
    if not shown(iv):
        said = (
            f"no difference shown with K = {k} ({level} {_fmt(iv.lo, unit)} to {_fmt(iv.hi, unit)}"
        )
        if iv.excludes(0.0):
            said += f"; it excludes 0, but {k} runs each cannot reach {round(100 * stats.LEVEL)} %"
        return said + ")"
    lo, hi = sorted((abs(iv.lo), abs(iv.hi)))
    phrase = PHRASES[metric][0 if iv.lo > 0 else 1]
    span = _fmt(lo, unit) if _fmt(lo, "") == _fmt(hi, "") else f"{_fmt(lo, '')}–{_fmt(hi, unit)}"
    return f"{b} {phrase} than {a}, by {span} ({level})"


def summarise(record: dict[str, Any], runs: list[RunMetrics]) -> dict[str, Any]:
    names = [c["name"] for c in record["configs"]]
    by_config: dict[str, list[RunMetrics]] = {n: [r for r in runs if r.config == n] for n in names}
    configs = []
    for c in record["configs"]:
        mine = by_config[c["name"]]
        metrics = {}
        for m in METRICS:
            values = [v for r in mine if (v := r.values[m]) is not None]
            entry: dict[str, Any] = {
                "values": values,
                "runs_without": len(mine) - len(values),
                "median": stats.median(values) if values else None,
            }
            entry.update(_iv(stats.median_interval(values) if values else None))
            metrics[m] = entry
        configs.append({**c, "runs": len(mine), "metrics": metrics})
    differences: list[dict[str, Any]] = []
    speedups: list[dict[str, Any]] = []
    for a, b in itertools.combinations(names, 2):
        for m in METRICS:
            va = [v for r in by_config[a] if (v := r.values[m]) is not None]
            vb = [v for r in by_config[b] if (v := r.values[m]) is not None]
            if not va or not vb:
                continue
            diff = stats.median(vb) - stats.median(va)
            iv = stats.shift_interval(va, vb)
            k = min(len(va), len(vb))
            is_shown = shown(iv)
            differences.append(
                {
                    "a": a,
                    "b": b,
                    "metric": m,
                    "median_difference": diff,
                    **_iv(iv),
                    "shown": is_shown,
                    "verdict": verdict(a, b, m, iv, k),
                    "repetitions_needed": None
                    if is_shown
                    else stats.needed_repetitions(va, vb, seed=len(differences)),
                }
            )
        sa = [r.elasticity_score for r in by_config[a] if r.elasticity_score]
        sb = [r.elasticity_score for r in by_config[b] if r.elasticity_score]
        if sa and sb:
            ratio = stats.ratio_interval(sa, sb)
            value = stats.median(sa) / stats.median(sb)
            speedups.append(
                {
                    "a": a,
                    "b": b,
                    "value": value,
                    **_iv(ratio),
                    "shown": bool(ratio and ratio.excludes(1.0)),
                }
            )
    return {
        **{k: v for k, v in record.items() if k not in ("configs",)},
        "configs": configs,
        "differences": differences,
        "elastic_speedups": speedups,
    }
