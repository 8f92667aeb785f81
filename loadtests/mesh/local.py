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

import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from loadtests.core.events import EventLog
from loadtests.records import queries
from loadtests.records.store import collect

from ..netlab import Host, Lab, Link, Topology
from ..netlab import faults as netfaults
from . import report, timeline
from .matrix import MatrixError, Mesh
from .run import MeshError, finish, measure, run_folder, seconds

PORT = 8080
CLIENT = "client"
# The floor pass: long enough for a steady p50 (40 exchanges a pair at 20/s), short enough to
# add only a few seconds.
FLOOR_DURATION = "2s"
# A leg takes milliseconds here; across a cut link (MESH_FAULTS' partition) the relay gives up
# after this, as a client in front of a real path would, so failures land within the fault's span.
PEER_TIMEOUT = "2s"


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


def parse_faults(text: str, regions: list[str]) -> tuple[netfaults.Fault, ...]:
    """MESH_FAULTS against the rehearsal's hosts (the regions and the client) and links (every
    pair of them)."""
    hosts = [CLIENT, *regions]
    return netfaults.parse_faults(text, hosts, lambda a, b: a != b and (a in hosts and b in hosts))


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
    faults: tuple[netfaults.Fault, ...] = (),
) -> Mesh:
    """One lab with these delays, one delay-echo per region, the mesh measured from the client
    (with `faults` applied at their times from k6's launch, logged in faults.jsonl); the lab is
    gone when this returns."""
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
                # Its records (docs/records.md) into its log, and from there to records.parquet.
                "--access-log",
            ]
            # Real-time priority: each instance times its leg, so its wake-ups are part of the truth.
            lab.run(
                r,
                [*argv, "--delay", "0", "--workers", "1", "--peer-timeout", PEER_TIMEOUT, *peers],
                name="delay-echo",
                realtime=True,
            )
        for r in regions:
            lab.wait_tcp(r, PORT)
        say(lab.describe())
        log = EventLog(folder / "faults.jsonl") if faults else None
        runner = netfaults.FaultRunner(faults, log, lab) if log else None

        def run_k6(argv: list[str], env: dict[str, str], t: float) -> int:
            if runner and log:
                # The load begins at k6's launch, as on the local platform: T counts from here.
                runner.start(time.monotonic(), log.write("load_start", faults=len(faults)))
            try:
                return lab.exec(CLIENT, argv, timeout=t, check=False, env=env).returncode
            finally:
                if runner and log:
                    runner.close()
                    log.write("load_end")
                    log.close()

        mesh = measure(
            {r: lab.url(r, PORT) for r in regions},
            rate=rate,
            duration=duration,
            folder=folder,
            k6=k6,
            runner=lambda argv, env, t: run_k6(list(argv), env, t),
        )
        mesh.mechanism = lab.mechanism
        mesh.awake = lab.awake
        mesh.realtime = lab.realtime
    # The lab is down: every instance has drained and its log is whole.
    collect([folder / "logs" / f"{r}-delay-echo.log" for r in regions], folder)
    mesh.servers = {
        f"{row['region']}>{row['peer']}": round(row["p50_ms"], 3)
        for row in queries.run(folder, "latency_matrix").records()
        if row["p50_ms"] is not None
    }
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
    faults: str = "",
) -> tuple[Mesh, Path]:
    """The floor pass (every region delay 0, for `floor_duration`; None skips it), then the
    configured pass; mesh.json and the report in a new run folder under `results`. `link_bin`:
    the user-space link's binary (None: netlab's default, $DELAY_ECHO_LINK_BIN)."""
    # A bad matrix, duration or fault fails before any lab exists.
    topology(regions, delays, client_ms, jitter_ms)
    seconds(duration)
    planned_faults = parse_faults(faults, regions) if faults.strip() else ()
    if floor_duration:
        try:
            seconds(floor_duration)
        except MeshError:
            raise MeshError(
                f"MESH_FLOOR_DURATION={floor_duration!r}; allowed: a duration such as 2s or 500ms, or 0 for none"
            ) from None
    folder = run_folder(results)

    def run(
        d: dict[tuple[str, str], float],
        jitter: float,
        how_long: str,
        into: Path,
        with_faults: tuple[netfaults.Fault, ...] = (),
    ) -> Mesh:
        return _pass(
            regions, d, client_ms=client_ms, jitter_ms=jitter, rate=rate, duration=how_long,
            folder=into, k6=k6, delay_echo=delay_echo, link_bin=link_bin, mechanism=mechanism, awake=awake,
            say=say, faults=with_faults,
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
    mesh = run(delays, jitter_ms, duration, folder, planned_faults)
    mesh.configured = {
        f"{a}>{b}": delays[(a, b)] + delays[(b, a)] for a in regions for b in regions if a != b
    }
    mesh.floor = floor
    mesh.floor_duration = floor_duration if floor else None
    mesh.faults = timeline.analyse(folder, CLIENT, rate, duration, len(mesh.pairs))
    finish(mesh, folder)
    say(
        "\np50 network_ms, measured (configured round trip):\n"
        + "\n".join(report.matrix_lines(mesh))
    )
    say("\n" + "\n".join(report.side_by_side(mesh)))
    say("\n" + (report.floor_line(mesh) + "\n" if floor else "") + report.verdict(mesh))
    if mesh.faults:
        say("\n" + "\n".join(timeline.markdown(mesh.faults)[:-3]))
    say(f"\nreport: {folder / 'report.md'}")
    return mesh, folder
