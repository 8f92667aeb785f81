"""The local platform's event log (`platform.jsonl` in a run folder), as the report reads it.

The autoscaler in loadtests/localplatform writes one JSON object per line. The analysis relies on this
much of it (loadtests/README.md, "platform.jsonl"):

- every line: `time` (epoch seconds, a number; `t` or `ts` are accepted too) and `event`;
- instance events: `event` one of requested, started, ready, in_rotation, first_request, drain,
  exit, removed (and, when logged, pulled, created and listening: a container's image pull and
  creation, the service's first answer), with `instance` (the id it answers with in X-Instance-Id);
- decisions: `event` = decision, with `desired` (instances wanted) and, when known, `current`,
  `policy` and `inputs` (the policy's inputs, kept as they are);
- from a cloud platform's own records (loadtests/cloudview, `"source": "cloudwatch"`): the instance
  events `log_first` and `log_last` (its log stream's first and last event in the run's window) beside
  started, ready and drain from its start/ready/drain lines; `metric` points with `metric`, `stat`,
  `period_s` and `value`, each at the start of its period (ActiveInstances or RunningTaskCount give
  the supply the platform reports);
- faults (FAULTS=…): `event` one of fault_applied, fault_exit, fault_ejected, fault_restored,
  fault_readmitted, fault_skipped, fault_failed, with `fault` (its number in FAULTS), `kind`,
  `spec` and, once it has a target, `instance`; `planned` (epoch seconds) on fault_applied and
  fault_skipped; the `platform` line lists every fault asked for (`faults`) and HAProxy's health
  check (`health_check`: inter_s, fall, rise).

Unknown events and fields are ignored, so the platform can log more without breaking the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

INSTANCE_EVENTS = (
    "requested",
    "pulled",
    "created",
    "started",
    "listening",
    "ready",
    "in_rotation",
    "first_request",
    "drain",
    "exit",
    "removed",
    "log_first",
    "log_last",
)

# The metrics a platform publishes as its count of serving instances, in the order they are looked
# for: App Runner's ActiveInstances, ECS's RunningTaskCount (Container Insights).
SUPPLY_METRICS = ("ActiveInstances", "RunningTaskCount")


class PlatformLogError(ValueError):
    """A platform.jsonl line that cannot be read, with where and what is expected."""


@dataclass
class Decision:
    t: float  # seconds since the run's origin
    desired: int
    current: int | None = None
    policy: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class InstanceEvents:
    """When each lifecycle step of one instance happened (seconds since the run's origin)."""

    instance: str
    requested: float | None = None
    pulled: float | None = None  # RUNTIME=container: its image pulled
    created: float | None = None  # RUNTIME=container: its container created
    started: float | None = None  # the process started; a container running
    listening: float | None = None  # its first answer (/readyz 503 during the cold start)
    ready: float | None = None
    in_rotation: float | None = None  # the balancer's health check passed
    first_request: float | None = None
    drain: float | None = None
    exit: float | None = None
    removed: float | None = None
    log_first: float | None = None  # a cloud instance's first log event in the run's window
    log_last: float | None = None  # … and its last


FAULT_STEPS = {
    "fault_applied": "applied",
    "fault_exit": "exited",
    "fault_ejected": "ejected",
    "fault_restored": "restored",
    "fault_readmitted": "readmitted",
    "fault_skipped": "skipped",
    "fault_failed": "failed",
}


@dataclass
class FaultEvents:
    """One fault of FAULTS as the platform applied it (seconds since the run's origin)."""

    fault: int
    kind: str
    spec: str
    instance: str | None = None
    planned: float | None = None
    applied: float | None = None
    exited: float | None = None  # kill: its exit seen
    exit_code: int | None = None
    ejected: float | None = None  # hang: HAProxy's check took it out of rotation
    restored: float | None = None  # hang: SIGCONT; slow: its configuration put back
    readmitted: float | None = None  # hang: back in rotation
    skipped: float | None = None  # no instance to apply it to (`reason`)
    failed: float | None = None  # the instance refused it (`reason`)
    reason: str | None = None


@dataclass(frozen=True)
class MetricPoint:
    """One point of a platform's metric: `value` over [t, t + period_s) (seconds since the origin)."""

    t: float
    metric: str
    stat: str
    period_s: float
    value: float


@dataclass
class PlatformLog:
    decisions: list[Decision]
    instances: dict[str, InstanceEvents]
    faults: list[FaultEvents] = field(default_factory=list)
    # The `platform` line as written (policy_period_s, health_check, faults asked for, …).
    settings: dict[str, Any] = field(default_factory=dict)
    metrics: list[MetricPoint] = field(default_factory=list)

    def has_instance_spans(self) -> bool:
        """Whether any instance has a start of service (ready, or a cloud stream's first event)."""
        return any(i.ready is not None or i.log_first is not None for i in self.instances.values())

    def supply_metric(self, seconds: int) -> tuple[str, np.ndarray] | None:
        """The platform's own count of serving instances per second (the first of SUPPLY_METRICS
        it has points of): each second takes the point whose period holds its midpoint; a second
        no point covers is 0, as CloudWatch leaves out periods without data."""
        for name in SUPPLY_METRICS:
            points = [p for p in self.metrics if p.metric == name]
            if not points:
                continue
            mid = np.arange(seconds) + 0.5
            series = np.zeros(seconds)
            for p in sorted(points, key=lambda p: p.t):
                series[(mid >= p.t) & (mid < p.t + p.period_s)] = p.value
            return name, series
        return None

    def replacement(self, after: float) -> InstanceEvents | None:
        """The first instance requested at or after `after` that became ready: what replaced an
        instance lost then."""
        fresh = [
            i
            for i in self.instances.values()
            if i.requested is not None and i.requested >= after - 1e-9 and i.ready is not None
        ]
        return min(fresh, key=lambda i: i.requested or 0.0) if fresh else None

    def ready_count(self, seconds: int) -> np.ndarray:
        """Instances the platform held ready in each second: ready at its midpoint, not yet draining.
        A cloud instance without a ready line in the run's window (it was serving before) counts
        from its stream's first event there."""
        mid = np.arange(seconds) + 0.5
        count = np.zeros(seconds, dtype=int)
        for i in self.instances.values():
            since = i.ready if i.ready is not None else i.log_first
            if since is None:
                continue
            gone = min(x for x in (i.drain, i.exit, float("inf")) if x is not None)
            count += (mid >= since) & (mid < gone)
        return count


def _time(obj: dict[str, Any], where: str) -> float:
    for key in ("time", "t", "ts"):
        if isinstance(obj.get(key), int | float):
            return float(obj[key])
    raise PlatformLogError(f'{where}: no time; each line needs "time" in epoch seconds')


def read_platform_log(path: Path, origin: float) -> PlatformLog:
    """Parse platform.jsonl; times become seconds since `origin` (the run's start)."""
    decisions: list[Decision] = []
    instances: dict[str, InstanceEvents] = {}
    faults: dict[int, FaultEvents] = {}
    settings: dict[str, Any] = {}
    points: list[MetricPoint] = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise PlatformLogError(f"{where}: not JSON ({e})") from e
        if not isinstance(obj, dict):
            raise PlatformLogError(f"{where}: expected one JSON object per line")
        event = obj.get("event")
        t = _time(obj, where) - origin
        if event == "platform" and not settings:
            settings = dict(obj)
        elif event == "metric":
            points.append(_metric_point(obj, t, where))
        elif event in FAULT_STEPS:
            _fault_step(faults, obj, event, t, origin, where)
        elif event == "decision":
            if not isinstance(obj.get("desired"), int):
                raise PlatformLogError(f'{where}: a decision needs "desired" (an integer)')
            current = obj.get("current")
            decisions.append(
                Decision(
                    t=t,
                    desired=int(obj["desired"]),
                    current=int(current) if isinstance(current, int) else None,
                    policy=str(obj["policy"]) if obj.get("policy") is not None else None,
                    inputs=dict(obj.get("inputs") or {}),
                )
            )
        elif event in INSTANCE_EVENTS:
            name = obj.get("instance")
            if not isinstance(name, str) or not name:
                raise PlatformLogError(
                    f'{where}: a {event} event needs "instance" (its X-Instance-Id)'
                )
            ev = instances.setdefault(name, InstanceEvents(name))
            if getattr(ev, event) is None:  # the first occurrence counts
                setattr(ev, event, t)
    decisions.sort(key=lambda d: d.t)
    return PlatformLog(
        decisions,
        instances,
        sorted(faults.values(), key=lambda f: f.fault),
        settings,
        sorted(points, key=lambda p: p.t),
    )


def _metric_point(obj: dict[str, Any], t: float, where: str) -> MetricPoint:
    period, value = obj.get("period_s"), obj.get("value")
    if not isinstance(obj.get("metric"), str) or not obj["metric"]:
        raise PlatformLogError(f'{where}: a metric event needs "metric" (its name)')
    if not isinstance(period, int | float) or period <= 0:
        raise PlatformLogError(f'{where}: a metric event needs "period_s" (seconds, above 0)')
    if not isinstance(value, int | float):
        raise PlatformLogError(f'{where}: a metric event needs "value" (a number)')
    return MetricPoint(t, obj["metric"], str(obj.get("stat") or ""), float(period), float(value))


def _fault_step(
    faults: dict[int, FaultEvents],
    obj: dict[str, Any],
    event: str,
    t: float,
    origin: float,
    where: str,
) -> None:
    number = obj.get("fault")
    if not isinstance(number, int):
        raise PlatformLogError(f'{where}: a {event} event needs "fault" (its number in FAULTS)')
    f = faults.setdefault(
        number, FaultEvents(number, str(obj.get("kind") or ""), str(obj.get("spec") or ""))
    )
    step = FAULT_STEPS[event]
    if getattr(f, step) is None:
        setattr(f, step, t)
    if isinstance(obj.get("instance"), str) and f.instance is None:
        f.instance = obj["instance"]
    if isinstance(obj.get("planned"), int | float) and f.planned is None:
        f.planned = float(obj["planned"]) - origin
    if isinstance(obj.get("exit_code"), int):
        f.exit_code = obj["exit_code"]
    if isinstance(obj.get("reason"), str):
        f.reason = obj["reason"]
