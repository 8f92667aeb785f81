"""Reading run folders written by loadtests/bin/loadtest into one table per kind of sample.

A run folder holds k6's raw CSV (every sample, millisecond timestamps), the resolved k6 options and
run.json. Several folders can make one run: each load generator drives its execution segment and
writes its own folder; their samples are concatenated on a common clock and their planned rates add
up. Percentiles are computed afterwards from the merged samples, never averaged across generators.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

# The custom metrics written by loadtests/k6/lib/echo.js, plus k6's own dropped_iterations.
SERVER_PARTS = ("queue", "sleep", "cpu", "total")
WANTED = {
    "echo_latency",
    "echo_in_flight",
    "echo_run_start",
    "dropped_iterations",
    *(f"echo_server_{p}" for p in SERVER_PARTS),
}
COLUMNS = ("metric_name", "timestamp", "metric_value", "status", "extra_tags")
RAW_NAMES = ("raw.csv.gz", "raw.csv")


class RunError(Exception):
    """A run folder that cannot be analysed, with what was expected."""


@dataclass
class Run:
    """One run, possibly merged from several generators' folders. Times are seconds since `origin`."""

    dirs: list[Path]
    meta: list[dict]
    label: str
    origin: float  # epoch seconds of the earliest scenario start
    requests: pd.DataFrame  # t_start, t_end, latency_ms, status, ok, instance, instance_start
    server: pd.DataFrame  # t_end, part, value_ms, ok, instance
    in_flight: pd.DataFrame  # t_end, value, instance
    dropped: pd.DataFrame  # t, count
    planned: pd.Series  # planned arrivals per second (index: second), all generators together
    events: list = field(default_factory=list)  # (second, rises?) where the plan jumps, sorted
    parameters: dict = field(default_factory=dict)
    service: dict = field(default_factory=dict)

    @property
    def profile(self) -> str:
        return self.meta[0].get("profile", "?") if self.meta else "?"

    @property
    def duration(self) -> float:
        ends = [self.requests["t_end"].max() if len(self.requests) else 0.0]
        if len(self.planned):
            ends.append(float(self.planned.index.max()) + 1)
        return float(max(ends))


_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")


def parse_duration(text) -> float:
    """Seconds from a Go/k6 duration ("1m0s", "250ms", "0s") or a number of milliseconds."""
    if text is None:
        return 0.0
    if isinstance(text, (int, float)):
        return float(text) / 1000.0
    s = str(text).strip()
    if s in ("", "0"):
        return 0.0
    total, pos = 0.0, 0
    for m in _GO_PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _GO_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise RunError(f'"{text}" is not a duration; expected forms like 1m30s, 250ms, 0s')
    return total


def segment_fraction(segment: dict | None) -> float:
    """The share of the planned rate one generator drives ("1/3:2/3" → 1/3); 1 when unsegmented."""
    if not segment:
        return 1.0
    try:
        a, b = (Fraction(x) if x else Fraction(0) for x in str(segment["segment"]).split(":"))
    except (KeyError, ValueError, ZeroDivisionError) as e:
        raise RunError(f"run.json segment {segment!r} is not of the form from:to (e.g. 1/3:2/3)") from e
    return float(b - a)


def planned_rate(options: dict, fraction: float = 1.0, step: float = 0.01) -> pd.Series:
    """Planned arrivals per second from the k6 scenarios (arrival-rate executors only)."""
    pieces = []  # (t0, t1, r0, r1): rate goes linearly from r0 to r1 over [t0, t1)
    for sc in (options.get("scenarios") or {}).values():
        t = parse_duration(sc.get("startTime"))
        unit = parse_duration(sc.get("timeUnit") or "1s") or 1.0
        ex = sc.get("executor")
        if ex == "constant-arrival-rate":
            d = parse_duration(sc.get("duration"))
            r = float(sc.get("rate", 0)) / unit
            pieces.append((t, t + d, r, r))
        elif ex == "ramping-arrival-rate":
            r = float(sc.get("startRate", 0)) / unit
            for st in sc.get("stages") or []:
                d = parse_duration(st.get("duration"))
                target = float(st.get("target", 0)) / unit
                if d > 0:
                    pieces.append((t, t + d, r, target))
                t, r = t + d, target
        elif ex is not None:
            raise RunError(f"scenario executor {ex!r} is not an arrival-rate executor; the profiles are open-model only")
    if not pieces:
        return pd.Series(dtype=float)
    end = max(p[1] for p in pieces)
    n = int(math.ceil(end - 1e-9))
    # Average the rate over each second by sampling at sub-second midpoints: exact for steps that
    # land on whole seconds, close enough (1 %) for ramps.
    ts = (np.arange(int(round(n / step))) + 0.5) * step
    rate = np.zeros_like(ts)
    for t0, t1, r0, r1 in pieces:
        m = (ts >= t0) & (ts < t1)
        rate[m] += r0 + (r1 - r0) * (ts[m] - t0) / (t1 - t0)
    per_second = rate.reshape(n, -1).mean(axis=1) * fraction
    return pd.Series(per_second, index=pd.RangeIndex(n, name="second"), name="planned")


