"""The mesh's two commands as functions: `deployed` measures deployed regions (peers from a list,
a file, a saved Terraform output or a Terraform root), `rehearsal` the emulated mesh (local.py).
Each returns the Mesh and its run folder; bad input raises PeersError, MatrixError, TopologyError
or NetlabError (exit 2 in `python -m loadtests.mesh`), a failed measurement MeshError (exit 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from . import peers as peers_mod
from .local import rehearse
from .matrix import Mesh, parse_delays
from .run import finish, measure, run_folder

RATES = range(1, 1001)


def check_rate(rate: int) -> None:
    if rate not in RATES:
        raise peers_mod.PeersError(
            f"--rate {rate}; allowed: 1 to 1000 requests per second per pair"
        )


def deployed(
    *,
    pairs: str | None,
    file: Path | None,
    terraform_output: Path | None,
    terraform_dir: Path | None,
    terraform: str,
    rate: int,
    duration: str,
    results: Path,
    k6: str,
) -> tuple[Mesh, Path]:
    """Exactly one source of peers (a Terraform root only when no other is given); the mesh
    measured and reported in a new run folder."""
    check_rate(rate)
    given = [x for x in (pairs, file, terraform_output) if x]
    if len(given) > 1 or not (given or terraform_dir):
        raise peers_mod.PeersError(
            "give exactly one of PEERS=name=url,..., MESH_FILE=<file> or MESH_TF=<terraform output json>"
        )
    if pairs:
        peers = peers_mod.parse_pairs(pairs)
    elif file:
        peers = peers_mod.parse_file(file)
    elif terraform_output:
        peers = peers_mod.parse_terraform(terraform_output.read_text())
    else:
        assert terraform_dir is not None
        peers = peers_mod.from_terraform_dir(terraform_dir, terraform)
    folder = run_folder(results)
    mesh = measure(peers, rate=rate, duration=duration, folder=folder, k6=k6)
    finish(mesh, folder)
    return mesh, folder


def rehearsal(
    *,
    regions: str,
    delays: str,
    client_ms: float,
    jitter_ms: float,
    rate: int,
    duration: str,
    floor_duration: str,
    results: Path,
    k6: str,
    delay_echo: Path,
    link: Path,
    mechanism: Literal["auto", "netem", "userspace"],
    awake: bool,
    faults: str = "",
) -> tuple[Mesh, Path]:
    """The emulated mesh with these regions and one-way delays (floor pass first unless
    `floor_duration` is 0)."""
    check_rate(rate)
    names = [r.strip() for r in regions.split(",") if r.strip()]
    return rehearse(
        names, parse_delays(delays, names), client_ms=client_ms, jitter_ms=jitter_ms, rate=rate,
        duration=duration, results=results, k6=k6, delay_echo=delay_echo, link_bin=link,
        mechanism=mechanism, floor_duration=None if floor_duration in ("", "0") else floor_duration,
        awake=awake, faults=faults,
    )  # fmt: skip


def unanswered(mesh: Mesh) -> list[str]:
    """The ordered pairs that gave no answer with network_ms."""
    return [f"{p.src}>{p.dst}" for p in mesh.pairs if p.stats.n == 0]
