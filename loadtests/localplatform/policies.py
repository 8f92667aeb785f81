"""Scaling policies: pure functions of a metric series, so each is tested on synthetic series.

Each policy is a published autoscaler reduced to its decision rule, with the platform's defaults as
knobs (sources in loadtests/localplatform/README.md):

- `Knative`: the KPA of knative/serving (`pkg/autoscaler/scaling/autoscaler.go`): stable and panic
  window averages of the concurrency, panic mode entered at 200 % of the ready capacity over the
  panic window, left one stable window after the last such tick, never scaling down while in it.
- `Hpa`: the Kubernetes HPA (`pkg/controller/podautoscaler`): desired = ceil(ratio * ready) with a
  tolerance, unready instances counted as idle on a scale-up, scale-down stabilisation (the highest
  recommendation of the window), scale-up at most max(4 instances, 100 %) per period.
- `AppRunner`: App Runner publishes only the rule (scale out when concurrent requests per instance
  exceed MaxConcurrency), not its algorithm or timing: the window, tick and scale-in delay here are
  our assumptions, knobs, and said so in every decision.
- `Schedule`: the fixed schedule `make loadtest-local LOCAL_SCALE_OUT=…` always had.

A policy sees one `Sample` per second (the whole fleet's concurrency: requests in the instances plus
HAProxy's queue) and the fleet size; it returns a `Decision` whose `inputs` are logged verbatim.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

Inputs = dict[str, float | int | str | bool | None]


@dataclass(frozen=True)
class Sample:
    """One second's view of the fleet. `time` is monotonic seconds."""

    time: float
    concurrency: (
        float  # requests in flight in all instances (their queue included) + HAProxy's queue
    )
    ready: int  # instances whose /readyz answered 200 and that are not draining


@dataclass(frozen=True)
class View:
    """What a policy is given at a decision: the recent samples and the fleet."""

    now: float
    samples: Sequence[Sample]
    scale: int  # instances asked for and not draining (booting ones included)
    ready: int
    load_elapsed: float | None = None  # seconds since the load began (None before it)


@dataclass(frozen=True)
class Decision:
    desired: int
    inputs: Inputs = field(default_factory=dict)


@dataclass(frozen=True)
class Bounds:
    min_instances: int = 1
    max_instances: int = 5

    def clamp(self, n: int) -> int:
        return max(self.min_instances, min(self.max_instances, n))


class Policy(Protocol):
    name: str
    period: float  # seconds between decisions

    def decide(self, view: View) -> Decision: ...


def window_mean(samples: Sequence[Sample], now: float, window: float) -> float | None:
    """Mean concurrency of the samples in (now - window, now]; None when there are none."""
    xs = [s.concurrency for s in samples if now - window < s.time <= now]
    return sum(xs) / len(xs) if xs else None


# Ceil with a guard against 2.0000000001 from float averages becoming 3.
def _ceil(x: float) -> int:
    return math.ceil(round(x, 9))


class Knative:
    """Knative's KPA (knative/serving pkg/autoscaler/scaling/autoscaler.go, `Scale`)."""

    name = "knative"

    def __init__(
        self,
        bounds: Bounds,
        target: float,
        utilization: float = 0.7,
        stable_window: float = 60.0,
        panic_window_pct: float = 10.0,
        panic_threshold_pct: float = 200.0,
        tick: float = 2.0,
        max_scale_up_rate: float = 1000.0,
        max_scale_down_rate: float = 2.0,
    ):
        self.bounds = bounds
        self.target_value = target * utilization  # concurrency per instance the KPA aims for
        self.target, self.utilization = target, utilization
        self.stable_window = stable_window
        self.panic_window = stable_window * panic_window_pct / 100.0
        self.panic_threshold = panic_threshold_pct / 100.0
        self.period = tick
        self.max_up, self.max_down = max_scale_up_rate, max_scale_down_rate
        self.panic_time: float | None = None
        self.max_panic_pods = 0

    def decide(self, view: View) -> Decision:
        stable = window_mean(view.samples, view.now, self.stable_window)
        panic = window_mean(view.samples, view.now, self.panic_window)
        if stable is None or panic is None:
            return Decision(
                view.scale, {"valid": False, "reason": "no metrics in the panic window"}
            )
        ready = max(1, view.ready)  # as the KPA: divide by at least one pod
        max_up = math.ceil(self.max_up * ready)
        max_down = math.floor(ready / self.max_down)
        dspc, dppc = _ceil(stable / self.target_value), _ceil(panic / self.target_value)
        stable_pods = min(max(dspc, max_down), max_up)
        panic_pods = min(max(dppc, max_down), max_up)
        over = dppc / ready >= self.panic_threshold
        if over:
            # Entering or extending: panic lasts a stable window past the last tick over the threshold.
            self.panic_time = view.now
        elif self.panic_time is not None and view.now > self.panic_time + self.stable_window:
            self.panic_time = None
            self.max_panic_pods = 0
        desired = stable_pods
        if self.panic_time is not None:
            # In panic the KPA provisions for the larger window and never lets the count go down.
            desired = max(desired, panic_pods)
            self.max_panic_pods = max(self.max_panic_pods, desired)
            desired = self.max_panic_pods
        return Decision(
            self.bounds.clamp(desired),
            {
                "stable_concurrency": round(stable, 3),
                "panic_concurrency": round(panic, 3),
                "target_per_instance": round(self.target_value, 3),
                "desired_stable": stable_pods,
                "desired_panic": panic_pods,
                "ready": view.ready,
                "over_panic_threshold": over,
                "panic": self.panic_time is not None,
                "unclamped": desired,
            },
        )


