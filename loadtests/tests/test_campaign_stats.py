"""The campaign's intervals hold what they claim: on synthetic campaigns drawn from known
distributions, the 95 % intervals cover the true value in 90-99 % of them, and the coverage they
report for a few runs is the exact one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from loadtests.campaign import stats

CAMPAIGNS = 400

# Skewed and symmetric shapes, as recovery times and latencies are.
SHAPES = {
    "normal": lambda rng, k: rng.normal(20.0, 3.0, k),
    "lognormal": lambda rng, k: rng.lognormal(math.log(15.0), 0.5, k),
    "exponential": lambda rng, k: 5.0 + rng.exponential(8.0, k),
}
TRUE_MEDIAN = {"normal": 20.0, "lognormal": 15.0, "exponential": 5.0 + 8.0 * math.log(2)}


def test_exact_coverage_for_a_few_runs() -> None:
    # A median's order-statistic interval: [min, max] of 5 runs covers 1 - 2/32.
    assert stats.median_interval([1, 2, 3, 4, 5]).confidence == pytest.approx(1 - 2 / 32)
    six = stats.median_interval([6, 1, 5, 2, 4, 3])
    assert (six.lo, six.hi, six.confidence) == (1, 6, pytest.approx(1 - 2 / 64))
    # Moses with 5 runs each: 252 orderings, the third-smallest difference is the narrowest ≥ 95 %.
    assert stats.shift_interval([0] * 5, [1] * 5).confidence == pytest.approx(1 - 2 * 4 / 252)
    # 3 runs each can give at most 90 %: 1 - 2/20.
    assert stats.shift_interval([1, 2, 3], [4, 5, 6]).confidence == pytest.approx(0.9)
    three = stats.shift_interval([1, 2, 3], [4, 5, 6])
    assert (three.lo, three.hi) == (1.0, 5.0)


@pytest.mark.parametrize("k", [5, 10])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_median_interval_covers_the_true_median(shape: str, k: int) -> None:
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(CAMPAIGNS):
        iv = stats.median_interval(SHAPES[shape](rng, k).tolist())
        covered += iv.lo <= TRUE_MEDIAN[shape] <= iv.hi
    # K = 5 cannot reach 95 %: its interval's exact coverage is 93.75 %.
    assert 0.90 <= covered / CAMPAIGNS <= 0.99, (shape, k, covered)


@pytest.mark.parametrize("k", [5, 10])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_difference_interval_covers_the_true_difference(shape: str, k: int) -> None:
    rng = np.random.default_rng(2)
    shift = 6.0
    covered = 0
    for _ in range(CAMPAIGNS):
        a = SHAPES[shape](rng, k)
        b = SHAPES[shape](rng, k) + shift
        iv = stats.shift_interval(a.tolist(), b.tolist())
        covered += iv.lo <= shift <= iv.hi
    assert 0.90 <= covered / CAMPAIGNS <= 0.99, (shape, k, covered)


def test_the_ratio_interval_covers_the_true_speedup() -> None:
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(CAMPAIGNS):
        b = rng.lognormal(math.log(20.0), 0.4, 6)
        a = rng.lognormal(math.log(20.0), 0.4, 6) * 2.0
        iv = stats.ratio_interval(a.tolist(), b.tolist())
        assert iv is not None
        covered += iv.lo <= 2.0 <= iv.hi
    assert 0.90 <= covered / CAMPAIGNS <= 0.99, covered
    assert stats.ratio_interval([0.0, 1.0], [1.0, 2.0]) is None


def test_needed_repetitions_grows_as_the_difference_shrinks() -> None:
    rng = np.random.default_rng(4)
    a = rng.normal(20.0, 3.0, 5).tolist()
    big = stats.needed_repetitions(a, [v + 6 for v in a], seed=1)
    small = stats.needed_repetitions(a, [v + 3 for v in a], seed=1)
    assert big is not None and small is not None and big < small
    assert stats.needed_repetitions(a, list(a)) is None
