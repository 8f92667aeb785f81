"""How long instances took to start, read back from platform.jsonl: `python -m loadtests.localplatform starts`.

Per instance: `requested → ready` (the whole start as the platform saw it), `requested → running`
(the process spawned; for a container: pulled, created and running), `pull`, and the cold start
configured (COLD_START, delay-echo's --startup-delay, which `ready` includes). By default only the
instances started during the load count (reason `scale_out`): the warm ones start before it, the
first of them pulling a fresh image. Phase times are the watch loop's, a 0.1 s poll late at most
(more on a busy machine), for both runtimes alike.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

from loadtests.core.events import read


def starts(paths: list[Path], warm: bool = False) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        log = path / "platform.jsonl" if path.is_dir() else path
        events = read(log)
        runtime = next(
            (
                e.get("runtime", {}).get("name", "process")
                for e in events
                if e["event"] == "platform"
            ),
            "process",
        )
        phases: dict[str, dict[str, dict[str, Any]]] = {}
        for e in events:
            if "instance" in e and isinstance(e["instance"], str):
                phases.setdefault(e["instance"], {}).setdefault(e["event"], e)
        for name, ph in phases.items():
            req, ready = ph.get("requested"), ph.get("ready")
            if req is None or ready is None or (req.get("reason") != "scale_out" and not warm):
                continue
            running = ph.get("started")
            rows.append(
                {
                    "run": log.parent.name,
                    "instance": name,
                    "runtime": req.get("runtime", runtime),
                    "requested_to_ready_s": round(ready["time"] - req["time"], 3),
                    "requested_to_running_s": round(running["time"] - req["time"], 3)
                    if running
                    else None,
                    "pull_s": ph.get("pulled", {}).get("pull_s"),
                    # As delay-echo drew it (runs before it drew its own: as requested).
                    "cold_start_s": next(
                        (
                            ph[p]["cold_start_s"]
                            for p in ("listening", "ready", "requested")
                            if "cold_start_s" in ph.get(p, {})
                        ),
                        None,
                    ),
                }
            )
    return rows


def print_starts(paths: list[Path], warm: bool = False, out: Any = None) -> int:
    out = out or sys.stdout
    rows = starts(paths, warm)
    if not rows:
        print("no instance started and became ready in these runs", file=sys.stderr)
        return 1
    cols = ["run", "instance", "runtime", "requested_to_ready_s", "requested_to_running_s"]
    cols += ["pull_s", "cold_start_s"]
    print("\t".join(cols), file=out)
    for r in rows:
        print("\t".join("-" if r[c] is None else str(r[c]) for c in cols), file=out)
    for runtime in sorted({r["runtime"] for r in rows}):
        sel = [r for r in rows if r["runtime"] == runtime]
        line = f"{runtime}: {len(sel)} starts"
        for c in ("requested_to_ready_s", "requested_to_running_s", "pull_s"):
            xs = [r[c] for r in sel if r[c] is not None]
            if xs:
                line += (
                    f"; {c.removesuffix('_s')} median {statistics.median(xs):.3f} s"
                    f" (min {min(xs):.3f}, max {max(xs):.3f})"
                )
        print(line, file=out)
    return 0
