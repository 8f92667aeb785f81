"""The campaign's statistics: distribution-free intervals for a few runs per configuration.

A campaign has K = 3…20 runs of each configuration, of metrics (recovery time, errors, worst p95)
whose distributions are skewed and unknown. So the intervals assume no distribution:

- one configuration's median: the order-statistic interval [x(j), x(K+1-j)], whose coverage is a
  binomial sum, exact for any continuous distribution;
- the difference between two configurations: the Hodges-Lehmann/Moses interval, the sorted
  pairwise differences cut at the Mann-Whitney U distribution's quantiles, exact for a shift
  between two continuous distributions of any shape;
- a ratio (the elastic speedup): the same interval on the logarithms, exact for a change of scale.

Each interval is the narrowest with coverage ≥ the level asked (95 %). A few runs cannot give 95 %
(a median needs K ≥ 6, a difference K ≥ 4 runs each): then the widest interval the runs allow is
returned with its real coverage, which the report prints, never a bootstrap interval whose 95 %
is only nominal at such K.

`needed_repetitions` answers "how many runs would show this difference" the way Uta et al.'s
CONFIRM does, by resampling the runs already made: the smallest K at which most resampled
campaigns' intervals would exclude 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    lo: float
    hi: float
    # The interval's exact coverage (≥ the level asked unless the runs are too few for it).
    confidence: float

    def excludes(self, value: float) -> bool:
        return value < self.lo or value > self.hi


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("the median of no values")
    return float(np.median(np.asarray(values, dtype=float)))


def _binom_cdf_half(k: int, n: int) -> float:
    """P(Binomial(n, 1/2) ≤ k)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


def median_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """The order-statistic interval for the median (distribution-free)."""
    x = sorted(float(v) for v in values)
    k = len(x)
    if k == 0:
        raise ValueError("an interval of no values")
    if k == 1:
        return Interval(x[0], x[0], 0.0)
    # Coverage of [x(j), x(k+1-j)] is 1 - 2 P(Bin(k, 1/2) ≤ j-1); j = 1 is the widest.
    best = 1
    for j in range(1, k // 2 + 1):
        if 1 - 2 * _binom_cdf_half(j - 1, k) >= level:
            best = j
    return Interval(x[best - 1], x[k - best], 1 - 2 * _binom_cdf_half(best - 1, k))


@cache
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """How many of the C(m+n, m) orderings give each value of Mann-Whitney's U, 0…m·n."""
    if m == 0 or n == 0:
        return (1,)
    # U counts the (a, b) pairs with a > b; the largest of all m+n values is either an a (adding
    # the n b's below it) or a b (adding nothing).
    with_a = _u_counts(m - 1, n)
    with_b = _u_counts(m, n - 1)
    out = [0] * (m * n + 1)
    for u, c in enumerate(with_a):
        out[u + n] += c
    for u, c in enumerate(with_b):
        out[u] += c
    return tuple(out)


def _u_cdf(m: int, n: int) -> list[float]:
    counts = _u_counts(m, n)
    total = math.comb(m + n, m)
    acc, out = 0, []
    for c in counts:
        acc += c
        out.append(acc / total)
    return out


def shift_interval(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Interval:
    """The Moses interval for the shift b - a (distribution-free for a shift of any shape)."""
    m, n = len(a), len(b)
    if m == 0 or n == 0:
        raise ValueError("an interval of a difference needs values on both sides")
    d = np.sort(np.subtract.outer(np.asarray(b, dtype=float), np.asarray(a, dtype=float)).ravel())
    cdf = _u_cdf(m, n)
    # [d(k), d(mn+1-k)] (1-based) covers with 1 - 2 P(U ≤ k-1); k = 1 is the widest.
    best = 1
    for k in range(1, (m * n) // 2 + 1):
        if 1 - 2 * cdf[k - 1] >= level:
            best = k
    return Interval(float(d[best - 1]), float(d[m * n - best]), 1 - 2 * cdf[best - 1])


def ratio_interval(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Interval | None:
    """The interval for a / b as a change of scale (the shift of the logarithms); None when a value
    is not positive, since a ratio of such values has no scale to estimate."""
    if any(v <= 0 for v in a) or any(v <= 0 for v in b):
        return None
    # log(a) - log(b) is the shift from log b to log a.
    iv = shift_interval(np.log(b).tolist(), np.log(a).tolist(), level)
    return Interval(math.exp(iv.lo), math.exp(iv.hi), iv.confidence)


def needed_repetitions(
    a: Sequence[float],
    b: Sequence[float],
    *,
    level: float = LEVEL,
    power: float = 0.8,
    simulations: int = 200,
    most: int = 50,
    seed: int = 0,
) -> int | None:
    """The smallest K (runs of each) at which `power` of campaigns resampled from these runs would
    give an interval excluding 0; None when even `most` would not (no difference to show)."""
    if median(b) == median(a):
        return None
    rng = np.random.default_rng(seed)
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)

    def shows(k: int) -> bool:
        cdf = _u_cdf(k, k)
        best = 1
        for j in range(1, (k * k) // 2 + 1):
            if 1 - 2 * cdf[j - 1] >= level:
                best = j
        ra = rng.choice(xa, size=(simulations, k))
        rb = rng.choice(xb, size=(simulations, k))
        d = np.sort((rb[:, :, None] - ra[:, None, :]).reshape(simulations, k * k), axis=1)
        lo, hi = d[:, best - 1], d[:, k * k - best]
        return float(np.mean((lo > 0) | (hi < 0))) >= power

    # Coverage only reaches the level from 4 runs each, and the runs made did not show it: search
    # upwards from one more, then stop at `most`.
    for k in range(max(4, min(len(a), len(b)) + 1), most + 1):
        if shows(k):
            return k
    return None
