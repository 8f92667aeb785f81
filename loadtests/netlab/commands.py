"""What the netlab command line does (`__main__.py` only parses its arguments): check the machine,
bring a topology up and run a command beside it or hold it, remove leftovers. Each returns the
command's exit status: 0 done, 2 bad input or missing root/iproute2, 130 interrupted, otherwise
COMMAND's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, cast

from .lab import PREFIX, Lab, NetlabError, check_prerequisites, cleanup, hosts_env, netem_available
from .topology import Topology, TopologyError

MECHANISMS = ("auto", "netem", "userspace")


def mechanism(text: str) -> Literal["auto", "netem", "userspace"]:
    """--mechanism / NETLAB_MECHANISM, checked also when it comes from the variable (argparse
    checks `choices` only for what was typed)."""
    if text not in MECHANISMS:
        raise argparse.ArgumentTypeError(f"{text!r}; allowed: {', '.join(MECHANISMS)}")
    return cast(Literal["auto", "netem", "userspace"], text)


def guarded(command: Callable[[], int]) -> int:
    """Runs one command; a bad topology, a missing prerequisite or Ctrl-C becomes its exit status
    with one line saying why (the lab has already removed everything it made)."""
    try:
        return command()
    except (NetlabError, TopologyError) as e:
        print(f"netlab: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("netlab: interrupted; everything was removed", file=sys.stderr)
        return 130


def check() -> int:
    """Whether root, iproute2 and netem are here, and so which link delay a lab would use."""
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


def up(
    topology: Path,
    *,
    mechanism: Literal["auto", "netem", "userspace"],
    as_json: bool,
    hold: float,
    log_dir: Path | None,
    link: Path,
    command: Sequence[str],
) -> int:
    """Brings `topology` up, prints its hosts, runs `command` beside it with NETLAB_NS_<HOST> and
    NETLAB_ADDR_<HOST> set (or holds it for `hold` seconds, 0: until a signal), removes it."""
    topo = Topology.load(topology)
    with Lab(topo, mechanism=mechanism, link_bin=link, log_dir=log_dir) as lab:
        if as_json:
            hosts = {
                h.name: {"namespace": h.namespace, "address": h.address, "ports": list(h.ports)}
                for h in lab.hosts.values()
            }
            doc = {"mechanism": lab.mechanism, "run": lab.run_id, "hosts": hosts}
            print(json.dumps(doc, indent=2), flush=True)
        else:
            print(lab.describe(), flush=True)
        if command:
            env = {**os.environ, **dict(hosts_env(lab))}
            return subprocess.run(list(command), env=env).returncode
        deadline = time.monotonic() + hold if hold else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    return 0


def remove_leftovers(prefix: str, everything: bool) -> int:
    cleanup(prefix, everything=everything)
    return 0
