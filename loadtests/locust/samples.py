"""Per-request samples in the shape the analysis reads: k6's CSV output columns
(metric_name, timestamp, metric_value, status, extra_tags), timestamps in epoch milliseconds.

One answer becomes the rows a k6 run writes for it: `echo_latency` (client time, ms),
`echo_server_<part>` for each Server-Timing part, `echo_in_flight`, all tagged with the instance
that answered. The run's start is one `echo_run_start` row.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
from collections.abc import Iterable, Mapping
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import IO

HEADER = ("metric_name", "timestamp", "metric_value", "status", "extra_tags")
SERVER_PARTS = ("queue", "sleep", "cpu", "total")


@dataclass(frozen=True)
class Sample:
    """One answer as a worker saw it; small, so workers can ship thousands a second to the master."""

    end_ms: float  # epoch ms when the answer was complete
    latency_ms: float
    status: int  # 0: no answer (connection error, timeout)
    instance: str
    instance_start: str
    server: tuple[float | None, ...]  # Server-Timing parts in SERVER_PARTS order, None when absent
    in_flight: float | None

    def to_wire(self) -> list[object]:
        return list(astuple(self))

    @classmethod
    def from_wire(cls, row: list[object]) -> Sample:
        end_ms, latency_ms, status, instance, instance_start, server, in_flight = row
        return cls(
            float(end_ms),  # type: ignore[arg-type]
            float(latency_ms),  # type: ignore[arg-type]
            int(status),  # type: ignore[call-overload]
            str(instance),
            str(instance_start),
            tuple(server),  # type: ignore[arg-type]
            None if in_flight is None else float(in_flight),  # type: ignore[arg-type]
        )


def parse_server_timing(header: str | None) -> tuple[float | None, ...]:
    """The `dur` of each Server-Timing part the analysis uses, in SERVER_PARTS order."""
    found: dict[str, float] = {}
    for entry in (header or "").split(","):
        name, *params = (s.strip() for s in entry.split(";"))
        for p in params:
            if p.startswith("dur="):
                with contextlib.suppress(ValueError):
                    found[name] = float(p[4:])
    return tuple(found.get(p) for p in SERVER_PARTS)


def sample_from_answer(
    start_s: float, latency_ms: float, status: int, headers: Mapping[str, str]
) -> Sample:
    flight = headers.get("X-In-Flight")
    try:
        in_flight = float(flight) if flight is not None else None
    except ValueError:
        in_flight = None
    return Sample(
        end_ms=start_s * 1000.0 + latency_ms,
        latency_ms=latency_ms,
        status=status,
        instance=headers.get("X-Instance-Id") or "none",
        instance_start=headers.get("X-Instance-Start") or "none",
        server=parse_server_timing(headers.get("Server-Timing")),
        in_flight=in_flight,
    )


class SampleWriter:
    """Appends samples to raw.csv.gz as k6's CSV rows; one writer per run, on the master."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        # Open for the whole run (closed by close()): samples arrive over minutes, from many workers.
        self._file: IO[str] = gzip.open(path, "wt", newline="", compresslevel=5)  # noqa: SIM115
        self._csv = csv.writer(self._file)
        self._csv.writerow(HEADER)

    def run_start(self, epoch_s: float) -> None:
        self._csv.writerow(
            ("echo_run_start", f"{epoch_s * 1000:.0f}", f"{epoch_s * 1000:.3f}", "", "")
        )

    def write(self, samples: Iterable[Sample]) -> None:
        rows = []
        for s in samples:
            ts = f"{s.end_ms:.0f}"
            status = str(s.status)
            tags = f"instance={s.instance}&instance_start={s.instance_start}"
            rows.append(("echo_latency", ts, f"{s.latency_ms:.3f}", status, tags))
            for part, value in zip(SERVER_PARTS, s.server, strict=True):
                if value is not None:
                    rows.append((f"echo_server_{part}", ts, f"{value:.3f}", status, tags))
            if s.in_flight is not None:
                rows.append(("echo_in_flight", ts, f"{s.in_flight:g}", status, tags))
            self.count += 1
        self._csv.writerows(rows)

    def dropped(self, dropped: Iterable[tuple[float, int]]) -> None:
        """Slots a paced user could not use because it was still waiting (k6's dropped_iterations)."""
        self._csv.writerows(("dropped_iterations", f"{t:.0f}", str(n), "", "") for t, n in dropped)

    def close(self) -> None:
        self._file.close()
