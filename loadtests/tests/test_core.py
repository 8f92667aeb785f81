"""The lab's shared contracts (loadtests/core): one reading of k6's plan for every consumer."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.analysis.runs import plan_events, planned_rate
from loadtests.core import tools
from loadtests.core.plan import Plan, PlanError, k6_seconds
from loadtests.locust.plan import runnable


@pytest.mark.parametrize(
    "value,seconds",
    [
        ("1m30s", 90),
        ("250ms", 0.25),
        ("0s", 0),
        ("0", 0),
        (None, 0),
        ("", 0),
        (30000, 30),
        (1.5, 0.0015),
    ],
)
def test_a_duration_means_what_k6_means_and_a_bare_number_is_milliseconds(value, seconds):
    assert k6_seconds(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["ten seconds", "5", True])
def test_a_bad_duration_says_what_is_allowed(value):
    with pytest.raises(PlanError, match="expected forms like 1m30s"):
        k6_seconds(value)


def test_the_analysis_and_locust_read_a_bare_number_the_same_way():
    # k6 resolves `duration: 8000` to 8 s: both consumers must plan 8 s at 40 req/s, not 8000 s.
    options = {
        "scenarios": {"steady": {"executor": "constant-arrival-rate", "rate": 40, "duration": 8000}}
    }
    assert runnable(options).end == 8
    assert len(planned_rate(options)) == 8
    assert plan_events(options) == [(0, True), (8, False)]


def test_jumps_mark_starts_zero_length_stages_and_ends():
    plan = Plan.from_options(
        {
            "scenarios": {
                "spike": {
                    "executor": "ramping-arrival-rate",
                    "startRate": 0,
                    "startTime": "2s",
                    "stages": [
                        {"target": 50, "duration": "0s"},
                        {"target": 50, "duration": "10s"},
                        {"target": 10, "duration": "0s"},
                        {"target": 10, "duration": "5s"},
                    ],
                }
            }
        }
    )
    assert plan.jumps == ((2, True), (12, False), (17, False))
    assert plan.rate(2) == 50 and plan.rate(12) == 10 and plan.end == 17


def test_an_empty_plan_is_zero_and_a_closed_model_executor_is_refused():
    assert Plan.from_options({}).pieces == () and Plan.from_options({}).rate(1) == 0
    with pytest.raises(PlanError, match="allowed: constant-arrival-rate or ramping-arrival-rate"):
        Plan.from_options({"scenarios": {"x": {"executor": "constant-vus"}}})


def test_tools_come_from_their_variable_else_the_project_default(tmp_path: Path) -> None:

    assert tools.delay_echo({}).path == tools.REPO / "target" / "release" / "delay-echo"
    assert tools.link({}).path == tools.REPO / "target" / "release" / "delay-echo-link"
    fake = tmp_path / "k6"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert tools.k6({"K6": str(fake)}).require() == fake
    # Without $K6, k6 on PATH wins over the venv's pinned copy.
    assert tools.k6({"PATH": str(tmp_path)}).path == fake
    assert tools.k6({"PATH": "/nonexistent"}).path == tools.VENV_BIN / "k6"


def test_a_missing_tool_says_where_it_looked_and_how_to_get_it(tmp_path: Path) -> None:

    missing = tools.delay_echo({"DELAY_ECHO_BIN": str(tmp_path / "nope")})
    with pytest.raises(
        tools.ToolMissing, match=r"delay-echo not found at .*nope \(\$DELAY_ECHO_BIN\)"
    ):
        missing.require()
