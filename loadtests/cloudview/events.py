"""What the cloud said, as platform.jsonl events in the local platform's vocabulary
(loadtests/analysis/platform.py reads both), each with `"source": "cloudwatch"`:

- `platform` (first): the service, its log group, the window and the metrics' period;
- per instance (its log stream): `log_first` and `log_last` (the stream's first and last event in
  the window), `started`, `ready` and `drain` from its start/ready/drain lines, at the time the
  line records (`t_unix`), each with `instance` (its X-Instance-Id) and `stream`;
- `metric`: every point, at the start of its period, with `namespace`, `metric`, `stat`,
  `period_s` and `value`;
- `decision`: where the platform publishes its desired count (ECS's DesiredTaskCount), each
  change of it, with `desired`.

Running it again replaces the earlier cloudwatch lines and keeps every other line.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests.core.events import EventLog

from .logs import Stream
from .metrics import Point
from .target import Target

FILE = "platform.jsonl"
SOURCE = "cloudwatch"
LIFECYCLE_EVENT = {"start": "started", "ready": "ready", "drain": "drain"}


@dataclass(frozen=True)
class Event:
    name: str
    time: float
    fields: dict[str, Any]


def from_cloud(
    target: Target,
    start: float,
    end: float,
    period_s: int,
    streams: list[Stream] | None,
    points: list[Point] | None,
    region: str | None = None,
) -> list[Event]:
    """The events, in time order after the `platform` line; None for a part that was not read."""
    header = Event(
        "platform",
        start,
        target.describe(region)
        | {"window_start": start, "window_end": end, "period_s": period_s}
        | {"streams": None if streams is None else len(streams)},
    )
    out: list[Event] = []
    for s in streams or []:
        who = {"instance": s.instance_id, "stream": s.name}
        out.append(Event("log_first", s.first, who))
        out.append(Event("log_last", s.last, who))
        for lc in s.lifecycle:
            out.append(
                Event(
                    LIFECYCLE_EVENT[lc.event],
                    lc.t,
                    {"instance": lc.instance, "stream": s.name, "log_time": lc.log_time},
                )
            )
    previous = None
    for p in points or []:
        out.append(
            Event(
                "metric",
                p.t,
                {
                    "namespace": p.namespace,
                    "metric": p.metric,
                    "stat": p.stat,
                    "period_s": p.period_s,
                    "value": p.value,
                },
            )
        )
        if p.metric == target.desired_metric and p.value != previous:
            previous = p.value
            out.append(
                Event(
                    "decision",
                    p.t,
                    {
                        "desired": round(p.value),
                        "policy": target.platform,
                        "inputs": {"metric": p.metric, "stat": p.stat, "period_s": p.period_s},
                    },
                )
            )
    return [header, *sorted(out, key=lambda e: e.time)]


def write(folder: Path, events: list[Event]) -> Path:
    """Appends `events` to folder/platform.jsonl after removing the lines an earlier run of this
    command wrote there."""
    path = folder / FILE
    if path.exists():
        kept = [line for line in path.read_text().splitlines() if line.strip() and not _ours(line)]
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        os.replace(tmp, path)
    log = EventLog(path)
    try:
        for e in events:
            log.write(e.name, when=e.time, source=SOURCE, **e.fields)
    finally:
        log.close()
    return path


def _ours(line: str) -> bool:
    try:
        obj = json.loads(line)
    except ValueError:
        return False
    return isinstance(obj, dict) and obj.get("source") == SOURCE
