"""Elasticity metrics (BUNGEE and SPEC Research Group) from a demand and a supply series.

Both series hold one value per second: demand d_t, the fewest instances that keep the objective at
second t's load (Little's law: d_t = ⌈offered_t × S ÷ (C × u)⌉, at least 1), and supply s_t, the
instances actually serving (as the clients saw them, or as the platform says). The formulas are
BUNGEE's metric classes and Herbst et al., "Quantifying Cloud Performance and Dependability", ACM
TOMPECS 3(4), 2018; loadtests/README.md ("Reading the elasticity metrics") gives them with their
sources. Pure functions on arrays, so the worked
example of the README is a known-answer test.
"""
# ruff: noqa: RUF003  (×, −, θ, τ, υ are the notation the report and its sources use)

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

# A per-second series: a list or a numpy array.
Series: TypeAlias = Sequence[float] | npt.NDArray[np.generic]


@dataclass(frozen=True)
class Elasticity:
    """The metrics over one stretch of seconds (the whole run or one rise's window)."""

    seconds: int  # T
    accuracy_u: float  # instances missing on average (BUNGEE)
    accuracy_o: float  # surplus instances on average (BUNGEE)
    timeshare_u: float  # share of time under-provisioned, 0..1 (BUNGEE)
    timeshare_o: float  # share of time over-provisioned, 0..1 (BUNGEE)
    theta_u: float  # % (SPEC RG): missing instances relative to demand, averaged
    theta_o: float  # % (SPEC RG): surplus instances relative to demand, averaged
    tau_u: float  # % of time under-provisioned (SPEC RG)
    tau_o: float  # % of time over-provisioned (SPEC RG)
    instability: float  # υ, % of seconds where supply and demand do not move the same way
    jitter: float  # (E_S − E_D) per minute; < 0 sluggish, > 0 oscillating
    missing_instance_seconds: float  # Σ (d_t − s_t)⁺
    surplus_instance_seconds: float  # Σ (s_t − d_t)⁺
    supply_instance_seconds: float  # Σ s_t (the cost side)


def demand(
    offered: Series,
    service_s: float,
    concurrency: float,
    utilisation: float = 1.0,
    minimum: int = 1,
) -> np.ndarray:
    """d_t = ⌈offered_t × S ÷ (C × u)⌉, never below the platform's minimum."""
    if service_s <= 0 or concurrency <= 0 or not 0 < utilisation <= 1:
        raise ValueError("demand needs S > 0, C > 0 and 0 < u ≤ 1")
    need = np.asarray(offered, dtype=float) * service_s / (concurrency * utilisation)
    # A hair below each integer still counts as that integer: 100 req/s × 0.08 s ÷ 8 is 1, not 2.
    return np.maximum(np.ceil(need - 1e-9), minimum).astype(int)


def metrics(d: Series, s: Series) -> Elasticity:
    """Every metric over the seconds of `d` and `s` (same length, at least one second)."""
    dd = np.asarray(d, dtype=float)
    ss = np.asarray(s, dtype=float)
    if dd.shape != ss.shape or dd.ndim != 1 or len(dd) == 0:
        raise ValueError("demand and supply must be equally long, non-empty series")
    if (dd <= 0).any():
        raise ValueError("demand must be at least 1 instance in every second")
    t = len(dd)
    under = np.clip(dd - ss, 0, None)
    over = np.clip(ss - dd, 0, None)
    if t > 1:
        ds, dsup = np.sign(np.diff(dd)), np.sign(np.diff(ss))
        instability = 100.0 * float(np.minimum(np.abs(dsup - ds), 1).sum()) / (t - 1)
        e_s, e_d = float(np.abs(np.diff(ss)).sum()), float(np.abs(np.diff(dd)).sum())
    else:
        instability, e_s, e_d = 0.0, 0.0, 0.0
    return Elasticity(
        seconds=t,
        accuracy_u=float(under.sum()) / t,
        accuracy_o=float(over.sum()) / t,
        timeshare_u=float((ss < dd).sum()) / t,
        timeshare_o=float((ss > dd).sum()) / t,
        theta_u=100.0 * float((under / dd).sum()) / t,
        theta_o=100.0 * float((over / dd).sum()) / t,
        tau_u=100.0 * float((ss < dd).sum()) / t,
        tau_o=100.0 * float((ss > dd).sum()) / t,
        instability=instability,
        jitter=(e_s - e_d) / (t / 60.0),
        missing_instance_seconds=float(under.sum()),
        surplus_instance_seconds=float(over.sum()),
        supply_instance_seconds=float(ss.sum()),
    )


def covered_after(d: Series, s: Series) -> int | None:
    """Seconds from the start of the series to the first second whose supply covers demand."""
    hit = np.nonzero(np.asarray(s, dtype=float) >= np.asarray(d, dtype=float))[0]
    return int(hit[0]) if len(hit) else None


SPEEDUP_METRICS = ("theta_u", "theta_o", "tau_u", "tau_o")


@dataclass(frozen=True)
class Ratio:
    metric: str
    a: float
    b: float
    ratio: float  # a ÷ b after the zero rule: > 1 means B is better on this metric
    rule: str  # "", "both 0", or which side's 0 was replaced and by what


def resolution(metric: str, seconds: int, peak_demand: int) -> float:
    """The smallest non-zero value `metric` can take in a run of `seconds` with this peak demand:
    one second of being one instance short (θ) or of mis-provisioning at all (τ)."""
    step = 100.0 / seconds
    return step / max(peak_demand, 1) if metric.startswith("theta") else step


def speedup(a: Elasticity, b: Elasticity, peak_a: int, peak_b: int) -> tuple[float, list[Ratio]]:
    """Elastic speedup of B over A: the geometric mean of A ÷ B over θ_U, θ_O, τ_U, τ_O.

    Zero rule: a metric that is 0 on both sides counts as ratio 1 (no difference); a 0 on one side
    is replaced by that run's resolution for the metric (see `resolution`), so a perfect run beats
    an imperfect one by a finite factor instead of an infinite one.
    """
    ratios = []
    for m in SPEEDUP_METRICS:
        va, vb = getattr(a, m), getattr(b, m)
        if va == 0 and vb == 0:
            ratios.append(Ratio(m, va, vb, 1.0, "both 0"))
            continue
        rule = []
        xa, xb = va, vb
        if va == 0:
            xa = resolution(m, a.seconds, peak_a)
            rule.append(f"A's 0 counted as {xa:.3g}")
        if vb == 0:
            xb = resolution(m, b.seconds, peak_b)
            rule.append(f"B's 0 counted as {xb:.3g}")
        ratios.append(Ratio(m, va, vb, xa / xb, "; ".join(rule)))
    return math.exp(sum(math.log(r.ratio) for r in ratios) / len(ratios)), ratios
