"""The local platform's event log (`platform.jsonl` in a run folder), as the report reads it.

The autoscaler in loadtests/localplatform writes one JSON object per line. The analysis relies on this
much of it (loadtests/README.md, "platform.jsonl"):

- every line: `time` (epoch seconds, a number; `t` or `ts` are accepted too) and `event`;
- instance events: `event` one of requested, started, ready, in_rotation, first_request, drain,
  exit, removed (and, when logged, pulled, created and listening: a container's image pull and
  creation, the service's first answer), with `instance` (the id it answers with in X-Instance-Id);
- decisions: `event` = decision, with `desired` (instances wanted) and, when known, `current`,
  `policy` and `inputs` (the policy's inputs, kept as they are).

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
)


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


@dataclass
class PlatformLog:
    decisions: list[Decision]
    instances: dict[str, InstanceEvents]

    def ready_count(self, seconds: int) -> np.ndarray:
        """Instances the platform held ready in each second: ready at its midpoint, not yet draining."""
        mid = np.arange(seconds) + 0.5
        count = np.zeros(seconds, dtype=int)
        for i in self.instances.values():
            if i.ready is None:
                continue
            gone = min(x for x in (i.drain, i.exit, float("inf")) if x is not None)
            count += (mid >= i.ready) & (mid < gone)
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
        if event == "decision":
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
    return PlatformLog(decisions, instances)