def plan_events(options: dict) -> list[tuple[float, bool]]:
    """Instants where the planned rate jumps (a scenario's start, a zero-length stage) and whether
    it rises; the end of each scenario counts as a fall. These delimit the report's spike windows."""
    events = []
    for sc in (options.get("scenarios") or {}).values():
        t = parse_duration(sc.get("startTime"))
        unit = parse_duration(sc.get("timeUnit") or "1s") or 1.0
        if sc.get("executor") == "constant-arrival-rate":
            if float(sc.get("rate", 0)) > 0:
                events.append((t, True))
            events.append((t + parse_duration(sc.get("duration")), False))
        elif sc.get("executor") == "ramping-arrival-rate":
            r = float(sc.get("startRate", 0)) / unit
            if r > 0:
                events.append((t, True))
            for st in sc.get("stages") or []:
                d = parse_duration(st.get("duration"))
                target = float(st.get("target", 0)) / unit
                if d == 0 and target != r:
                    events.append((t, target > r))
                t, r = t + d, target
            events.append((t, False))
    return sorted(events)


def _raw_path(d: Path) -> Path:
    for name in RAW_NAMES:
        if (d / name).exists():
            return d / name
    raise RunError(f"{d}: no raw results ({' or '.join(RAW_NAMES)}); is this a folder written by make loadtest?")


def read_raw(path: Path) -> pd.DataFrame:
    """The samples of the metrics the analysis uses, columns read by name, timestamps in epoch seconds."""
    chunks = []
    try:
        reader = pd.read_csv(
            path,
            usecols=lambda c: c in COLUMNS,
            dtype={"metric_name": str, "status": str, "extra_tags": str},
            chunksize=500_000,
            keep_default_na=False,
        )
        for chunk in reader:
            missing = [c for c in COLUMNS if c not in chunk.columns]
            if missing:
                raise RunError(f"{path}: missing columns {missing}; a k6 CSV result has {list(COLUMNS)} among its columns")
            chunks.append(chunk[chunk["metric_name"].isin(WANTED)])
    except (ValueError, pd.errors.ParserError, OSError, EOFError) as e:
        raise RunError(f"{path}: not a readable k6 CSV result file ({e})") from e
    df = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=list(COLUMNS))
    ts = pd.to_numeric(df["timestamp"], errors="coerce").astype(float)
    # k6 writes whole seconds unless K6_CSV_TIME_FORMAT=unix_milli (what bin/loadtest sets).
    df["ts"] = np.where(ts > 1e11, ts / 1000.0, ts)
    df["value"] = pd.to_numeric(df["metric_value"], errors="coerce").astype(float)
    tags = df["extra_tags"].fillna("")
    df["instance"] = tags.str.extract(r"(?:^|&)instance=([^&]*)", expand=False).fillna("none")
    df["instance_start"] = tags.str.extract(r"(?:^|&)instance_start=([^&]*)", expand=False).fillna("none")
    return df


def _load_one(d: Path) -> tuple[dict, dict, pd.DataFrame]:
    if not d.is_dir():
        raise RunError(f"{d}: not a directory; give a run folder such as loadtests/results/<time>-<profile>")
    try:
        meta = json.loads((d / "run.json").read_text())
    except FileNotFoundError:
        meta = {}
    except ValueError as e:
        raise RunError(f"{d / 'run.json'}: not valid JSON ({e})") from e
    try:
        options = json.loads((d / "options.json").read_text())
    except FileNotFoundError:
        options = {}
    return meta, options, read_raw(_raw_path(d))


