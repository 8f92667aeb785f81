"""The planned arrival rate of a profile, as `k6 inspect` resolved it, and the locust users that
carry it.

locust has no arrival-rate executor: it runs users, each waiting between requests. A user paced at
`interval` seconds offers 1/interval req/s as long as its answers come back within the interval;
N users offer N/interval. So the plan becomes a user count per second (ceil(rate / USER_RATE)) and
a per-user interval (users / rate) that together give the planned rate.
"""

from __future__ import annotations

import math

from loadtests.core import durations
from loadtests.core.plan import Plan, PlanError


def seconds(text: str | None) -> float:
    """Seconds from a knob's duration such as "1m30s", "250ms" or "0s" (knobs are strings)."""
    if text is None or not text.strip():
        return 0.0
    try:
        return durations.seconds(text)
    except ValueError:
        raise PlanError(
            f'"{text}" is not a duration; expected forms like 1m30s, 250ms, 0s'
        ) from None


def runnable(options: dict) -> Plan:
    """The plan of k6's resolved options, or PlanError when it offers locust nothing to run."""
    plan = Plan.from_options(options)
    if not plan.pieces:
        raise PlanError("options.json has no arrival-rate scenario: nothing to run")
    return plan


def users_at(plan: Plan, t: float, user_rate: float) -> int:
    """Users for the second that holds t: enough for the highest rate in it, so that the shape
    (which ticks once a second) and the users (which pace continuously) agree."""
    second = math.floor(t)
    return users_for(max(plan.rate(second), plan.rate(second + 1 - 1e-9)), user_rate)


def users_for(rate: float, user_rate: float) -> int:
    """Users needed to offer `rate` req/s when one user offers at most `user_rate` req/s."""
    if rate <= 0:
        return 0
    return math.ceil(rate / user_rate - 1e-9)
