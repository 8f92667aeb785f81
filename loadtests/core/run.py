"""The run folder's record, `run.json`: what was run, against what, when, from which revision and
with which tool. Written by every generator (the loadtest's k6 runs, the locust runner, the mesh,
the analysis benchmark's synthetic runs) and read by the analysis, through one frozen `RunMeta`.
Its layout is `run.schema.json` beside this file; a run.json that does not match it is refused
with the field and what is allowed.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

import jsonschema

FILE = "run.json"
SCHEMA_PATH = Path(__file__).with_name("run.schema.json")

Tool = Literal["k6", "locust"]


class RunMetaError(ValueError):
    """A run.json that is missing, not JSON, or not of the schema; says which field and what is
    allowed."""


@dataclass(frozen=True)
class Segment:
    """Generator `index` of `count`: k6's execution segment `segment` ("1/3:2/3") of the common
    `sequence` ("0,1/3,2/3,1")."""

    index: int
    count: int
    segment: str
    sequence: str


@dataclass(frozen=True)
class MeshLoad:
    """A mesh run's load: every ordered pair of `peers` at `rate` requests per second for
    `duration`."""

    peers: dict[str, str]
    rate: int
    duration: str


@dataclass(frozen=True, kw_only=True)
class RunMeta:
    """One generator's run.json. `tool` None is a k6 run (the first writer recorded no tool)."""

    schema: int = 1
    profile: str
    start_utc: str
    tool: Tool | None = None
    target: str | None = None
    # The profile's knobs as k6 resolved them, defaults included.
    parameters: dict[str, str] = field(default_factory=dict)
    # What the client cannot see, given by whoever ran the study: MAX_CONCURRENCY, STUDY.
    service: dict[str, str] = field(default_factory=dict)
    segment: Segment | None = None
    end_utc: str | None = None
    git_revision: str | None = None
    git_dirty: bool | None = None
    generator: str | None = None
    dropped_iterations: int | None = None
    k6_version: str | None = None
    k6_path: str | None = None
    k6_exit_code: int | None = None
    locust_version: str | None = None
    locust_workers: int | None = None
    locust_exit_code: int | None = None
    planned_requests: float | None = None
    requests: int | None = None
    mesh: MeshLoad | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object, without the fields that are None."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: object, where: str = FILE) -> RunMeta:
        """A RunMeta from a parsed run.json; RunMetaError naming every wrong field."""
        validator = jsonschema.Draft202012Validator(_schema())
        errors = sorted(
            validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]
        )
        if errors:
            raise RunMetaError(f"{where}: " + "; ".join(_explain(e) for e in errors))
        assert isinstance(data, dict)
        values = dict(data)
        if values.get("segment") is not None:
            values["segment"] = Segment(**values["segment"])
        if values.get("mesh") is not None:
            values["mesh"] = MeshLoad(**values["mesh"])
        return cls(**values)

    def write(self, folder: Path) -> Path:
        """run.json in `folder`; the record is checked against the schema before it is written."""
        data = self.to_json()
        RunMeta.from_json(data, where=f"{folder / FILE} (about to be written)")
        path = folder / FILE
        path.write_text(json.dumps(data, indent=2) + "\n")
        return path

    @classmethod
    def read(cls, folder: Path) -> RunMeta:
        """The RunMeta of `folder`; RunMetaError when run.json is missing, not JSON or not of the
        schema."""
        path = folder / FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise RunMetaError(f"{path}: missing; a run folder records its run in {FILE}") from None
        except ValueError as e:
            raise RunMetaError(f"{path}: not valid JSON ({e})") from None
        return cls.from_json(data, where=str(path))


@cache
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return schema


def _explain(error: jsonschema.ValidationError) -> str:
    """The wrong field and what the schema allows there."""
    where = "/".join(str(p) for p in error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "required":
        missing = str(error.message).split("'")[1]
        prop = schema.get("properties", {}).get(missing, {})
        if "$ref" in prop:
            prop = _schema()["$defs"][prop["$ref"].rsplit("/", 1)[1]]
        name = f"{where}/{missing}" if where else missing
        return (
            f"field {name!r} is missing; allowed: {prop.get('description', 'see run.schema.json')}"
        )
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(schema.get("properties", {})))
        known = ", ".join(schema.get("properties", {}))
        names = ", ".join(repr(f"{where}/{x}" if where else x) for x in extra)
        return (
            f"{'fields' if len(extra) > 1 else 'field'} {names} "
            f"{'are' if len(extra) > 1 else 'is'} not part of {where or FILE}; allowed fields: {known}"
        )
    if error.validator == "type" and not where:
        return f"expected a JSON object, got {type(error.instance).__name__}"
    allowed = schema.get("description") or json.dumps(
        {k: v for k, v in schema.items() if k != "$comment"}
    )
    return f"field {where!r} is {json.dumps(error.instance)}; allowed: {allowed}"


def utc_stamp(moment: datetime) -> str:
    """The form run.json keeps times in: UTC to the millisecond, `2026-05-01T12:00:00.000Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def git_state(repo: Path) -> tuple[str, bool]:
    """The revision checked out in `repo` ("unknown" outside a git tree) and whether tracked files
    differ from it."""

    def git(*args: str) -> str | None:
        try:
            p = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return p.stdout.strip() if p.returncode == 0 else None

    return git("rev-parse", "HEAD") or "unknown", bool(
        git("status", "--porcelain", "--untracked-files=no")
    )


def generator() -> str:
    """The machine that generated the load."""
    return os.uname().nodename
