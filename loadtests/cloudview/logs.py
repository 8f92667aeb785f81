"""The instances as their log streams tell it: for each stream with events in the window, its
first and last event there, and the service's lifecycle lines (start, ready, drain: the record
schema of docs/records.md) with the instance id they carry (the clients' X-Instance-Id).

Calls, chosen to read as little as a long-lived log group allows: DescribeLogStreams newest
first (stopping at streams whose last event is well before the window), GetLogEvents twice per
stream (one event from each end of the window), and one FilterLogEvents over the group with a
pattern that keeps only the lifecycle lines (the request records, one per request, stay in
CloudWatch). Lines that are not records of schema version 1 are skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .aws import PAGES_MAX, Aws

LIFECYCLE = ("start", "ready", "drain")
# CloudWatch Logs' JSON filter syntax; an emulator that does not implement it returns every line,
# and the parse below keeps the lifecycle lines either way.
LIFECYCLE_PATTERN = '{ ($.event = "start") || ($.event = "ready") || ($.event = "drain") }'
# DescribeLogStreams' lastEventTimestamp is eventually consistent ("typically within an hour"): a
# stream whose last event is older than the window by more than this is left out.
LAST_EVENT_SLACK_MS = 2 * 3600 * 1000


@dataclass(frozen=True)
class Lifecycle:
    event: str  # start | ready | drain
    t: float  # the record's t_unix: when it happened, by the instance's clock
    instance: str
    log_time: float  # when CloudWatch stamped the line


@dataclass
class Stream:
    name: str
    first: float  # epoch seconds of its first event in the window
    last: float
    instance: str | None = None  # from its records; None when none of its lines is a record
    lifecycle: list[Lifecycle] = field(default_factory=list)

    @property
    def instance_id(self) -> str:
        """The id the report joins on: the records' instance, else the stream's own name."""
        return self.instance or self.name.rsplit("/", 1)[-1]


def record(message: str) -> dict[str, Any] | None:
    """The record a log line holds (schema version 1), or None for any other line."""
    text = message.strip()
    if not text.startswith("{"):
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict) or obj.get("v") != 1:
        return None
    if not isinstance(obj.get("instance"), str) or not obj["instance"]:
        return None
    if not isinstance(obj.get("t_unix"), int | float) or not isinstance(obj.get("event"), str):
        return None
    return obj


def streams(aws: Aws, group: str, prefix: str, start: float, end: float) -> list[Stream]:
    """Every stream of `group` (names starting with `prefix`) with events in [start, end]
    (epoch seconds), with its lifecycle lines; MissingLogGroup when the group does not exist."""
    lo, hi = int(start * 1000), int(end * 1000)
    found: dict[str, Stream] = {}
    for name in _candidates(aws, group, prefix, lo, hi):
        first = _edge(aws, group, name, lo, hi, head=True)
        last = _edge(aws, group, name, lo, hi, head=False)
        if first is None or last is None:
            continue
        s = Stream(name, first["timestamp"] / 1000, last["timestamp"] / 1000)
        for ev in (first, last):
            rec = record(ev.get("message", ""))
            if rec is not None and s.instance is None:
                s.instance = rec["instance"]
        found[name] = s
    if found:
        _lifecycle(aws, group, found, lo, hi)
    return sorted(found.values(), key=lambda s: (s.first, s.name))


def _candidates(aws: Aws, group: str, prefix: str, lo: int, hi: int) -> list[str]:
    names: list[str] = []
    newest_first = aws.pages(
        "logs", "describe_log_streams",
        logGroupName=group, orderBy="LastEventTime", descending=True, limit=50,
    )  # fmt: skip
    for page in newest_first:
        for s in page.get("logStreams", []):
            last = s.get("lastEventTimestamp") or s.get("creationTime") or 0
            if last < lo - LAST_EVENT_SLACK_MS:
                return names  # newest first: every later stream ended even earlier
            first = s.get("firstEventTimestamp")
            if s["logStreamName"].startswith(prefix) and (first is None or first <= hi):
                names.append(s["logStreamName"])
    return names


def _edge(aws: Aws, group: str, name: str, lo: int, hi: int, head: bool) -> dict[str, Any] | None:
    """The first (head) or last event of a stream in [lo, hi] ms; None when it has none there.
    GetLogEvents may answer empty pages before the end: it is the end when the token repeats."""
    token = None
    for _ in range(PAGES_MAX):
        params: dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": name,
            "startTime": lo,
            "endTime": hi + 1,  # endTime is exclusive
            "startFromHead": head,
            "limit": 1,
        }
        if token:
            params["nextToken"] = token
        page = aws.call("logs", "get_log_events", **params)
        events = page.get("events", [])
        if events:
            return dict(events[0] if head else events[-1])
        nxt = page.get("nextForwardToken" if head else "nextBackwardToken")
        if not nxt or nxt == token:
            return None
        token = nxt
    return None


def _lifecycle(aws: Aws, group: str, found: dict[str, Stream], lo: int, hi: int) -> None:
    lines = aws.pages(
        "logs", "filter_log_events",
        logGroupName=group, startTime=lo, endTime=hi, filterPattern=LIFECYCLE_PATTERN,
    )  # fmt: skip
    for page in lines:
        for ev in page.get("events", []):
            s = found.get(ev.get("logStreamName", ""))
            rec = record(ev.get("message", ""))
            if s is None or rec is None or rec["event"] not in LIFECYCLE:
                continue
            s.instance = s.instance or rec["instance"]
            s.lifecycle.append(
                Lifecycle(
                    rec["event"], float(rec["t_unix"]), rec["instance"], ev["timestamp"] / 1000
                )
            )
    for s in found.values():
        s.lifecycle.sort(key=lambda x: x.t)
