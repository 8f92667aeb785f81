"""An event log: one JSON object per line, written as it happens, so a run cut short keeps its log.

Every line has `time` (Unix epoch seconds, the clock of k6's samples, so a report can place it on
the run's axis), `utc` and `event`. The local platform's platform.jsonl is one (its events:
loadtests/localplatform/README.md and platform.py); the emulated networks' faults.jsonl another
(loadtests/netlab/faults.py). Faults are `fault_…` events with the fault's `fault` number (its
place in FAULTS), `kind` and `spec` in both.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO


class EventLog:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._f: TextIO = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())

    def write(self, event: str, when: float | None = None, **fields: Any) -> float:
        """Appends one event (at `when`, default now) and returns its time."""
        t = round(time.time() if when is None else when, 3)
        rec = {
            "time": t,
            "utc": datetime.fromtimestamp(t, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "event": event,
            **fields,
        }
        line = json.dumps(rec, separators=(",", ":"), default=str)
        with self._lock:
            self._f.write(line + "\n")
            self._f.flush()
        return t

    def close(self) -> None:
        with self._lock:
            self._f.close()


def read(path: Path) -> list[dict[str, Any]]:
    """Every event of an event log, in order."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
