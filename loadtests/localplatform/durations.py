"""Durations and duration distributions in delay-echo's grammar, for COLD_START and the windows.

The grammar is delay-echo's (`src/knobs.rs`), so a study states a cold start the way it states a
delay: fixed `3s`, uniform `2s..8s`, weighted `1s:90,20s:10` (percent), long tail
`lognormal(2s,15s)` (median, p99). delay-echo's `--startup-delay` takes one fixed duration, so the
platform draws each new instance's value here, from a seeded generator, and passes it on: the same
seed gives the same cold starts in the same order.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from loadtests.core import durations

# z of the standard normal's 99th percentile, as in delay-echo's lognormal.
_Z_P99 = 2.3263478740408408

DURATION_FORMS = "a duration with a unit (us, ms, s, m, h), e.g. 500ms, 3s or 1m30s; bare 0"
DIST_FORMS = (
    "a fixed duration (3s), a range A..B (2s..8s), a weighted list V:PCT,V:PCT adding up to 100 "
    "(1s:90,20s:10) or lognormal(MEDIAN,P99) (lognormal(2s,15s))"
)


class KnobError(ValueError):
    """A knob value that does not parse, with what is allowed."""


def parse_duration(text: str) -> float:
    """Seconds from `80ms`, `1.5s`, `1m30s` or `0`; KnobError otherwise."""
    try:
        return durations.seconds(text)
    except ValueError:
        raise KnobError(f"{text!r} is not a duration; allowed: {DURATION_FORMS}") from None


@dataclass(frozen=True)
class Distribution:
    """A parsed duration distribution; `text` is what the user wrote (logged with each draw)."""

    text: str
    kind: str  # fixed | uniform | weighted | lognormal
    values: tuple[float, ...]
    weights: tuple[float, ...] = ()
    cap: float = 600.0

    def sample(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "uniform":
            return rng.uniform(self.values[0], self.values[1])
        if self.kind == "weighted":
            return rng.choices(self.values, weights=self.weights)[0]
        median, p99 = self.values
        mu = math.log(median)
        sigma = (math.log(p99) - mu) / _Z_P99
        return min(rng.lognormvariate(mu, sigma), self.cap)


def parse_distribution(text: str, cap: float = 600.0) -> Distribution:
    """A Distribution from delay-echo's grammar; every value at most `cap` seconds."""
    s = text.strip()
    err = f"COLD_START={text!r}"

    def value(v: str) -> float:
        x = parse_duration(v)
        if x > cap:
            raise KnobError(f"{err}: {v.strip()} exceeds the maximum {cap:g}s")
        return x

    if not s:
        raise KnobError(f"{err} is empty; allowed: {DIST_FORMS}")
    try:
        if s.startswith("lognormal(") and s.endswith(")"):
            parts = s[len("lognormal(") : -1].split(",")
            if len(parts) != 2:
                raise KnobError(f"{err} needs two values: lognormal(MEDIAN,P99)")
            median, p99 = value(parts[0]), value(parts[1])
            if not 0 < median <= p99:
                raise KnobError(f"{err} needs 0 < median <= p99")
            return Distribution(s, "lognormal", (median, p99), cap=cap)
        if ":" in s or "," in s:
            values, weights = [], []
            for part in s.split(","):
                v, sep, w = part.partition(":")
                if not sep:
                    raise KnobError(f"{err}: {part!r} has no weight (V:PCT)")
                try:
                    weight = float(w)
                except ValueError:
                    raise KnobError(f"{err}: {w!r} is not a percentage") from None
                if not (math.isfinite(weight) and weight >= 0):
                    raise KnobError(f"{err}: {w!r} is not a percentage")
                values.append(value(v))
                weights.append(weight)
            # delay-echo hands a weighted list's remainder to the next default; a cold start has none.
            if abs(sum(weights) - 100.0) > 1e-6:
                raise KnobError(f"{err}: the weights add up to {sum(weights):g} %, not 100")
            return Distribution(s, "weighted", tuple(values), tuple(weights), cap=cap)
        if ".." in s:
            a, _, b = s.partition("..")
            lo, hi = value(a), value(b)
            if hi < lo:
                raise KnobError(f"{err} is an empty range (upper bound below lower)")
            return Distribution(s, "uniform", (lo, hi), cap=cap)
        return Distribution(s, "fixed", (value(s),), cap=cap)
    except KnobError as e:
        msg = str(e)
        raise KnobError(msg if "allowed:" in msg else f"{msg}; allowed: {DIST_FORMS}") from None


def render(seconds: float) -> str:
    """A duration as delay-echo's flags take it, to the millisecond (`0`, `2500ms`)."""
    ms = round(seconds * 1000)
    return "0" if ms == 0 else f"{ms}ms"
