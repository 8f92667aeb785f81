"""`delay-echo-cloudview` (make platform-view): the platform's own view of a cloud run, read from
CloudWatch into the run folder's platform.jsonl, then the report rendered again. An App Runner
service is named by its ARN (SERVICE_ARN), an ECS Express Mode service by CLUSTER and SERVICE (its
awslogs group LOG_GROUP defaults to infra's /ecs/<service>). Every setting is a flag with an environment twin (the flag wins). AWS
access is boto3's standard chain; AWS_ENDPOINT_URL points it at another endpoint (an emulator).
Exit codes: 0 everything read and the report written; 1 an AWS call failed (named with its IAM
action; what could be read is written, and the clients' report still is); 2 bad input or a run
folder the report cannot read."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from loadtests.core import durations, flags

from . import target as targets
from .aws import Retry
from .commands import ViewError, platform_view

# GetMetricData's periods: 1, 5, 10, 30 s (high resolution) or a multiple of 60.
HIGH_RESOLUTION = (1, 5, 10, 30)


def _seconds(text: str) -> float:
    try:
        return durations.seconds(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}; allowed: a duration such as 60s, 5m, 0"
        ) from None


def _period(text: str) -> int:
    try:
        value = durations.seconds(text)
    except ValueError:
        value = -1.0
    if value != int(value) or not (
        int(value) in HIGH_RESOLUTION or (value >= 60 and value % 60 == 0)
    ):
        raise argparse.ArgumentTypeError(
            f"{text!r}; allowed: 1s, 5s, 10s, 30s or a multiple of 60s (CloudWatch's periods)"
        )
    return int(value)


def parser(env: dict[str, str]) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="delay-echo-cloudview", description=__doc__)
    for flag, var, what, kw in (
        ("--run", "RUN", "the run folder (loadtests/results/<run>)", {"type": Path, "metavar": "DIR"}),
        ("--service-arn", "SERVICE_ARN", "an App Runner service's ARN (terraform output service_arn)", {"metavar": "ARN"}),
        ("--cluster", "CLUSTER", "ECS Express Mode: the cluster", {"default": ""}),
        ("--service", "SERVICE", "ECS Express Mode: the service's name", {"default": ""}),
        ("--log-group", "LOG_GROUP", "ECS Express Mode: the service's awslogs group (default /ecs/<service>, infra's)", {"default": ""}),
        ("--region", "AWS_REGION", "ECS: the region (App Runner's comes from its ARN)", {}),
        ("--margin", "CLOUDVIEW_MARGIN", "widen the run's window by this on each side", {"type": _seconds, "default": 60.0}),
        ("--period", "CLOUDVIEW_PERIOD", "the metrics' period", {"type": _period, "default": 60}),
        ("--retries", "CLOUDVIEW_RETRIES", "retries of a throttled call", {"type": int, "default": 8}),
        ("--retry-base", "CLOUDVIEW_RETRY_BASE", "the first wait after a throttled call; each next one doubles", {"type": _seconds, "default": 0.5}),
    ):  # fmt: skip
        flags.add(ap, flag, var, env, help=what, **kw)
    return ap


def main(argv: list[str] | None = None) -> int:
    env = dict(os.environ)
    ap = parser(env)
    a = ap.parse_args(argv)
    if a.run is None:
        ap.error("give the run folder: --run DIR (or RUN=)")
    try:
        if a.service_arn and (a.cluster or a.service):
            raise targets.TargetError(
                "give SERVICE_ARN (App Runner) or CLUSTER and SERVICE (ECS), not both"
            )
        if a.service_arn:
            target = targets.apprunner(a.service_arn)
        elif a.cluster or a.service:
            target = targets.ecs(a.cluster, a.service, a.log_group, a.region)
        else:
            raise targets.TargetError(
                "name the service: SERVICE_ARN=<App Runner service ARN>, or CLUSTER= and SERVICE= "
                "(and LOG_GROUP= when not /ecs/<service>) for ECS Express Mode"
            )
        retry = Retry(retries=a.retries, base_s=a.retry_base)
        out = platform_view(a.run, target, margin_s=a.margin, period_s=a.period, retry=retry)
    except (targets.TargetError, ViewError, ValueError) as e:
        print(f"platform-view: {e}", file=sys.stderr)
        return 2
    read = []
    if out.streams is not None:
        read.append(f"{out.streams} instance stream(s) of {target.log_group}")
    if out.points is not None:
        read.append(f"{out.points} metric point(s)")
    if read:
        print(f"platform-view: {' and '.join(read)} into {out.platform_jsonl}")
    for failure in out.failures:
        print(f"platform-view: {failure}", file=sys.stderr)
    if out.report is None:
        print(
            f"platform-view: the report could not be written: {out.report_error}", file=sys.stderr
        )
        return 2
    print(f"platform-view: report {out.report / 'report.md'}")
    return 1 if out.failures else 0


if __name__ == "__main__":
    sys.exit(main())
