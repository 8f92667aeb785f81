"""Synthetic run folders with known answers, shaped exactly like what the loadtest writes.

Each request is described by (start time, latency, status, instance); the writer turns them into the
k6 CSV rows the k6 scripts emit (echo_latency plus Server-Timing parts), with an options.json plan
and run.json, so the analysis is tested on the same file format it reads in real runs.
"""
# ruff: noqa: RUF003  (×, −, θ, τ, υ are the notation the report and its sources use)

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import dataclass
from pathlib import Path

from loadtests.core.run import RunMeta, Segment

EPOCH = 1_780_000_000.0  # an arbitrary wall-clock origin (2026)
HEADER = [
    "metric_name",
    "timestamp",
    "metric_value",
    "check",
    "error",
    "error_code",
    "expected_response",
    "method",
    "proto",
    "scenario",
    "status",
    "extra_tags",
    "metadata",
]


@dataclass
class Req:
    start: float  # seconds since the scenario start
    latency_ms: float
    status: int = 200
    instance: str = "i-a"
    server_ms: float | None = None  # Server-Timing total; defaults to latency − 2 ms
    cache: str | None = None  # the k6 `cache` tag, e.g. "x-cache:Hit from cloudfront"


def ramping(start_rate, stages):
    """An options.json for one ramping-arrival-rate scenario; stages as (target, duration)."""
    return {
        "scenarios": {
            "synthetic": {
                "executor": "ramping-arrival-rate",
                "startRate": start_rate,
                "timeUnit": "1s",
                "stages": [{"target": t, "duration": d} for t, d in stages],
                "preAllocatedVUs": 10,
                "maxVUs": 100,
            }
        }
    }


def arrivals(rate_fn, t0, t1):
    """Evenly spaced arrival times following rate_fn(second) on [t0, t1)."""
    out = []
    for s in range(int(t0), int(t1)):
        n = round(rate_fn(s))
        out += [s + (k + 0.5) / n for k in range(n)] if n else []
    return out


def write_run(
    d: Path,
    reqs,
    options,
    *,
    profile="spike",
    segment: Segment | None = None,
    dropped=(),
    params=None,
    service=None,
    origin=EPOCH,
    rows_filter=None,
    platform=None,
    records=False,
):
    """Write one run folder; rows_filter(i) picks which requests this folder keeps (generators).
    platform: events as dicts with `t` in seconds since the scenario start, written to platform.jsonl
    with epoch times as the local platform writes them. records: the same requests as record lines
    too (records.jsonl.gz, loadtests/k6/lib/echo.js) with summary.json's dropped_iterations count,
    as the loadtest writes them beside the CSV."""
    d.mkdir(parents=True, exist_ok=True)
    if platform is not None:
        with (d / "platform.jsonl").open("w") as f:
            for ev in platform:
                rec = {k: v for k, v in ev.items() if k != "t"} | {"time": origin + ev["t"]}
                f.write(json.dumps(rec) + "\n")
    ms = lambda t: round((origin + t) * 1000)  # noqa: E731
    lines: list[dict] = []
    with gzip.open(d / "raw.csv.gz", "wt", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)

        def row(metric, t, value, status="", tags=""):
            w.writerow(
                [metric, ms(t), f"{value:.6f}", "", "", "", "", "", "", profile, status, tags, ""]
            )

        row("echo_run_start", 0.0, ms(0.0))
        for i, r in enumerate(reqs):
            if rows_filter and not rows_filter(i):
                continue
            end = r.start + r.latency_ms / 1000.0
            # Noise the analysis must ignore: k6's built-in rows for the same request.
            row("http_req_duration", end, r.latency_ms, str(r.status))
            inst = r.instance if r.status != 0 else None
            tags = (
                f"profile={profile}&instance_start=2026-01-01T00:00:00Z&instance={inst}"
                if inst
                else f"profile={profile}&instance=none&instance_start=none"
            )
            if r.cache is not None:
                tags += f"&cache={r.cache}"
            row("echo_latency", end, r.latency_ms, str(r.status), tags)
            server = None
            if inst:
                server = r.server_ms if r.server_ms is not None else max(r.latency_ms - 2.0, 0.0)
                row("echo_server_queue", end, 0.0, str(r.status), tags)
                row("echo_server_total", end, server, str(r.status), tags)
                row("echo_server_sleep", end, server, str(r.status), tags)
            lines.append({
                "t": ms(end), "ms": r.latency_ms, "status": r.status, "instance": inst or "none",
                "instance_start": "2026-01-01T00:00:00Z" if inst else "none", "cache": r.cache,
                "total_ms": server, "queue_ms": 0.0 if inst else None,
            })  # fmt: skip
        for t, n in dropped:
            row("dropped_iterations", t, n)
    if records:
        with gzip.open(d / "records.jsonl.gz", "wt") as f:
            f.write(json.dumps({"run_start": ms(0.0)}) + "\n")
            f.writelines(json.dumps(line) + "\n" for line in lines)
        counted = sum(n for _, n in dropped)
        summary = {"metrics": {"dropped_iterations": {"count": counted}}}
        (d / "summary.json").write_text(json.dumps(summary))
    (d / "options.json").write_text(json.dumps(options))
    RunMeta(
        profile=profile,
        target="http://127.0.0.1:1",
        segment=segment,
        parameters=params or {"SLO_P95": "250ms", "SLO_ERROR_RATE": "0.01"},
        service=service or {},
        start_utc="2026-01-01T00:00:00.000Z",
        end_utc="2026-01-01T00:01:00.000Z",
        git_revision="0" * 40,
        git_dirty=False,
        k6_version="k6 v1.1.0 (synthetic)",
        k6_exit_code=0,
    ).write(d)
    return d
