"""The parts of make platform-view that need no AWS endpoint: naming the service, reading the
record lines, the backoff, the events for ECS's desired count, re-running over an existing
platform.jsonl, and the command line's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from loadtests.analysis.platform import read_platform_log
from loadtests.cloudview import events, target
from loadtests.cloudview.__main__ import main
from loadtests.cloudview.aws import Retry
from loadtests.cloudview.logs import Lifecycle, Stream, record
from loadtests.cloudview.metrics import Point, window
from loadtests.cloudview.offer import offer
from loadtests.cloudview.tests import cloud


def test_an_app_runner_arn_gives_its_log_group_and_metric_dimensions():
    t = target.apprunner(cloud.ARN)
    assert t.region == cloud.REGION
    assert t.log_group == cloud.GROUP
    assert t.stream_prefix == "instance/"
    assert dict(t.dimensions) == {"ServiceName": cloud.NAME, "ServiceID": cloud.SERVICE_ID}
    assert [m.name for m in t.metrics] == [
        "ActiveInstances", "Requests", "2xxStatusResponses", "5xxStatusResponses", "RequestLatency",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:ecs:eu-west-1:123456789012:service/c/s",
        "arn:aws:apprunner:eu-west-1:123456789012:service/delay-echo",
        f"arn:aws:apprunner:eu-west-1:1234:service/delay-echo/{cloud.SERVICE_ID}",
        "arn:aws:apprunner:eu-west-1:123456789012:service/delay-echo/XYZ",
    ],
)
def test_anything_else_is_refused_with_the_form_allowed(arn):
    with pytest.raises(target.TargetError, match="allowed: arn:aws:apprunner:<region>"):
        target.apprunner(arn)


def test_an_ecs_service_reads_infras_log_group_unless_told_another():
    assert target.ecs("default", "delay-echo", "", "eu-west-1").log_group == "/ecs/delay-echo"
    t = target.ecs("default", "delay-echo", "/custom/group", None)
    assert t.log_group == "/custom/group" and t.region is None
    assert t.stream_prefix == "" and t.desired_metric == "DesiredTaskCount"
    assert dict(t.dimensions) == {"ClusterName": "default", "ServiceName": "delay-echo"}
    with pytest.raises(target.TargetError, match="CLUSTER= and SERVICE="):
        target.ecs("default", " ", "", None)


@pytest.mark.parametrize(
    ("url", "offered"),
    [
        ("http://127.0.0.1:8080", None),
        ("http://localhost:8080", None),
        ("http://10.0.0.5", None),
        ("https://abcd1234.eu-west-1.awsapprunner.com", "apprunner_service_arn"),
        ("https://d111111abcdef8.cloudfront.net", "ecs_cluster_name"),
    ],
)
def test_make_loadtest_offers_the_platform_view_for_a_cloud_target_only(url, offered):
    text = offer(url, Path("loadtests/results/r"))
    if offered is None:
        assert text is None
    else:
        assert text is not None and "make platform-view RUN=loadtests/results/r" in text
        assert offered in text


RECORDS_SCHEMA = Path(__file__).parents[3] / "docs" / "records.schema.json"


def test_the_lines_these_tests_write_are_records_of_the_schema():
    schema = json.loads(RECORDS_SCHEMA.read_text())
    for line in [
        *(cloud.record(e, 1_780_000_000.5, "i-a") for e in ("start", "ready", "drain")),
        cloud.request(1_780_000_001.25, "i-a"),
    ]:
        jsonschema.validate(json.loads(line), schema)


def test_only_records_of_schema_version_1_are_read():
    line = cloud.record("ready", 1.5, "i-a")
    assert record(line) == json.loads(line)
    for other in [
        "listening on 0.0.0.0:8080",
        "{not json",
        "[1, 2]",
        json.dumps({"v": 2, "event": "ready", "t_unix": 1.5, "instance": "i-a"}),
        json.dumps({"v": 1, "event": "ready", "t_unix": 1.5}),
        json.dumps({"v": 1, "event": "ready", "t_unix": "soon", "instance": "i-a"}),
    ]:
        assert record(other) is None, other


def test_the_backoff_doubles_within_its_jitter_and_stops_at_the_cap():
    r = Retry(retries=8, base_s=0.5, cap_s=20.0)
    assert [r.delay(k, 0.0) for k in range(4)] == [0.25, 0.5, 1.0, 2.0]
    assert [r.delay(k, 0.999999) for k in range(3)] == pytest.approx([0.5, 1.0, 2.0], rel=1e-5)
    assert r.delay(10, 0.999999) == pytest.approx(20.0, rel=1e-5)
    with pytest.raises(ValueError, match="--retries must be 0 or more"):
        Retry(retries=-1)
    with pytest.raises(ValueError, match="--retry-base must be above 0"):
        Retry(base_s=0)


def test_metric_windows_are_whole_periods():
    assert window(1000.5, 1130.0, 60) == (960, 1140)


def test_ecs_desired_count_becomes_a_decision_at_each_change():
    t = target.ecs("default", "delay-echo", "/ecs/delay-echo", "eu-west-1")
    values = [1.0, 1.0, 3.0, 3.0, 2.0]
    pts = [
        Point("ECS/ContainerInsights", "DesiredTaskCount", "Maximum", 60, 6000.0 + 60 * i, v)
        for i, v in enumerate(values)
    ]
    evs = events.from_cloud(t, 6000.0, 6300.0, 60, None, pts)
    decisions = [(e.time, e.fields["desired"]) for e in evs if e.name == "decision"]
    assert decisions == [(6000.0, 1), (6120.0, 3), (6240.0, 2)]


def test_running_again_replaces_its_own_lines_and_keeps_every_other(tmp_path: Path):
    t = target.apprunner(cloud.ARN)
    other = {"time": 100.0, "event": "decision", "desired": 2}
    (tmp_path / "platform.jsonl").write_text(json.dumps(other) + "\n")
    s = Stream("instance/a", 101.0, 140.0, "i-a", [Lifecycle("ready", 102.5, "i-a", 102.6)])
    pts = [Point("AWS/AppRunner", "ActiveInstances", "Maximum", 60, 60.0, 1.0)]
    for _ in range(2):
        events.write(tmp_path, events.from_cloud(t, 90.0, 200.0, 60, [s], pts))
    lines = [json.loads(x) for x in (tmp_path / "platform.jsonl").read_text().splitlines()]
    assert lines[0] == other
    assert [x["event"] for x in lines[1:]] == [
        "platform",
        "metric",
        "log_first",
        "ready",
        "log_last",
    ]
    log = read_platform_log(tmp_path / "platform.jsonl", origin=100.0)
    i = log.instances["i-a"]
    assert (i.log_first, i.ready, i.log_last) == (1.0, 2.5, 40.0)
    name, series = log.supply_metric(5) or ("", np.zeros(0))
    assert name == "ActiveInstances" and series.tolist() == [1.0] * 5
    # A second without a point is 0: CloudWatch leaves out periods without data.
    assert (log.supply_metric(30) or ("", np.zeros(0)))[1][20:].tolist() == [0.0] * 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--service-arn", "arn:nope"], "is not an App Runner service ARN"),
        (["--service-arn", cloud.ARN, "--cluster", "c"], "not both"),
        ([], "name the service"),
        (["--cluster", "c"], "SERVICE is empty"),
    ],
)
def test_bad_input_exits_2_with_what_is_allowed(tmp_path, capsys, args, message):
    assert main(["--run", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_a_folder_without_run_json_exits_2(tmp_path, capsys):
    assert main(["--run", str(tmp_path), "--service-arn", cloud.ARN]) == 2
    assert "run.json" in capsys.readouterr().err


def test_a_period_cloudwatch_does_not_offer_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--run", str(tmp_path), "--service-arn", cloud.ARN, "--period", "45s"])
    assert e.value.code == 2
    assert "1s, 5s, 10s, 30s or a multiple of 60s" in capsys.readouterr().err
