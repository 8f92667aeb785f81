"""The rehearsal (make mesh-local): one namespace per region plus one for the client, links with
the configured one-way delays, one delay-echo per region (--region, a --peer for every other
region), the mesh measured from the client namespace, and the configured and measured matrices
side by side. Everything it creates is removed on the way out (loadtests/netlab's guarantee)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from ..netlab import Host, Lab, Link, Topology
from . import report
from .matrix import MatrixError, Mesh
from .run import finish, measure, run_folder

PORT = 8080
CLIENT = "client"


def topology(
    regions: list[str],
    delays: dict[tuple[str, str], float],
    client_ms: float,
    jitter_ms: float = 0.0,
) -> Topology:
    if CLIENT in regions:
        raise MatrixError(f"REGIONS may not name a region {CLIENT!r} (the client's namespace)")
    if len(set(regions)) != len(regions) or len(regions) < 2:
        raise MatrixError(f"REGIONS={','.join(regions)}; allowed: two or more distinct names")
    links = [Link(CLIENT, r, client_ms) for r in regions]
    for i, a in enumerate(regions):
        for b in regions[i + 1 :]:
            links.append(Link(a, b, delays[(a, b)], back_ms=delays[(b, a)], jitter_ms=jitter_ms))
    return Topology(
        hosts=(Host(CLIENT), *(Host(r, ports=(PORT,)) for r in regions)), links=tuple(links)
    )


def rehearse(
    regions: list[str],
    delays: dict[tuple[str, str], float],
    *,
    client_ms: float,
    jitter_ms: float = 0.0,
    rate: int,
    duration: str,
    results: Path,
    k6: str,
    delay_echo: Path,
    mechanism: Literal["auto", "netem", "userspace"] = "auto",
    say: Callable[[str], None] = print,
) -> tuple[Mesh, Path]:
    topo = topology(regions, delays, client_ms, jitter_ms)
    folder = run_folder(results)
    with Lab(topo, mechanism=mechanism, link_bin=delay_echo, log_dir=folder / "logs") as lab:
        for r in regions:
            peers = [a for b in regions if b != r for a in ("--peer", f"{b}={lab.url(b, PORT)}")]
            argv = [
                str(delay_echo),
                "--listen",
                f"0.0.0.0:{PORT}",
                "--region",
                r,
                "--instance-id",
                r,
            ]
            # Real-time priority: each instance times its leg, so its wake-ups are part of the truth.
            lab.run(
                r,
                [*argv, "--delay", "0", "--workers", "1", *peers],
                name="delay-echo",
                realtime=True,
            )
        for r in regions:
            lab.wait_tcp(r, PORT)
        say(lab.describe())
        mesh = measure(
            {r: lab.url(r, PORT) for r in regions},
            rate=rate,
            duration=duration,
            folder=folder,
            k6=k6,
            runner=lambda argv, env, t: (
                lab.exec(CLIENT, argv, timeout=t, check=False, env=env).returncode
            ),
        )
        mesh.mechanism = lab.mechanism
    mesh.configured = {
        f"{a}>{b}": delays[(a, b)] + delays[(b, a)] for a in regions for b in regions if a != b
    }
    finish(mesh, folder)
    say(
        "\np50 network_ms, measured (configured round trip):\n"
        + "\n".join(report.matrix_lines(mesh))
    )
    say("\n" + "\n".join(report.side_by_side(mesh)))
    say(f"\nreport: {folder / 'report.md'}")
    return mesh, folder
