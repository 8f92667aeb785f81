"""Which service to read, validated once from the command line: an App Runner service from its
ARN (its log group and metric dimensions follow from the ARN alone, so no App Runner call and no
apprunner:* permission), or an ECS (Express Mode) service from its cluster and name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# arn:aws:apprunner:<region>:<account>:service/<name>/<id>; partitions aws, aws-cn, aws-us-gov.
_APPRUNNER_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):apprunner:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"service/(?P<name>[A-Za-z0-9][A-Za-z0-9_-]{3,39})/(?P<id>[0-9a-f]{32})$"
)


class TargetError(ValueError):
    """A service that cannot be named from what was given; says what is allowed."""


@dataclass(frozen=True)
class Metric:
    """One CloudWatch metric to read, with the statistic that fits it."""

    namespace: str
    name: str
    stat: str


@dataclass(frozen=True)
class Target:
    platform: str  # "apprunner" or "ecs"
    region: str | None  # None: boto3's own chain (AWS_REGION, the profile)
    log_group: str
    stream_prefix: str  # only streams whose names start with it are instances ("" for all)
    dimensions: tuple[tuple[str, str], ...]
    metrics: tuple[Metric, ...]
    desired_metric: str | None  # a metric that is the platform's desired count (ECS)

    def describe(self, region: str | None) -> dict[str, object]:
        """What the `platform` line of platform.jsonl records about the service, read in
        `region` (boto3's, when the target names none)."""
        return {
            "platform": self.platform,
            "region": self.region or region,
            "log_group": self.log_group,
            "dimensions": dict(self.dimensions),
        }


APPRUNNER_METRICS = (
    Metric("AWS/AppRunner", "ActiveInstances", "Maximum"),
    Metric("AWS/AppRunner", "Requests", "Sum"),
    Metric("AWS/AppRunner", "2xxStatusResponses", "Sum"),
    Metric("AWS/AppRunner", "5xxStatusResponses", "Sum"),
    Metric("AWS/AppRunner", "RequestLatency", "Average"),
)
ECS_METRICS = (
    Metric("ECS/ContainerInsights", "RunningTaskCount", "Maximum"),
    Metric("ECS/ContainerInsights", "DesiredTaskCount", "Maximum"),
    Metric("AWS/ECS", "CPUUtilization", "Average"),
)


def apprunner(arn: str) -> Target:
    """The service of an App Runner service ARN; its application log group is
    /aws/apprunner/<name>/<id>/application, one stream per instance (instance/<id>)."""
    m = _APPRUNNER_ARN.match(arn.strip())
    if not m:
        raise TargetError(
            f"SERVICE_ARN {arn!r} is not an App Runner service ARN; allowed: "
            "arn:aws:apprunner:<region>:<12-digit account>:service/<name>/<32 hex id> "
            "(terraform -chdir=infra output service_arn)"
        )
    name, sid = m["name"], m["id"]
    return Target(
        platform="apprunner",
        region=m["region"],
        log_group=f"/aws/apprunner/{name}/{sid}/application",
        stream_prefix="instance/",
        dimensions=(("ServiceName", name), ("ServiceID", sid)),
        metrics=APPRUNNER_METRICS,
        desired_metric=None,
    )


def ecs(cluster: str, service: str, log_group: str, region: str | None) -> Target:
    """An ECS (Express Mode) service; its awslogs group is LOG_GROUP, by default infra's
    `/ecs/<service>` (infra/ecs.tf), since the group is the task definition's choice and reading
    it would take two more calls and permissions. Every stream in it is an instance (a task)."""
    for flag, value in (("CLUSTER", cluster), ("SERVICE", service)):
        if not value.strip():
            raise TargetError(f"{flag} is empty; an ECS service is named by CLUSTER= and SERVICE=")
    return Target(
        platform="ecs",
        region=region,
        log_group=log_group.strip() or f"/ecs/{service.strip()}",
        stream_prefix="",
        dimensions=(("ClusterName", cluster.strip()), ("ServiceName", service.strip())),
        metrics=ECS_METRICS,
        desired_metric="DesiredTaskCount",
    )
