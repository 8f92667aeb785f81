"""The rehearsal (make mesh-local): one namespace per region plus one for the client, links with
the configured one-way delays, one delay-echo per region (--region, a --peer for every other
region), the mesh measured from the client namespace, and the configured and measured matrices
side by side. Everything it creates is removed on the way out (loadtests/netlab's guarantee).

The floor: the lab's links are processes and its endpoints wake up on a shared machine, so a
pair's `network_ms` is its configured round trip plus the time the same path takes with nothing
configured, and that time depends on the machine (0.3 ms on one, 0.7 on another). So a
rehearsal first runs a short pass of the same lab with every region delay 0 ms (`floor_duration`),
and judges each pair against configured + that pair's floor, measured in the same run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from ..netlab import Host, Lab, Link, Topology
from . import report
from .matrix import MatrixError, Mesh
from .run import MeshError, finish, measure, run_folder, seconds

PORT = 8080
CLIENT = "client"
# The floor pass: long enough for a steady p50 (40 exchanges a pair at 20/s), short enough to
# add only a few seconds.
FLOOR_DURATION = "2s"


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


def _pass(
    regions: list[str],
    delays: dict[tuple[str, str], float],
    *,
    client_ms: float,
    jitter_ms: float,
    rate: int,
    duration: str,
    folder: Path,
    k6: str,
    delay_echo: Path,
    link_bin: Path | None,
    mechanism: Literal["auto", "netem", "userspace"],
    awake: bool,
    say: Callable[[str], None],
) -> Mesh:
    """One lab with these delays, one delay-echo per region, the mesh measured from the client;
    the lab is gone when this returns."""
    topo = topology(regions, delays, client_ms, jitter_ms)
    # awake: the delays are a ground truth, and idle CPUs' wake-ups are the machine's, not the
    # network's (they cost more after a pass's long holds than in the floor pass's short ones).
    lab = Lab(topo, mechanism=mechanism, link_bin=link_bin, log_dir=folder / "logs", awake=awake)
    with lab:
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
        mesh.awake = lab.awake
        mesh.realtime = lab.realtime
    return mesh


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
    link_bin: Path | None = None,
    mechanism: Literal["auto", "netem", "userspace"] = "auto",
    floor_duration: str | None = FLOOR_DURATION,
    awake: bool = True,
    say: Callable[[str], None] = print,
) -> tuple[Mesh, Path]:
    """The floor pass (every region delay 0, for `floor_duration`; None skips it), then the
    configured pass; mesh.json and the report in a new run folder under `results`. `link_bin`:
    the user-space link's binary (None: netlab's default, $DELAY_ECHO_LINK_BIN)."""
    # A bad matrix or duration fails before any lab exists.
    topology(regions, delays, client_ms, jitter_ms)
    seconds(duration)
    if floor_duration:
        try:
            seconds(floor_duration)
        except MeshError:
            raise MeshError(
                f"MESH_FLOOR_DURATION={floor_duration!r}; allowed: a duration such as 2s or 500ms, or 0 for none"
            ) from None
    folder = run_folder(results)

    def run(d: dict[tuple[str, str], float], jitter: float, how_long: str, into: Path) -> Mesh:
        return _pass(
            regions, d, client_ms=client_ms, jitter_ms=jitter, rate=rate, duration=how_long,
            folder=into, k6=k6, delay_echo=delay_echo, link_bin=link_bin, mechanism=mechanism, awake=awake,
            say=say,
        )  # fmt: skip

    floor: dict[str, float] = {}
    if floor_duration:
        say(f"floor: the same lab with every region delay 0 ms, for {floor_duration}")
        (folder / "floor").mkdir()
        zero = run(dict.fromkeys(delays, 0.0), 0.0, floor_duration, folder / "floor")
        floor = {f"{p.src}>{p.dst}": p.stats.p50 for p in zero.pairs if p.stats.p50 is not None}
        if len(floor) != len(zero.pairs):
            missing = [f"{p.src}>{p.dst}" for p in zero.pairs if p.stats.p50 is None]
            raise MeshError(
                f"the floor pass had no answer for {', '.join(missing)}; see {folder / 'floor'}"
            )
    mesh = run(delays, jitter_ms, duration, folder)
    mesh.configured = {
        f"{a}>{b}": delays[(a, b)] + delays[(b, a)] for a in regions for b in regions if a != b
    }
    mesh.floor = floor
    mesh.floor_duration = floor_duration if floor else None
    finish(mesh, folder)
    say(
        "\np50 network_ms, measured (configured round trip):\n"
        + "\n".join(report.matrix_lines(mesh))
    )
    say("\n" + "\n".join(report.side_by_side(mesh)))
    say("\n" + (report.floor_line(mesh) + "\n" if floor else "") + report.verdict(mesh))
    say(f"\nreport: {folder / 'report.md'}")
    return mesh, folder
