"""`platform_view`: read the cloud's side of one run folder and report it again. The run's window
comes from its run.json (start_utc, end_utc), widened by a margin so that instances draining after
the load are seen. The logs and the metrics are read independently: what could be read is written,
what could not is named with its IAM action, and the clients' report is written in every case.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from loadtests.analysis import commands as analysis
from loadtests.analysis.runs import RunError
from loadtests.core.run import RunMeta, RunMetaError, utc_stamp

from . import events, logs, metrics
from .aws import Aws, AwsError, Retry
from .target import Target


class ViewError(ValueError):
    """A run folder this command cannot work on (no run.json, no window); says what is needed."""


@dataclass
class Outcome:
    """What was read and what failed; `failures` empty means everything was read."""

    platform_jsonl: Path
    report: Path | None
    streams: int | None
    points: int | None
    failures: list[AwsError] = field(default_factory=list)
    report_error: str | None = None


def run_window(folder: Path, margin_s: float) -> tuple[float, float]:
    """The run's [start, end] in epoch seconds, widened by `margin_s` on both sides."""
    try:
        meta = RunMeta.read(folder)
    except RunMetaError as e:
        raise ViewError(str(e)) from None
    if not meta.end_utc:
        raise ViewError(
            f"{folder / 'run.json'} has no end_utc (the run did not finish); the platform's view "
            "needs the run's window"
        )
    start, end = (_epoch(x) for x in (meta.start_utc, meta.end_utc))
    return start - margin_s, end + margin_s


def platform_view(
    folder: Path,
    target: Target,
    *,
    margin_s: float = 60.0,
    period_s: int = 60,
    retry: Retry | None = None,
    say: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> Outcome:
    if not folder.is_dir():
        raise ViewError(f"RUN {folder} is not a folder; give a run folder of loadtests/results")
    start, end = run_window(folder, margin_s)
    aws = Aws(target.region, retry or Retry(), say=say)
    failures: list[AwsError] = []
    streams: list[logs.Stream] | None = None
    points: list[metrics.Point] | None = None
    try:
        streams = logs.streams(aws, target.log_group, target.stream_prefix, start, end)
    except AwsError as e:
        failures.append(e)
    try:
        points = metrics.points(aws, target, start, end, period_s)
    except AwsError as e:
        failures.append(e)
    path = folder / events.FILE
    if streams is not None or points is not None:
        path = events.write(
            folder, events.from_cloud(target, start, end, period_s, streams, points, aws.region)
        )
    if streams == []:
        say(
            f"platform-view: no log stream of {target.log_group} has events between "
            f"{_utc(start)} and {_utc(end)} (the run's window ± {margin_s:g} s); the report "
            "shows no instance spans from the platform"
        )
    out = Outcome(
        platform_jsonl=path,
        report=None,
        streams=None if streams is None else len(streams),
        points=None if points is None else len(points),
        failures=failures,
    )
    try:
        out.report = analysis.report([folder])
    except RunError as e:  # the clients' side cannot be read: say why, lose nothing else
        out.report_error = str(e)
    return out


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _utc(t: float) -> str:
    return utc_stamp(datetime.fromtimestamp(t, UTC))
