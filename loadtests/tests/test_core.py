"""The lab's shared contracts (loadtests/core): one reading of k6's plan for every consumer, one
record of a run folder (run.json), the tools."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from loadtests.analysis.runs import RunError, load_run, plan_events, planned_rate
from loadtests.core import run as run_meta
from loadtests.core import tools
from loadtests.core.plan import Plan, PlanError, k6_seconds
from loadtests.core.run import MeshLoad, RunMeta, RunMetaError, Segment
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


FULL = RunMeta(
    profile="spike",
    start_utc="2026-05-01T12:00:00.000Z",
    end_utc="2026-05-01T12:01:00.000Z",
    target="https://x.example",
    parameters={"PEAK": "500", "HOLD": "2m0s"},
    service={"MAX_CONCURRENCY": "10", "STUDY": "a label"},
    segment=Segment(2, 3, "1/3:2/3", "0,1/3,2/3,1"),
    git_revision="a" * 40,
    git_dirty=True,
    generator="host",
    dropped_iterations=3,
    k6_version="k6 v1.1.0",
    k6_path="/usr/bin/k6",
    k6_exit_code=99,
)


def test_a_run_meta_survives_a_write_and_a_read(tmp_path: Path) -> None:
    FULL.write(tmp_path)
    assert RunMeta.read(tmp_path) == FULL
    # None is left out, not written as null; the schema's list of fields is the dataclass's.
    assert "locust_version" not in json.loads((tmp_path / "run.json").read_text())
    schema = json.loads(run_meta.SCHEMA_PATH.read_text())
    assert set(schema["properties"]) == {f.name for f in dataclasses.fields(RunMeta)}
    mesh = RunMeta(
        profile="mesh",
        start_utc="2026-05-01T12:00:00Z",
        mesh=MeshLoad({"eu": "http://a:1", "us": "http://b:1"}, 10, "30s"),
    )
    mesh.write(tmp_path)
    assert RunMeta.read(tmp_path) == mesh


@pytest.mark.parametrize(
    "change,message",
    [
        ({"k6_exit_code": "0"}, "field 'k6_exit_code' is \"0\"; allowed: a process exit code"),
        ({"start_utc": "yesterday"}, "field 'start_utc' is \"yesterday\"; allowed: a UTC time"),
        ({"servce": {}}, "field 'servce' is not part of run.json; allowed fields: schema, profile"),
        ({"service": {"MAX": "1"}}, "'service/MAX' is not part of service; allowed fields: MAX_CONCURRENCY, STUDY"),
        ({"segment": {"index": 0}}, "field 'segment/count' is missing; allowed: a whole number"),
        ({"profile": None}, "field 'profile' is null; allowed: the profile's name"),
        ({"schema": 2}, "field 'schema' is 2; allowed: 1"),
    ],
)  # fmt: skip
def test_a_run_json_off_the_schema_names_the_field_and_what_is_allowed(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    (tmp_path / "run.json").write_text(json.dumps(FULL.to_json() | change))
    with pytest.raises(RunMetaError) as e:
        RunMeta.read(tmp_path)
    assert message in str(e.value) and str(tmp_path / "run.json") in str(e.value)
    # The analysis refuses the folder with the same words.
    with pytest.raises(RunError, match=re.escape(message)):
        load_run([tmp_path])


def test_a_missing_or_unreadable_run_json_says_so(tmp_path: Path) -> None:
    with pytest.raises(RunMetaError, match=r"run\.json: missing"):
        RunMeta.read(tmp_path)
    (tmp_path / "run.json").write_text("{")
    with pytest.raises(RunMetaError, match="not valid JSON"):
        RunMeta.read(tmp_path)
    with pytest.raises(RunMetaError, match=r"about to be written.*'target' is \"ftp://x\""):
        dataclasses.replace(FULL, target="ftp://x").write(tmp_path)


def test_a_run_json_as_the_bash_loadtest_wrote_it_still_reads(tmp_path: Path) -> None:
    # Run folders from before RunMeta (segment null, no tool) stay analysable.
    (tmp_path / "run.json").write_text(
        json.dumps(
            {
                "schema": 1,
                "profile": "smoke",
                "target": "http://127.0.0.1:8080",
                "parameters": {"RATE": "2"},
                "service": {},
                "segment": None,
                "start_utc": "2026-05-01T12:00:00.123Z",
                "end_utc": "2026-05-01T12:00:10.456Z",
                "git_revision": "unknown",
                "git_dirty": False,
                "k6_version": "k6 v1.1.0",
                "k6_path": "/usr/bin/k6",
                "k6_exit_code": 0,
                "dropped_iterations": 0,
                "generator": "host",
            }
        )
    )
    meta = RunMeta.read(tmp_path)
    assert meta.segment is None and meta.tool is None and meta.parameters == {"RATE": "2"}
