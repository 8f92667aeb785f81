"""Run the mesh: k6 (loadtests/mesh/mesh.js) against every ordered pair, then mesh.json and the
report into a run folder `<results>/<UTC time>-mesh/`."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from loadtests.core import durations, tools
from loadtests.core.run import MeshLoad, RunMeta, generator, git_state, utc_stamp

from . import report
from .matrix import Mesh, from_summary

HERE = Path(__file__).resolve().parent
# Beside this package, not in loadtests/k6: that folder is the list of load profiles.
SCRIPT = HERE / "mesh.js"


class MeshError(RuntimeError):
    pass


def run_folder(results: Path) -> Path:
    folder = results / (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-mesh")
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def measure(
    peers: dict[str, str],
    *,
    rate: int,
    duration: str,
    folder: Path,
    k6: str,
    runner: Callable[[Sequence[str], dict[str, str], float], int] | None = None,
    timeout: float | None = None,
) -> Mesh:
    """Runs k6 once for every pair at `rate`/s for `duration`; `runner(argv, env, timeout)` runs
    it somewhere else (inside a namespace) and returns its exit code."""
    summary = folder / "summary.json"
    env = {
        "MESH_PEERS": ",".join(f"{n}={u}" for n, u in peers.items()),
        "MESH_RATE": str(rate),
        "MESH_DURATION": duration,
        "MESH_SUMMARY": str(summary),
        "MESH_RECORDS": "1",
        "K6_NO_USAGE_REPORT": "true",
    }
    # One line per request (mesh.js's console.log) in requests.jsonl: which failed, and when.
    argv = [
        k6, "run", "--quiet", "--log-output", f"file={folder / 'k6.log'}", "--log-format", "raw",
        "--console-output", str(folder / "requests.jsonl"), str(SCRIPT),
    ]  # fmt: skip
    # Bounded: the duration plus start-up and the last requests' timeout.
    bound = timeout or (seconds(duration) + 90)
    revision, dirty = git_state(tools.REPO)
    RunMeta(
        profile="mesh",
        start_utc=utc_stamp(datetime.now(UTC)),
        tool="k6",
        k6_path=k6,
        git_revision=revision,
        git_dirty=dirty,
        generator=generator(),
        mesh=MeshLoad(dict(peers), rate, duration),
    ).write(folder)
    if runner is None:
        rc = subprocess.run(argv, env={**os.environ, **env}, timeout=bound).returncode
    else:
        rc = runner(argv, env, bound)
    if not summary.exists():
        raise MeshError(f"k6 exited {rc} without a summary; see {folder / 'k6.log'}")
    return from_summary(json.loads(summary.read_text()))


def seconds(d: str) -> float:
    """Seconds of a MESH_DURATION (the lab's one duration grammar, which k6 reads too)."""
    try:
        return durations.seconds(d)
    except ValueError:
        raise MeshError(
            f"MESH_DURATION={d!r}; allowed: a duration such as 30s, 500ms or 1m30s"
        ) from None


def finish(mesh: Mesh, folder: Path) -> None:
    mesh.write(folder / "mesh.json")
    report.write(mesh, folder)
