"""The load plan: the piecewise-linear arrival rate that k6 resolves its open-model scenarios to
(`k6 inspect`'s options.json), read once for everyone who needs it: the analysis (planned rate,
spike windows) and the locust runner (users per second).

Durations mean what they mean to k6: a Go duration string ("1m30s", "250ms") or a bare number of
milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import durations

EXECUTORS = ("constant-arrival-rate", "ramping-arrival-rate")


class PlanError(ValueError):
    """options.json does not describe an open-model plan, with what is allowed."""


def k6_seconds(value: object) -> float:
    """Seconds from a k6 option duration: a Go duration string or a bare number of milliseconds
    (k6 reads `duration: 30000` as 30 s); None or "" is 0."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        raise PlanError(f"{value!r} is not a duration; expected forms like 1m30s, 250ms, 0s")
    if isinstance(value, int | float):
        return float(value) / 1000.0
    text = str(value).strip()
    if not text:
        return 0.0
    try:
        return durations.seconds(text)
    except ValueError:
        raise PlanError(
            f'"{value}" is not a duration; expected forms like 1m30s, 250ms, 0s'
        ) from None


@dataclass(frozen=True)
class Piece:
    """The rate goes linearly from r0 to r1 (req/s) over [t0, t1) seconds after the start."""

    t0: float
    t1: float
    r0: float
    r1: float


@dataclass(frozen=True)
class Plan:
    """The planned rate as pieces that add up where scenarios overlap, and the instants where it
    jumps: (time, rises) for a scenario's start, a zero-length stage, or a scenario's end (a fall).
    """

    pieces: tuple[Piece, ...]
    jumps: tuple[tuple[float, bool], ...] = ()

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Plan:
        """The plan of k6's resolved options; PlanError for any executor but the arrival-rate
        ones. A plan without scenarios is empty (its rate is 0 throughout)."""
        pieces: list[Piece] = []
        jumps: list[tuple[float, bool]] = []
        for name, sc in (options.get("scenarios") or {}).items():
            t = k6_seconds(sc.get("startTime"))
            unit = k6_seconds(sc.get("timeUnit") or "1s") or 1.0
            executor = sc.get("executor")
            if executor == "constant-arrival-rate":
                r = float(sc.get("rate", 0)) / unit
                end = t + k6_seconds(sc.get("duration"))
                pieces.append(Piece(t, end, r, r))
                if r > 0:
                    jumps.append((t, True))
                jumps.append((end, False))
            elif executor == "ramping-arrival-rate":
                r = float(sc.get("startRate", 0)) / unit
                if r > 0:
                    jumps.append((t, True))
                for stage in sc.get("stages") or []:
                    d = k6_seconds(stage.get("duration"))
                    target = float(stage.get("target", 0)) / unit
                    if d > 0:
                        pieces.append(Piece(t, t + d, r, target))
                    elif target != r:
                        jumps.append((t, target > r))
                    t, r = t + d, target
                jumps.append((t, False))
            else:
                raise PlanError(
                    f"scenario {name!r} uses executor {executor!r}; the profiles are open-model "
                    f"only, allowed: {' or '.join(EXECUTORS)} (constant- or ramping-arrival-rate)"
                )
        return cls(tuple(pieces), tuple(sorted(jumps)))

    @property
    def end(self) -> float:
        return max((p.t1 for p in self.pieces), default=0.0)

    def rate(self, t: float) -> float:
        """Planned arrivals per second at t seconds after the start."""
        total = 0.0
        for p in self.pieces:
            if p.t0 <= t < p.t1:
                total += p.r0 + (p.r1 - p.r0) * (t - p.t0) / (p.t1 - p.t0)
        return total

    def requests(self) -> float:
        """Planned requests over the whole run (the integral of the rate)."""
        return sum((p.r0 + p.r1) / 2 * (p.t1 - p.t0) for p in self.pieces)

    def to_json(self) -> list[list[float]]:
        return [[p.t0, p.t1, p.r0, p.r1] for p in self.pieces]

    @classmethod
    def from_json(cls, data: list[list[float]]) -> Plan:
        return cls(tuple(Piece(*map(float, row)) for row in data))
