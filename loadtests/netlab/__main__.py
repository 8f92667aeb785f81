"""The netlab CLI: check what this machine offers, bring a topology up, remove leftovers.

    python -m loadtests.netlab check
    python -m loadtests.netlab up TOPOLOGY.json [--hold SECONDS] [-- COMMAND ...]
    python -m loadtests.netlab cleanup [--all] [--prefix netlab]

`up` prints the hosts and addresses (JSON with --json), then runs COMMAND beside the lab with
NETLAB_NS_<HOST> and NETLAB_ADDR_<HOST> set (e.g. `ip netns exec "$NETLAB_NS_USER" curl ...`), or
holds it until Ctrl-C, SIGTERM or --hold seconds; then removes everything. Exit codes: 0 done,
2 bad input or missing root/iproute2, otherwise COMMAND's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .lab import PREFIX, Lab, NetlabError, check_prerequisites, cleanup, hosts_env, netem_available
from .topology import Topology, TopologyError


def _check() -> int:
    check_prerequisites()
    ns = f"{PREFIX}-{os.getpid()}-check.probe"
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    try:
        works, why = netem_available(ns)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    if works:
        print("netlab: root and iproute2 present; link delays by tc netem")
    else:
        print(
            f"netlab: root and iproute2 present; no netem in this kernel ({why}): link delays by the user-space link (delay-echo-link)"
        )
    return 0


def _up(args: argparse.Namespace) -> int:
    topo = Topology.load(Path(args.topology))
    command = args.command
    with Lab(
        topo, mechanism=args.mechanism, log_dir=Path(args.log_dir) if args.log_dir else None
    ) as lab:
        if args.json:
            hosts = {
                h.name: {"namespace": h.namespace, "address": h.address, "ports": list(h.ports)}
                for h in lab.hosts.values()
            }
            print(
                json.dumps(
                    {"mechanism": lab.mechanism, "run": lab.run_id, "hosts": hosts}, indent=2
                ),
                flush=True,
            )
        else:
            print(lab.describe(), flush=True)
        if command:
            return subprocess.run(command, env={**os.environ, **dict(hosts_env(lab))}).returncode
        deadline = time.monotonic() + args.hold if args.hold else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m loadtests.netlab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser(
        "check", help="say whether root, iproute2 and netem are there, and which link delay is used"
    )
    up = sub.add_parser(
        "up", help="bring a topology up, run a command beside it (or hold), remove it"
    )
    up.add_argument("topology", help="topology JSON file (see README.md)")
    up.add_argument("--mechanism", choices=["auto", "netem", "userspace"], default="auto")
    up.add_argument("--json", action="store_true", help="print the hosts as JSON")
    up.add_argument(
        "--hold",
        type=float,
        default=0,
        help="seconds to hold the lab without a command (0: until Ctrl-C)",
    )
    up.add_argument("--log-dir", help="where the lab's processes write their output")
    cl = sub.add_parser(
        "cleanup", help="remove leftover namespaces (of runs whose process is gone)"
    )
    cl.add_argument("--prefix", default=PREFIX)
    cl.add_argument("--all", action="store_true", help="also remove those of runs still alive")
    argv = sys.argv[1:] if argv is None else argv
    # Everything after `--` is the command to run beside the lab.
    command = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = p.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    args.command = command
    try:
        if args.cmd == "check":
            return _check()
        if args.cmd == "up":
            return _up(args)
        cleanup(args.prefix, everything=args.all)
        return 0
    except (NetlabError, TopologyError) as e:
        print(f"netlab: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("netlab: interrupted; everything was removed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
