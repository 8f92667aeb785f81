"""`delay-echo-mesh run|local` (make mesh, make mesh-local): the latency matrix of deployed regions,
or its rehearsal on an emulated network (commands.py). Every setting is a flag with an environment
twin (the flag wins). Exit codes: 0 done, 1 a pair answered errors only or k6 failed, 2 bad input
(or no root for local)."""

from __future__ import annotations

import os
import sys

from loadtests.core.faults import FaultSyntaxError
from loadtests.records.store import RecordsError

from ..netlab import NetlabError, TopologyError
from . import commands, settings
from .matrix import MatrixError
from .peers import PeersError
from .run import MeshError


def main(argv: list[str] | None = None) -> int:
    env = dict(os.environ)
    p = settings.parser(env, __doc__)
    a = p.parse_args(argv)
    try:
        if a.cmd == "run":
            mesh, folder = commands.deployed(
                pairs=a.peers, file=a.file, terraform_output=a.terraform, terraform_dir=a.terraform_dir,
                terraform=env.get("TERRAFORM", "terraform"), rate=a.rate, duration=a.duration, results=a.results, k6=a.k6,
            )  # fmt: skip
            print((folder / "report.md").read_text())
            print(f"report: {folder / 'report.md'}")
        else:
            mesh, folder = commands.rehearsal(
                regions=a.regions, delays=a.delays, client_ms=a.client_delay, jitter_ms=a.jitter, rate=a.rate,
                duration=a.duration, floor_duration=a.floor_duration, results=a.results, k6=a.k6,
                delay_echo=a.delay_echo, link=a.link, mechanism=a.mechanism, awake=a.awake,
                faults=a.faults,
            )  # fmt: skip
    except (PeersError, MatrixError, TopologyError, NetlabError, FaultSyntaxError, OSError) as e:
        print(f"mesh: {e}", file=sys.stderr)
        return 2
    except (MeshError, RecordsError) as e:
        print(f"mesh: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mesh: interrupted", file=sys.stderr)
        return 130
    if broken := commands.unanswered(mesh):
        print(f"mesh: no answer with network_ms for {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
