"""The measured matrix (from k6's summary) and the configured one (for the rehearsal), as data.

mesh.json is `Mesh.to_json()`: per ordered pair n, errors and p50/p90/p99/max of `network_ms`,
and per region the client's own network time to it (its round trip minus the region's total).
A rehearsal adds the configured round trip per pair (`configured_round_trip_ms`) and the lab's
own floor (`floor_ms`: p50 `network_ms` of the same path with 0 ms configured, measured first in
the same run, for `floor_duration`); a deployed mesh has `null` for all three.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# A rehearsal's ground truth: each pair's p50 within this of its configured round trip plus the
# lab's floor (issue 11 set it; issue 18 added the floor, not a wider tolerance).
TOLERANCE_MS = 1.0


class MatrixError(ValueError):
    """A delay matrix that cannot be used, with what is allowed."""


@dataclass(frozen=True)
class Stats:
    n: int
    errors: int
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None


@dataclass(frozen=True)
class Pair:
    src: str
    dst: str
    stats: Stats


@dataclass
class Mesh:
    regions: list[str]
    rate: int
    duration: str
    pairs: list[Pair]
    client: dict[str, Stats]
    # Configured round trip per "a>b" (ms), when the network was emulated.
    configured: dict[str, float] = field(default_factory=dict)
    mechanism: str | None = None
    # The lab's own time per "a>b" (ms): p50 network_ms of the same path with 0 ms configured.
    floor: dict[str, float] = field(default_factory=dict)
    floor_duration: str | None = None
    # Whether the emulated network's idle CPUs were held awake (netlab's `awake`).
    awake: bool | None = None
    # Whether its links and instances ran at real-time priority (netlab's `realtime`).
    realtime: bool | None = None
    # The same matrix from the servers' own records (records.parquet, latency_matrix.sql): p50
    # network_ms per "a>b" as the sending instance measured it; a rehearsal only.
    servers: dict[str, float] = field(default_factory=dict)
    # MESH_FAULTS: what the clients felt during each (timeline.analyse), else empty.
    faults: dict[str, Any] = field(default_factory=dict)

    def pair(self, src: str, dst: str) -> Stats:
        for p in self.pairs:
            if (p.src, p.dst) == (src, dst):
                return p.stats
        raise KeyError(f"{src}>{dst}")

    def expected(self, src: str, dst: str) -> float:
        """What a rehearsal should measure for src>dst: the configured round trip plus the
        lab's floor for that pair (0 when no floor was measured)."""
        key = f"{src}>{dst}"
        return self.configured[key] + self.floor.get(key, 0.0)

    def off(self, src: str, dst: str) -> float | None:
        """Measured p50 minus `expected` (None without a p50)."""
        p50 = self.pair(src, dst).p50
        return None if p50 is None else p50 - self.expected(src, dst)

    def to_json(self) -> dict[str, Any]:
        return {
            "regions": self.regions,
            "rate": self.rate,
            "duration": self.duration,
            "mechanism": self.mechanism,
            "pairs": [{"src": p.src, "dst": p.dst, **asdict(p.stats)} for p in self.pairs],
            "client": {r: asdict(s) for r, s in self.client.items()},
            "configured_round_trip_ms": self.configured or None,
            "floor_ms": self.floor or None,
            "floor_duration": self.floor_duration,
            "cpus_awake": self.awake,
            "realtime": self.realtime,
            "servers_p50_ms": self.servers or None,
            "faults": self.faults or None,
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")


def _stats(metrics: dict[str, Any], trend: str, errors: str | None) -> Stats:
    values = metrics.get(trend, {}).get("values", {})
    err = int(metrics.get(errors, {}).get("values", {}).get("count", 0)) if errors else 0
    n = int(values.get("count", 0))

    def v(key: str) -> float | None:
        return float(values[key]) if n and key in values else None

    return Stats(n=n, errors=err, p50=v("med"), p90=v("p(90)"), p99=v("p(99)"), max=v("max"))


def from_summary(summary: dict[str, Any]) -> Mesh:
    """Reads what loadtests/mesh/mesh.js's handleSummary wrote."""
    names = [p["name"] for p in summary["peers"]]
    metrics = summary["metrics"]
    pairs = [
        Pair(a, b, _stats(metrics, f"mesh_network_{i}_{j}", f"mesh_errors_{i}_{j}"))
        for i, a in enumerate(names)
        for j, b in enumerate(names)
        if i != j
    ]
    client = {a: _stats(metrics, f"mesh_client_{i}", None) for i, a in enumerate(names)}
    return Mesh(names, int(summary["rate"]), str(summary["duration"]), pairs, client)


def parse_delays(text: str, regions: list[str]) -> dict[tuple[str, str], float]:
    """A one-way delay matrix in ms, either as rows in REGIONS order (`0,5,12;5,0,20;12,20,0`,
    row = from, column = to) or as pairs (`eu/us=5,eu/ap=12` both ways, `eu>us=5` one way).
    Returns every ordered pair of distinct regions (a pair not given is an error)."""
    out: dict[tuple[str, str], float] = {}

    def ms(s: str, what: str) -> float:
        try:
            v = float(s)
        except ValueError:
            raise MatrixError(
                f"MESH_DELAYS: {what} = {s!r} is not a number of milliseconds"
            ) from None
        if not 0 <= v <= 60_000:
            raise MatrixError(f"MESH_DELAYS: {what} = {v:g}; allowed: 0 to 60000 ms")
        return v

    if "=" in text:
        for item in filter(None, (s.strip() for s in text.split(","))):
            key, _, value = item.partition("=")
            sep = ">" if ">" in key else "/"
            a, _, b = (s.strip() for s in key.partition(sep))
            for r in (a, b):
                if r not in regions:
                    raise MatrixError(
                        f"MESH_DELAYS: {item!r} names {r!r}, not one of REGIONS ({', '.join(regions)})"
                    )
            out[(a, b)] = ms(value, key)
            if sep == "/":
                out[(b, a)] = out[(a, b)]
    else:
        rows = [r for r in text.split(";") if r.strip()]
        if len(rows) != len(regions):
            raise MatrixError(
                f"MESH_DELAYS has {len(rows)} rows for {len(regions)} regions; allowed: one row per region, columns split by ',', rows by ';'"
            )
        for i, row in enumerate(rows):
            cells = row.split(",")
            if len(cells) != len(regions):
                raise MatrixError(
                    f"MESH_DELAYS row {i + 1} has {len(cells)} columns for {len(regions)} regions"
                )
            for j, cell in enumerate(cells):
                if i != j:
                    out[(regions[i], regions[j])] = ms(cell.strip(), f"{regions[i]}>{regions[j]}")
    missing = [f"{a}>{b}" for a in regions for b in regions if a != b and (a, b) not in out]
    if missing:
        raise MatrixError(f"MESH_DELAYS gives no delay for {', '.join(missing)}")
    return out
