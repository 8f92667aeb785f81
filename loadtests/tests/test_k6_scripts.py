"""The k6 profiles through `k6 inspect` (the pinned k6 parses them and resolves their options without
sending a request) and the run script's refusals, which must name what was wrong and what is allowed."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent.parent
K6_DIR = HERE / "k6"
PROFILES = ["smoke", "steady", "step", "spike", "spikes", "ramp", "soak"]
K6 = os.environ.get("K6") or str(HERE.parent / ".venv" / "bin" / "k6")


def inspect(profile, **env):
    # A clean environment: only the knobs given here reach the script.
    e = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run(
        [
            K6,
            "inspect",
            "--log-format=raw",
            "--include-system-env-vars",
            str(K6_DIR / f"{profile}.js"),
        ],
        env=e,
        capture_output=True,
        text=True,
        timeout=60,
    )


def options(profile, **env):
    p = inspect(profile, **env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_is_open_model_with_sized_vus(profile):
    o = options(profile)
    ((name, sc),) = o["scenarios"].items()
    assert name == profile
    assert sc["executor"] in ("constant-arrival-rate", "ramping-arrival-rate")
    peak = sc.get("rate") or max([sc["startRate"]] + [s["target"] for s in sc["stages"]])
    # rate x expected latency (150 ms) x headroom (2), and a ceiling covering 2 s at the peak.
    assert sc["preAllocatedVUs"] == max(1, math.ceil(peak * 0.15 * 2))
    assert sc["maxVUs"] == max(sc["preAllocatedVUs"], math.ceil(peak * 2))
    assert sc["env"]["PROFILE"] == profile and sc["env"]["SLO_P95"] == "250ms"
    assert "dropped_iterations" in o["thresholds"] and "echo_latency" in o["thresholds"]


def test_step_is_the_original_staircase_with_a_step_length_knob():
    sc = options("step", STEP_DURATION="20s")["scenarios"]["step"]
    holds = [s for s in sc["stages"] if s["duration"] != "0s"]
    assert sc["startRate"] == 200
    assert [s["target"] for s in holds] == list(range(200, 901, 100))
    assert {s["duration"] for s in holds} == {"20s"}
    assert all(s["target"] > 0 for s in sc["stages"])


def test_spike_jumps_at_once_holds_and_drops():
    sc = options("spike", PEAK="800", HOLD="1m", BASE_RATE="20", LEAD="30s", TAIL="10s")[
        "scenarios"
    ]["spike"]
    assert sc["startRate"] == 20
    assert [(s["target"], s["duration"]) for s in sc["stages"]] == [
        (20, "30s"),
        (800, "0s"),
        (800, "1m0s"),
        (20, "0s"),
        (20, "10s"),
    ]
    # Default: 0 → PEAK at the first instant.
    sc = options("spike")["scenarios"]["spike"]
    assert sc["startRate"] == 500 and sc["stages"] == [{"target": 500, "duration": "2m0s"}]


def test_spikes_repeat_bursts_over_a_base_rate():
    sc = options("spikes", BURSTS="2", BURST="10s", GAP="20s", LEAD="5s")["scenarios"]["spikes"]
    assert [(s["target"], s["duration"]) for s in sc["stages"]] == [
        (50, "5s"),
        (500, "0s"),
        (500, "10s"),
        (50, "0s"),
        (50, "20s"),
        (500, "0s"),
        (500, "10s"),
        (50, "0s"),
        (50, "20s"),
    ]


def test_service_knobs_and_vu_sizing_knobs_are_taken():
    sc = options(
        "steady",
        RATE="40",
        ECHO_DELAY="lognormal(80ms,400ms)",
        EXPECTED_LATENCY="500ms",
        VU_HEADROOM="3",
        MAX_VUS="999",
    )["scenarios"]["steady"]
    assert sc["rate"] == 40 and sc["preAllocatedVUs"] == 60 and sc["maxVUs"] == 999
    assert sc["env"]["ECHO_DELAY"] == "lognormal(80ms,400ms)"


def test_ramp_stops_itself_once_it_breaks():
    o = options("ramp", ABORT_ERROR_RATE="0.2")
    aborts = [t for t in o["thresholds"]["http_req_failed"] if isinstance(t, dict)]
    assert aborts == [{"threshold": "rate<0.2", "abortOnFail": True, "delayAbortEval": "30s"}]


@pytest.mark.parametrize(
    "env,message",
    [
        ({"PEAK": "5OO"}, 'PEAK="5OO" is not a number'),
        ({"HOLD": "10"}, 'HOLD="10" is not a duration'),
        ({"HOLD": "0s"}, "HOLD must be longer than 0"),
        ({"BASE_URL": "http://example.invalid/path"}, "with no path; put the path in ECHO_PATH"),
        ({"ECHO_PATH": "echo"}, 'ECHO_PATH="echo" must start with /'),
        ({"MAX_VUS": "1"}, "MAX_VUS"),
    ],
)
def test_bad_knobs_are_refused_with_the_reason(env, message):
    p = inspect("spike", **env)
    assert p.returncode != 0
    assert message in p.stderr


def test_scripts_name_no_url_and_import_nothing_remote():
    for js in sorted(K6_DIR.rglob("*.js")):
        text = js.read_text()
        assert not re.search(r"https?://\w", text), f"{js} names a URL; targets come from BASE_URL"
        for spec in re.findall(r"^import .* from '([^']+)';", text, flags=re.M):
            assert spec.startswith(("./", "../", "k6")), (
                f"{js} imports {spec}: only local files and k6 modules"
            )
        assert text.startswith("//"), f"{js} must open with a comment saying what it is"


def run_script(*, timeout=60, **env):
    e = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "K6": K6,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "loadtests.loadtest"],
        env=e,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "env,message",
    [
        (
            {"TARGET": "http://127.0.0.1:9"},
            "PROFILE is not set; allowed: ramp smoke soak spike spikes steady step",
        ),
        ({"PROFILE": "burst", "TARGET": "http://127.0.0.1:9"}, 'unknown PROFILE "burst"; allowed:'),
        ({"PROFILE": "smoke"}, "TARGET is not set"),
        (
            {"PROFILE": "smoke", "TARGET": "http://127.0.0.1:9", "SEGMENT": "3", "SEGMENTS": "2"},
            "SEGMENT=3 is beyond SEGMENTS=2",
        ),
        (
            {"PROFILE": "smoke", "TARGET": "http://127.0.0.1:9", "SEGMENT": "1"},
            "SEGMENT and SEGMENTS must both be whole numbers",
        ),
        (
            {"PROFILE": "smoke", "TARGET": "http://127.0.0.1:9", "RATE": "fast"},
            'RATE="fast" is not a number',
        ),
        ({"PROFILE": "smoke", "TARGET": "127.0.0.1:9"}, "allowed: an http:// or https:// address"),
        (
            {"PROFILE": "smoke", "TARGET": "http://127.0.0.1:9", "MAX_RUN_TIME": "soon"},
            'MAX_RUN_TIME="soon"; allowed: a number of seconds above 0',
        ),
        (
            {"PROFILE": "smoke", "TARGET": "http://127.0.0.1:9", "START_AT": "noon"},
            'START_AT="noon" is not an ISO 8601 time; allowed: e.g. 2026-05-01T12:00:00Z',
        ),
    ],
)
def test_loadtest_refuses_bad_requests_before_running(env, message, tmp_path):
    p = run_script(RESULTS=str(tmp_path), **env)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr
    assert not any(tmp_path.iterdir()), "no run folder for a refused run"


def test_each_setting_is_a_flag_too_and_the_flag_wins(tmp_path):
    # PROFILE=burst in the environment is overridden by --profile; a flag's bad value is refused
    # with the same words as its twin's.
    e = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "K6": K6}
    p = subprocess.run(
        [sys.executable, "-m", "loadtests.loadtest", "--profile", "smoke", "--results",
         str(tmp_path), "--target", "http://127.0.0.1:9", "--segment", "3", "--segments", "2"],
        env={**e, "PROFILE": "burst"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert p.returncode == 2 and "SEGMENT=3 is beyond SEGMENTS=2" in p.stderr, p.stderr
    p = subprocess.run(
        [sys.executable, "-m", "loadtests.loadtest", "--tool", "jmeter"],
        env={**e, "PROFILE": "smoke", "TARGET": "http://127.0.0.1:9"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert p.returncode == 2 and 'unknown TOOL "jmeter"; allowed: k6 locust' in p.stderr
    assert not any(tmp_path.iterdir()), "no run folder for a refused run"
