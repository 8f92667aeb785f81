"""make platform-view against moto in server mode (a real AWS API emulator over HTTP): known
streams and metric points come out as platform.jsonl events at exactly their times and as the
report's platform supply series; an empty window, throttling, a missing log group and missing
credentials each end with a clear message and the clients' report written."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from loadtests.cloudview.__main__ import main
from loadtests.cloudview.tests import cloud
from loadtests.core.run import RunMeta, utc_stamp
from loadtests.tests.synth import Req, arrivals, ramping, write_run

pytestmark = pytest.mark.live

SCHEMA = Path(__file__).parents[2] / "analysis" / "report.schema.json"
# The run: 30 s at 20 req/s; i-a answers throughout, i-b from 10 s until it drains at 25 s.
A, B = "ip-10-0-1-17-3fa2c1", "ip-10-0-2-40-9b07de"
LOAD_S = 30
# i-b's lifecycle lines, seconds after the run's start (its origin).
B_START, B_READY, B_DRAIN = 6.0, 8.5, 25.0


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with cloud.moto_server() as url:
        yield url


@pytest.fixture
def origin() -> float:
    # Within moto's 14 days of accepted log events, on a whole minute so metric periods align.
    return math.floor(time.time() / 60) * 60 - 3600.0


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, moto: str) -> str:
    for var in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("CLOUDVIEW_RETRY_BASE", "10ms")
    cloud.reset(moto)
    return moto


def run_folder(tmp_path: Path, origin: float) -> Path:
    reqs = [
        Req(t, 90.0, 200, B if 10 <= t < B_DRAIN and i % 2 else A)
        for i, t in enumerate(arrivals(lambda s: 20, 0, LOAD_S))
    ]
    d = write_run(tmp_path / "run", reqs, ramping(20, [(20, f"{LOAD_S}s")]), origin=origin,
                  service={"MAX_CONCURRENCY": "10"})  # fmt: skip
    meta = RunMeta.read(d)
    dataclasses.replace(
        meta,
        start_utc=utc_stamp(datetime.fromtimestamp(origin, UTC)),
        end_utc=utc_stamp(datetime.fromtimestamp(origin + LOAD_S, UTC)),
    ).write(d)
    return d


def seed(url: str, group: str, origin: float) -> None:
    """i-a started long before the window and serves throughout; i-b starts, gets ready and
    drains inside it; a third stream ended an hour before; each stream has lines that are not
    records."""
    o = origin
    cloud.put_stream(url, group, "instance/7c1e0f3a", [
        (o - 900.0, cloud.record("start", o - 900.0, A)),
        (o - 898.0, cloud.record("ready", o - 898.0, A)),
        (o - 20.0, "listening on 0.0.0.0:8080"),
        *[(o + t, cloud.request(o + t, A)) for t in range(0, LOAD_S, 2)],
    ])  # fmt: skip
    cloud.put_stream(url, group, "instance/b2d4e6f8", [
        (o + B_START, cloud.record("start", o + B_START, B)),
        (o + B_START + 0.001, "not JSON: a line the service's runtime wrote"),
        (o + B_READY, cloud.record("ready", o + B_READY, B)),
        *[(o + t + 0.5, cloud.request(o + t + 0.5, B)) for t in range(10, int(B_DRAIN), 2)],
        (o + B_DRAIN, cloud.record("drain", o + B_DRAIN, B)),
        (o + B_DRAIN + 1.0, json.dumps({"v": 2, "event": "exit", "instance": B})),
    ])  # fmt: skip
    cloud.put_stream(
        url, group, "instance/00old000", [(o - 3600.0, cloud.record("start", o - 3600.0, "old"))]
    )


def seed_metrics(url: str, origin: float, dims: list[dict[str, str]] = cloud.DIMENSIONS) -> None:
    """ActiveInstances (Maximum per 10 s: 1, 2, 2, 1) and Requests (Sum per 10 s: 200, 200)."""
    o = origin
    active = [(o + 1, 1.0), (o + 11, 2.0), (o + 12, 1.0), (o + 21, 2.0), (o + 31, 1.0)]
    cloud.put_points(url, "AWS/AppRunner", "ActiveInstances", active, dims)
    requests = [(o + 2, 100.0), (o + 5, 100.0), (o + 15, 200.0)]
    cloud.put_points(url, "AWS/AppRunner", "Requests", requests, dims)


def cloud_events(folder: Path) -> list[dict]:
    lines = (folder / "platform.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e.get("source") == "cloudwatch"]


def test_known_streams_and_points_become_events_at_their_times_and_the_supply_series(
    aws_env, tmp_path, origin, capsys
):
    d = run_folder(tmp_path, origin)
    seed(aws_env, cloud.GROUP, origin)
    seed_metrics(aws_env, origin)
    assert main(["--run", str(d), "--service-arn", cloud.ARN, "--period", "10s"]) == 0
    o = origin
    evs = cloud_events(d)
    assert evs[0]["event"] == "platform" and evs[0]["log_group"] == cloud.GROUP
    assert evs[0]["period_s"] == 10 and evs[0]["streams"] == 2
    spans = [(e["event"], e["time"], e["instance"], e["stream"]) for e in evs
             if e["event"] in ("log_first", "log_last", "started", "ready", "drain")]  # fmt: skip
    assert sorted(spans) == sorted([
        ("log_first", o - 20.0, A, "instance/7c1e0f3a"),
        ("log_last", o + 28.0, A, "instance/7c1e0f3a"),
        ("log_first", o + B_START, B, "instance/b2d4e6f8"),
        ("started", o + B_START, B, "instance/b2d4e6f8"),
        ("ready", o + B_READY, B, "instance/b2d4e6f8"),
        ("drain", o + B_DRAIN, B, "instance/b2d4e6f8"),
        ("log_last", o + B_DRAIN + 1.0, B, "instance/b2d4e6f8"),
    ])  # fmt: skip
    points = {(e["metric"], e["time"]): (e["value"], e["stat"], e["period_s"])
              for e in evs if e["event"] == "metric"}  # fmt: skip
    assert points == {
        ("ActiveInstances", o): (1.0, "Maximum", 10),
        ("ActiveInstances", o + 10): (2.0, "Maximum", 10),
        ("ActiveInstances", o + 20): (2.0, "Maximum", 10),
        ("ActiveInstances", o + 30): (1.0, "Maximum", 10),
        ("Requests", o): (200.0, "Sum", 10),
        ("Requests", o + 10): (200.0, "Sum", 10),
    }
    report = json.loads((d / "report.json").read_text())
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))
    sec = report["per_second"]
    n = len(sec["second"])
    assert n >= LOAD_S
    # i-a from before the run (its first line in the window), i-b from ready until its drain.
    assert sec["supply_platform"] == [1] * 8 + [2] * 17 + [1] * (n - 25)
    assert sec["supply_platform_metric"] == [1.0] * 10 + [2.0] * 20 + [1.0] * (n - 30)
    views = [v["supply"] for v in report["elasticity"]["views"]]
    assert views == ["clients", "platform", "platform_metric"]
    assert "Supply seen by the platform's own metric (CloudWatch)" in (d / "report.md").read_text()


def test_a_window_with_no_streams_says_so_and_still_reports(aws_env, tmp_path, origin, capsys):
    d = run_folder(tmp_path, origin)
    group = "/aws/apprunner/quiet-svc/ffffffffffffffffffffffffffffffff/application"
    cloud.put_stream(
        aws_env, group, "instance/0ld", [(origin - 7200.0, cloud.request(origin - 7200.0, A))]
    )
    arn = cloud.ARN.replace(f"{cloud.NAME}/{cloud.SERVICE_ID}", "quiet-svc/" + "f" * 32)
    assert main(["--run", str(d), "--service-arn", arn]) == 0
    err = capsys.readouterr().err
    assert f"no log stream of {group} has events between" in err
    evs = cloud_events(d)
    assert [e["event"] for e in evs] == ["platform"] and evs[0]["streams"] == 0
    report = json.loads((d / "report.json").read_text())
    assert [v["supply"] for v in report["elasticity"]["views"]] == ["clients"]
    assert "supply_platform" not in report["per_second"]


def test_throttled_calls_are_retried_with_backoff_and_succeed(
    aws_env, tmp_path, origin, capsys, monkeypatch
):
    d = run_folder(tmp_path, origin)
    group = "/aws/apprunner/busy-svc/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee/application"
    cloud.put_stream(
        aws_env, group, "instance/e1", [(origin + 1.0, cloud.request(origin + 1.0, A))]
    )
    arn = cloud.ARN.replace(f"{cloud.NAME}/{cloud.SERVICE_ID}", "busy-svc/" + "e" * 32)
    with cloud.ThrottlingProxy(aws_env, {"DescribeLogStreams": 2, "FilterLogEvents": 3}) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        assert main(["--run", str(d), "--service-arn", arn]) == 0
    assert proxy.throttled == {"DescribeLogStreams": 2, "FilterLogEvents": 3}
    assert proxy.calls["DescribeLogStreams"] == 3 and proxy.calls["FilterLogEvents"] == 4
    waits = [line for line in capsys.readouterr().err.splitlines() if "throttled" in line]
    assert len(waits) == 5, waits
    # Each wait is 10 ms × 2^k × [0.5, 1): the k-th retry of a call doubles the previous bound.
    for line, k in zip(waits, [0, 1, 0, 1, 2], strict=True):
        assert f"retry {k + 1} of 8" in line
        wait = float(line.rsplit(" in ", 1)[1].removesuffix(" s"))
        assert 0.01 * 2**k * 0.5 - 0.005 <= wait <= 0.01 * 2**k + 0.005, line
    assert [e["event"] for e in cloud_events(d)][:3] == ["platform", "log_first", "log_last"]


def test_throttled_beyond_the_retries_fails_clearly_and_keeps_the_rest(
    aws_env, tmp_path, origin, capsys, monkeypatch
):
    d = run_folder(tmp_path, origin)
    seed_metrics(aws_env, origin)
    with cloud.ThrottlingProxy(aws_env, {"DescribeLogStreams": 5}) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        assert main(["--run", str(d), "--service-arn", cloud.ARN, "--retries", "2"]) == 1
    assert proxy.calls["DescribeLogStreams"] == 3
    err = capsys.readouterr().err
    assert "logs:DescribeLogStreams still throttled after every retry (ThrottlingException" in err
    assert {e["event"] for e in cloud_events(d)} == {"platform", "metric"}
    assert (d / "report.md").exists()


def test_a_missing_log_group_is_a_clear_error_and_nothing_else_is_lost(
    aws_env, tmp_path, origin, capsys
):
    d = run_folder(tmp_path, origin)
    dims = [{"Name": "ServiceName", "Value": "gone-svc"}, {"Name": "ServiceID", "Value": "d" * 32}]
    seed_metrics(aws_env, origin, dims)
    local = {"time": origin + 1.0, "event": "note", "written_by": "someone else"}
    (d / "platform.jsonl").write_text(json.dumps(local) + "\n")
    arn = cloud.ARN.replace(f"{cloud.NAME}/{cloud.SERVICE_ID}", "gone-svc/" + "d" * 32)
    assert main(["--run", str(d), "--service-arn", arn]) == 1
    err = capsys.readouterr().err
    assert "log group /aws/apprunner/gone-svc/" + "d" * 32 + "/application does not exist" in err
    assert "logs:DescribeLogStreams" in err
    lines = [json.loads(x) for x in (d / "platform.jsonl").read_text().splitlines()]
    assert lines[0] == local
    assert {e["event"] for e in lines[1:]} == {"platform", "metric"}
    assert (d / "report.md").exists() and (d / "report.json").exists()


def test_missing_credentials_name_the_action_and_the_report_is_still_written(
    aws_env, tmp_path, origin, capsys, monkeypatch
):
    d = run_folder(tmp_path, origin)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert main(["--run", str(d), "--service-arn", cloud.ARN]) == 1
    err = capsys.readouterr().err
    assert "no AWS credentials for logs:DescribeLogStreams" in err
    assert "no AWS credentials for cloudwatch:GetMetricData" in err
    assert not (d / "platform.jsonl").exists()
    assert (d / "report.md").exists()


def test_a_missing_permission_is_named_and_what_was_allowed_is_kept(
    aws_env, tmp_path, origin, capsys, monkeypatch
):
    d = run_folder(tmp_path, origin)
    seed(aws_env, cloud.GROUP, origin)
    seed_metrics(aws_env, origin)
    # moto's IAM check names CloudWatch by its endpoint prefix (monitoring:), AWS by cloudwatch:.
    allowed = ["logs:DescribeLogStreams", "logs:GetLogEvents", "cloudwatch:GetMetricData",
               "monitoring:GetMetricData"]  # fmt: skip
    key, secret = cloud.user_allowed(aws_env, allowed)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    cloud.enforce_auth(aws_env, "0")
    try:
        assert main(["--run", str(d), "--service-arn", cloud.ARN]) == 1
    finally:
        cloud.enforce_auth(aws_env, "inf")
    err = capsys.readouterr().err
    assert (
        "not allowed: logs:FilterLogEvents was denied (User: arn:aws:iam::123456789012:user/viewer is not authorized to perform: logs:FilterLogEvents)"
        in err
    )
    assert "grant logs:FilterLogEvents" in err
    assert "GetMetricData" not in err
    assert {e["event"] for e in cloud_events(d)} == {"platform", "metric"}
    assert (d / "report.md").exists()


def test_an_ecs_service_reads_its_tasks_streams_and_desired_count(
    aws_env, tmp_path, origin, monkeypatch
):
    """ECS Express Mode: infra's /ecs/<service> group, a stream per task, the region from
    boto3's chain, RunningTaskCount as the platform's supply and DesiredTaskCount as its decisions."""
    d = run_folder(tmp_path, origin)
    o = origin
    task = "delay-echo/delay-echo/5f0c2b9a7d8e4f1a"
    lines = [
        (o + B_READY, cloud.record("ready", o + B_READY, B)),
        (o + 20.5, cloud.request(o + 20.5, B)),
    ]
    cloud.put_stream(aws_env, "/ecs/delay-echo", task, lines)
    dims = [{"Name": "ClusterName", "Value": "lab"}, {"Name": "ServiceName", "Value": "delay-echo"}]
    for name, values in (
        ("DesiredTaskCount", [1.0, 2.0, 2.0]),
        ("RunningTaskCount", [1.0, 1.0, 2.0]),
    ):
        points = [(o + 10 * i + 1, v) for i, v in enumerate(values)]
        cloud.put_points(aws_env, "ECS/ContainerInsights", name, points, dims)
    monkeypatch.setenv("AWS_REGION", cloud.REGION)
    assert (
        main(["--run", str(d), "--cluster", "lab", "--service", "delay-echo", "--period", "10s"])
        == 0
    )
    evs = cloud_events(d)
    assert evs[0]["log_group"] == "/ecs/delay-echo" and evs[0]["region"] == cloud.REGION
    ready = [(e["time"], e["instance"], e["stream"]) for e in evs if e["event"] == "ready"]
    assert ready == [(o + B_READY, B, task)]
    assert [(e["time"], e["desired"]) for e in evs if e["event"] == "decision"] == [
        (o, 1),
        (o + 10, 2),
    ]
    sec = json.loads((d / "report.json").read_text())["per_second"]
    n = len(sec["second"])
    assert sec["supply_platform_metric"] == [1.0] * 20 + [2.0] * 10 + [0.0] * (n - 30)