class Hpa:
    """The Kubernetes HPA's replica calculation and default behavior (autoscaling/v2)."""

    name = "hpa"

    def __init__(
        self,
        bounds: Bounds,
        target: float,
        tolerance: float = 0.1,
        sync: float = 15.0,
        metric_window: float | None = None,
        scale_up_pods: int = 4,
        scale_up_percent: float = 100.0,
        scale_up_period: float = 15.0,
        scale_down_stabilization: float = 300.0,
    ):
        self.bounds = bounds
        self.target = target  # average concurrency per instance
        self.tolerance = tolerance
        self.period = sync
        self.metric_window = metric_window if metric_window is not None else sync
        self.up_pods, self.up_percent, self.up_period = (
            scale_up_pods,
            scale_up_percent,
            scale_up_period,
        )
        self.down_window = scale_down_stabilization
        self.recommendations: list[tuple[float, int]] = []
        self.changes: list[tuple[float, int]] = []  # (time, instances added) within the up period

    def _recommend(self, total: float, scale: int, ready: int) -> tuple[int, float]:
        """The replica calculator: ratio of the ready instances' mean to the target, with tolerance."""
        if ready == 0:
            return scale, math.nan
        ratio = total / ready / self.target
        if abs(ratio - 1.0) <= self.tolerance:
            return scale, ratio
        if ratio > 1.0 and scale > ready:
            # Unready instances are counted as idle on a scale-up, so a boot in progress is not
            # doubled; if that flips the direction or lands within tolerance, nothing changes.
            ratio2 = total / scale / self.target
            if ratio2 < 1.0 or abs(ratio2 - 1.0) <= self.tolerance:
                return scale, ratio
            return _ceil(ratio2 * scale), ratio
        return _ceil(ratio * ready), ratio

    def decide(self, view: View) -> Decision:
        total = window_mean(view.samples, view.now, self.metric_window)
        if total is None:
            return Decision(view.scale, {"valid": False, "reason": "no metrics in the window"})
        rec, ratio = self._recommend(total, view.scale, view.ready)
        rec = self.bounds.clamp(rec)
        now = view.now
        self.recommendations = [
            (t, r) for t, r in self.recommendations if t > now - self.down_window
        ]
        self.recommendations.append((now, rec))
        # Stabilisation: up at once (window 0), down only to the highest recommendation of the window.
        down_limit = max(r for _, r in self.recommendations)
        stabilized = min(max(view.scale, rec), down_limit)
        self.changes = [(t, n) for t, n in self.changes if t > now - self.up_period]
        period_start = view.scale - sum(n for _, n in self.changes if n > 0)
        up_limit = max(
            period_start + self.up_pods, _ceil(period_start * (1 + self.up_percent / 100.0))
        )
        desired = self.bounds.clamp(min(stabilized, up_limit))
        if desired != view.scale:
            self.changes.append((now, desired - view.scale))
        return Decision(
            desired,
            {
                "metric_total": round(total, 3),
                "metric_per_ready_instance": round(total / view.ready, 3) if view.ready else None,
                "target_per_instance": self.target,
                "ratio": None if math.isnan(ratio) else round(ratio, 4),
                "within_tolerance": not math.isnan(ratio) and abs(ratio - 1.0) <= self.tolerance,
                "recommendation": rec,
                "stabilized": stabilized,
                "scale_up_limit": up_limit,
                "ready": view.ready,
            },
        )


class AppRunner:
    """App Runner's documented rule, scale out when concurrency per instance exceeds MaxConcurrency.

    How fast and on what average App Runner acts is not published; `window`, `tick` and
    `scale_in_delay` are our assumptions and every decision says so (`assumed`).
    """

    name = "apprunner"

    def __init__(
        self,
        bounds: Bounds,
        max_concurrency: float,
        tick: float = 5.0,
        window: float = 10.0,
        scale_in_delay: float = 60.0,
    ):
        self.bounds = bounds
        self.max_concurrency = max_concurrency
        self.period = tick
        self.window = window
        self.scale_in_delay = scale_in_delay
        self.history: list[tuple[float, int]] = []

    def decide(self, view: View) -> Decision:
        mean = window_mean(view.samples, view.now, self.window)
        if mean is None:
            return Decision(view.scale, {"valid": False, "reason": "no metrics in the window"})
        needed = self.bounds.clamp(_ceil(mean / self.max_concurrency))
        self.history = [(t, n) for t, n in self.history if t > view.now - self.scale_in_delay]
        self.history.append((view.now, needed))
        # Out at once; in only to the most that was needed over the scale-in delay.
        desired = (
            needed if needed >= view.scale else min(view.scale, max(n for _, n in self.history))
        )
        return Decision(
            desired,
            {
                "mean_concurrency": round(mean, 3),
                "per_instance": round(mean / max(1, view.scale), 3),
                "max_concurrency": self.max_concurrency,
                "needed": needed,
                "assumed": "window, tick and scale-in delay (App Runner does not publish them)",
            },
        )


class Schedule:
    """A fixed plan: (seconds after the load began, instances); before the first step, the minimum."""

    name = "schedule"

    def __init__(self, bounds: Bounds, steps: Sequence[tuple[float, int]], tick: float = 1.0):
        self.bounds = bounds
        self.steps = sorted(steps)
        self.period = tick

    def decide(self, view: View) -> Decision:
        desired = self.bounds.min_instances
        if view.load_elapsed is not None:
            for after, n in self.steps:
                if view.load_elapsed >= after:
                    desired = n
        return Decision(
            self.bounds.clamp(desired),
            {"load_elapsed": None if view.load_elapsed is None else round(view.load_elapsed, 3)},
        )
