"""The mesh CLI (make mesh, make mesh-local).

    python -m loadtests.mesh run   (--peers name=url,... | --file FILE | --terraform JSON) [--rate N] [--duration 30s]
    python -m loadtests.mesh local [--regions eu,us,ap] [--delays MATRIX] [--client-delay MS] [--rate N] [--duration 10s]
                                   [--floor-duration 2s] [--no-awake]

Exit codes: 0 done, 1 a pair answered errors only or k6 failed, 2 bad input (or no root for local).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..netlab import NetlabError, TopologyError
from . import peers as peers_mod
from .matrix import MatrixError, parse_delays
from .run import MeshError, finish, measure, run_folder

REPO = Path(__file__).resolve().parents[2]


def _k6(arg: str | None) -> str:
    return arg or os.environ.get("K6") or str(REPO / ".venv" / "bin" / "k6")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m loadtests.mesh",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("run", "local"):
        s = sub.add_parser(name)
        s.add_argument("--rate", type=int, default=10, help="requests per second per ordered pair")
        s.add_argument("--duration", default="30s" if name == "run" else "10s")
        s.add_argument("--results", type=Path, default=REPO / "loadtests" / "results")
        s.add_argument("--k6", help="k6 binary (default $K6, else the venv's)")
        if name == "run":
            s.add_argument("--peers", help="name=url,name=url")
            s.add_argument("--file", type=Path, help="one `name url` a line")
            s.add_argument(
                "--terraform",
                type=Path,
                help="`terraform output -json` (or of service_urls) saved to a file",
            )
        else:
            s.add_argument("--regions", default="eu,us,ap")
            s.add_argument(
                "--delays",
                default="eu/us=5,eu/ap=12,us/ap=20",
                help="one-way delays in ms: rows `0,5;5,0` or pairs `a/b=5,a>b=7`",
            )
            s.add_argument(
                "--client-delay",
                type=float,
                default=1.0,
                help="one-way delay client <-> every region, ms",
            )
            s.add_argument(
                "--delay-echo",
                type=Path,
                default=Path(
                    os.environ.get("DELAY_ECHO_BIN") or REPO / "target" / "release" / "delay-echo"
                ),
            )
            s.add_argument(
                "--link",
                type=Path,
                default=Path(
                    os.environ.get("DELAY_ECHO_LINK_BIN")
                    or REPO / "target" / "release" / "delay-echo-link"
                ),
                help="the user-space link's binary, where the kernel has no netem"
                " (default $DELAY_ECHO_LINK_BIN, else target/release/delay-echo-link)",
            )
            s.add_argument(
                "--jitter",
                type=float,
                default=0.0,
                help="jitter of every region-region link, ms (delay +- jitter)",
            )
            s.add_argument("--mechanism", choices=["auto", "netem", "userspace"], default="auto")
            s.add_argument(
                "--floor-duration",
                default="2s",
                help="the floor pass (every region delay 0 ms) first, this long; 0 skips it",
            )
            s.add_argument(
                "--awake",
                action=argparse.BooleanOptionalAction,
                default=True,
                help="hold idle CPUs polling while the lab is up (netlab's awake)",
            )
    a = p.parse_args(argv)
    if not 1 <= a.rate <= 1000:
        print(
            f"mesh: --rate {a.rate}; allowed: 1 to 1000 requests per second per pair",
            file=sys.stderr,
        )
        return 2
    try:
        if a.cmd == "run":
            given = [x for x in (a.peers, a.file, a.terraform) if x]
            if len(given) != 1:
                raise peers_mod.PeersError(
                    "give exactly one of PEERS=name=url,..., MESH_FILE=<file> or MESH_TF=<terraform output json>"
                )
            if a.peers:
                peers = peers_mod.parse_pairs(a.peers)
            elif a.file:
                peers = peers_mod.parse_file(a.file)
            elif a.terraform:
                peers = peers_mod.parse_terraform(a.terraform.read_text())
            else:
                peers = peers_mod.from_terraform_dir(
                    a.terraform_dir, os.environ.get("TERRAFORM", "terraform")
                )
            folder = run_folder(a.results)
            mesh = measure(peers, rate=a.rate, duration=a.duration, folder=folder, k6=_k6(a.k6))
            finish(mesh, folder)
            print((folder / "report.md").read_text())
            print(f"report: {folder / 'report.md'}")
        else:
            from .local import rehearse

            regions = [r.strip() for r in a.regions.split(",") if r.strip()]
            delays = parse_delays(a.delays, regions)
            mesh, folder = rehearse(
                regions, delays, client_ms=a.client_delay, jitter_ms=a.jitter, rate=a.rate, duration=a.duration,
                results=a.results, k6=_k6(a.k6), delay_echo=a.delay_echo, link_bin=a.link, mechanism=a.mechanism,
                floor_duration=None if a.floor_duration in ("", "0") else a.floor_duration,
                awake=a.awake,
            )  # fmt: skip
    except (peers_mod.PeersError, MatrixError, TopologyError, NetlabError, OSError) as e:
        print(f"mesh: {e}", file=sys.stderr)
        return 2
    except MeshError as e:
        print(f"mesh: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mesh: interrupted", file=sys.stderr)
        return 130
    broken = [f"{p.src}>{p.dst}" for p in mesh.pairs if p.stats.n == 0]
    if broken:
        print(f"mesh: no answer with network_ms for {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