def load_run(dirs, label: str | None = None) -> Run:
    """Load and merge one or more folders of the same run (one per load generator)."""
    dirs = [Path(d) for d in dirs]
    if not dirs:
        raise RunError("no run folder given")
    loaded = [_load_one(d) for d in dirs]
    profiles = {m.get("profile") for m, _, _ in loaded if m.get("profile")}
    if len(profiles) > 1:
        raise RunError(f"folders of different profiles {sorted(profiles)} cannot be merged; compare them instead")

    # Each generator's clock starts at its own scenario start (recorded in setup); the merged run
    # starts at the earliest one, and each generator's plan is shifted by its offset.
    starts = []
    for meta, _, raw in loaded:
        rs = raw.loc[raw["metric_name"] == "echo_run_start", "value"]
        if len(rs):
            starts.append(float(rs.min()) / 1000.0)
        else:
            lat = raw[raw["metric_name"] == "echo_latency"]
            if not len(lat):
                raise RunError("a run folder has no echo_latency samples: did any request complete?")
            starts.append(float((lat["ts"] - lat["value"] / 1000.0).min()))
    origin = min(starts)

    req, srv, fl, drp, plans, events = [], [], [], [], [], set()
    for (meta, options, raw), start in zip(loaded, starts):
        lat = raw[raw["metric_name"] == "echo_latency"]
        t_end = lat["ts"] - origin
        status = pd.to_numeric(lat["status"], errors="coerce").fillna(0).astype(int)
        req.append(pd.DataFrame({
            "t_end": t_end,
            "t_start": t_end - lat["value"] / 1000.0,
            "latency_ms": lat["value"],
            "status": status,
            "ok": (status >= 200) & (status < 400),
            "instance": lat["instance"],
            "instance_start": lat["instance_start"],
        }))
        s = raw[raw["metric_name"].str.startswith("echo_server_")]
        s_status = pd.to_numeric(s["status"], errors="coerce").fillna(0).astype(int)
        srv.append(pd.DataFrame({
            "t_end": s["ts"] - origin,
            "part": s["metric_name"].str.removeprefix("echo_server_"),
            "value_ms": s["value"],
            "ok": (s_status >= 200) & (s_status < 400),
            "instance": s["instance"],
        }))
        f = raw[raw["metric_name"] == "echo_in_flight"]
        fl.append(pd.DataFrame({"t_end": f["ts"] - origin, "value": f["value"], "instance": f["instance"]}))
        dr = raw[raw["metric_name"] == "dropped_iterations"]
        drp.append(pd.DataFrame({"t": dr["ts"] - origin, "count": dr["value"]}))
        plan = planned_rate(options, segment_fraction(meta.get("segment")))
        shift = int(round(start - origin))
        events.update((int(round(t)) + shift, up) for t, up in plan_events(options))
        if len(plan):
            plan.index = plan.index + shift
            plans.append(plan)

    planned = pd.Series(dtype=float)
    if plans:
        planned = pd.concat(plans, axis=1).fillna(0).sum(axis=1).sort_index()
        planned = planned.reindex(range(0, int(planned.index.max()) + 1), fill_value=0.0)
        planned.index.name = "second"

    requests = pd.concat(req, ignore_index=True).sort_values("t_start", kind="stable").reset_index(drop=True)
    meta0 = loaded[0][0]
    params = dict(meta0.get("parameters") or {})
    if not params:
        sc = next(iter((loaded[0][1].get("scenarios") or {}).values()), {})
        params = dict(sc.get("env") or {})
    return Run(
        dirs=dirs,
        meta=[m for m, _, _ in loaded],
        label=label or (dirs[0].name if len(dirs) == 1 else f"{dirs[0].name} (+{len(dirs) - 1} merged)"),
        origin=origin,
        requests=requests,
        server=pd.concat(srv, ignore_index=True),
        in_flight=pd.concat(fl, ignore_index=True),
        dropped=pd.concat(drp, ignore_index=True),
        planned=planned,
        events=sorted(events),
        parameters=params,
        service=dict(meta0.get("service") or {}),
    )
