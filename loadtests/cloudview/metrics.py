"""The service's CloudWatch metrics over the window, one GetMetricData call for all of them: each
metric with its statistic (target.py) at one period, the window widened to whole periods so the
points are CloudWatch's own period boundaries."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from .aws import Aws
from .target import Target


@dataclass(frozen=True)
class Point:
    namespace: str
    metric: str
    stat: str
    period_s: int
    t: float  # epoch seconds: the start of the period
    value: float


def window(start: float, end: float, period_s: int) -> tuple[float, float]:
    """[start, end] widened to whole periods."""
    return math.floor(start / period_s) * period_s, math.ceil(end / period_s) * period_s


def points(aws: Aws, target: Target, start: float, end: float, period_s: int) -> list[Point]:
    lo, hi = window(start, end, period_s)
    if hi <= lo:
        hi = lo + period_s
    dims = [{"Name": k, "Value": v} for k, v in target.dimensions]
    queries = [
        {
            "Id": f"m{i}",
            "MetricStat": {
                "Metric": {"Namespace": m.namespace, "MetricName": m.name, "Dimensions": dims},
                "Period": period_s,
                "Stat": m.stat,
            },
            "ReturnData": True,
        }
        for i, m in enumerate(target.metrics)
    ]
    by_id = {f"m{i}": m for i, m in enumerate(target.metrics)}
    out: list[Point] = []
    pages = aws.pages(
        "cloudwatch", "get_metric_data", token="NextToken",
        MetricDataQueries=queries, StartTime=datetime.fromtimestamp(lo, UTC),
        EndTime=datetime.fromtimestamp(hi, UTC), ScanBy="TimestampAscending",
    )  # fmt: skip
    for page in pages:
        for result in page.get("MetricDataResults", []):
            m = by_id[result["Id"]]
            values = zip(result.get("Timestamps", []), result.get("Values", []), strict=True)
            out += [
                Point(m.namespace, m.name, m.stat, period_s, ts.timestamp(), float(v))
                for ts, v in values
            ]
    return sorted(out, key=lambda p: (p.metric, p.t))
