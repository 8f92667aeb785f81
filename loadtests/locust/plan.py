"""The planned arrival rate of a profile, as `k6 inspect` resolved it, and the locust users that
carry it.

locust has no arrival-rate executor: it runs users, each waiting between requests. A user paced at
`interval` seconds offers 1/interval req/s as long as its answers come back within the interval;
N users offer N/interval. So the plan becomes a user count per second (ceil(rate / USER_RATE)) and
a per-user interval (users / rate) that together give the planned rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from loadtests import durations


class PlanError(ValueError):
    """options.json does not describe an open-model plan this runner can carry."""


def seconds(text: str | float | int | None) -> float:
    """Seconds from a k6 duration such as "1m30s", "250ms" or "0s" (a number is seconds)."""
    if text is None:
        return 0.0
    if isinstance(text, int | float):
        return float(text)
    try:
        return durations.seconds(text) if text.strip() else 0.0
    except ValueError:
        raise PlanError(
            f'"{text}" is not a duration; expected forms like 1m30s, 250ms, 0s'
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
    pieces: tuple[Piece, ...]

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

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Plan:
        """The plan of k6's resolved options (constant- and ramping-arrival-rate scenarios)."""
        pieces: list[Piece] = []
        for name, sc in (options.get("scenarios") or {}).items():
            t = seconds(sc.get("startTime"))
            unit = seconds(sc.get("timeUnit") or "1s") or 1.0
            executor = sc.get("executor")
            if executor == "constant-arrival-rate":
                r = float(sc.get("rate", 0)) / unit
                pieces.append(Piece(t, t + seconds(sc.get("duration")), r, r))
            elif executor == "ramping-arrival-rate":
                r = float(sc.get("startRate", 0)) / unit
                for stage in sc.get("stages") or []:
                    d = seconds(stage.get("duration"))
                    target = float(stage.get("target", 0)) / unit
                    if d > 0:
                        pieces.append(Piece(t, t + d, r, target))
                    t, r = t + d, target
            else:
                raise PlanError(
                    f"scenario {name!r} uses executor {executor!r}; locust carries only the "
                    "open-model profiles (constant- or ramping-arrival-rate)"
                )
        if not pieces:
            raise PlanError("options.json has no arrival-rate scenario: nothing to run")
        return cls(tuple(pieces))

    def users_at(self, t: float, user_rate: float) -> int:
        """Users for the second that holds t: enough for the highest rate in it, so that the shape
        (which ticks once a second) and the users (which pace continuously) agree."""
        second = math.floor(t)
        return users_for(max(self.rate(second), self.rate(second + 1 - 1e-9)), user_rate)

    def to_json(self) -> list[list[float]]:
        return [[p.t0, p.t1, p.r0, p.r1] for p in self.pieces]

    @classmethod
    def from_json(cls, data: list[list[float]]) -> Plan:
        return cls(tuple(Piece(*map(float, row)) for row in data))


def users_for(rate: float, user_rate: float) -> int:
    """Users needed to offer `rate` req/s when one user offers at most `user_rate` req/s."""
    if rate <= 0:
        return 0
    return math.ceil(rate / user_rate - 1e-9)
