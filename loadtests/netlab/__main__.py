"""The netlab command line (the work is in commands.py).

    python -m loadtests.netlab check
    python -m loadtests.netlab up TOPOLOGY.json [--hold SECONDS] [-- COMMAND ...]
    python -m loadtests.netlab cleanup [--all] [--prefix netlab]

`up` prints the hosts and addresses (JSON with --json), then runs COMMAND beside the lab with
NETLAB_NS_<HOST> and NETLAB_ADDR_<HOST> set (e.g. `ip netns exec "$NETLAB_NS_USER" curl ...`), or
holds it until Ctrl-C, SIGTERM or --hold seconds; then removes everything. Every setting is a
flag with an environment twin (the flag wins; --help names it). Exit codes: 0 done, 2 bad input or missing
root/iproute2, otherwise COMMAND's.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from loadtests.core import flags, tools

from . import commands
from .lab import PREFIX


def main(argv: list[str] | None = None) -> int:
    env = dict(os.environ)
    p = argparse.ArgumentParser(
        prog="python -m loadtests.netlab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check", help="say whether root, iproute2 and netem are there")
    up = sub.add_parser("up", help="bring a topology up, run a command beside it (or hold)")
    up.add_argument("topology", type=Path, help="topology JSON file (see README.md)")
    flags.add(up, "--mechanism", "NETLAB_MECHANISM", env, help=f"link delays: {', '.join(commands.MECHANISMS)}", default="auto", type=commands.mechanism)  # fmt: skip
    up.add_argument("--json", action="store_true", help="print the hosts as JSON")
    flags.add(up, "--hold", "NETLAB_HOLD", env, help="seconds to hold the lab without a command (0: until Ctrl-C)", default=0.0, type=float)  # fmt: skip
    flags.add(up, "--log-dir", "NETLAB_LOG_DIR", env, help="where the lab's processes write their output", type=Path)  # fmt: skip
    flags.add(up, "--link", "DELAY_ECHO_LINK_BIN", env, help="the user-space link's binary", default=tools.link(env).path, type=Path)  # fmt: skip
    cl = sub.add_parser("cleanup", help="remove namespaces of runs whose process is gone")
    flags.add(cl, "--prefix", "NETLAB_PREFIX", env, help="the namespaces' prefix", default=PREFIX)
    cl.add_argument("--all", action="store_true", help="also remove those of runs still alive")
    argv = sys.argv[1:] if argv is None else argv
    # Everything after `--` is the command to run beside the lab.
    split = argv.index("--") if "--" in argv else len(argv)
    a = p.parse_args(argv[:split])
    if a.cmd == "check":
        return commands.guarded(commands.check)
    if a.cmd == "cleanup":
        return commands.guarded(lambda: commands.remove_leftovers(a.prefix, a.all))
    return commands.guarded(
        lambda: commands.up(
            a.topology, mechanism=a.mechanism, as_json=a.json, hold=a.hold,
            log_dir=a.log_dir, link=a.link, command=argv[split + 1 :],
        )
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
