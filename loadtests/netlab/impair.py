"""Impairments of a lab that is up: what the emulated networks' faults (faults.py) do.

A partition drops every packet between two hosts, in both hosts' namespaces (iptables, in each
direction, to and from the other's host and transport addresses): TCP sees the silent loss of a
cut link, so open connections stall and new ones wait for their SYN's answer, whatever the delay
mechanism. Healing deletes exactly those rules and TCP carries on. A degrade adds delay to both
directions of a link: netem's qdisc changed in place, or the user-space link told through its
`--control` file and a SIGHUP, which it answers in its log once the delay is in force.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .lab import Lab, NetlabError, _tc

# How long a user-space link may take to answer a SIGHUP (it reads one small file).
CONTROL_TIMEOUT = 5.0
_ACK = re.compile(r"^(extra .+|control refused: .+)$", re.M)


def require_iptables() -> None:
    if shutil.which("iptables") is None:
        raise NetlabError(
            "a partition needs iptables (not found on PATH); on Debian: apt-get install iptables"
        )


def _rules(lab: Lab, a: str, b: str) -> list[tuple[str, list[str]]]:
    """(namespace, rule) for every rule of a partition between a and b."""
    out = []
    for here, there in ((a, b), (b, a)):
        ns, far = lab.namespace(here), lab.hosts[there]
        for addr in (far.address, far.transport):
            out.append((ns, ["OUTPUT", "-d", f"{addr}/32", "-j", "DROP"]))
            out.append((ns, ["INPUT", "-s", f"{addr}/32", "-j", "DROP"]))
    return out


def _iptables(ns: str, *args: str) -> None:
    r = subprocess.run(
        ["ip", "netns", "exec", ns, "iptables", "-w", *args],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if r.returncode != 0:
        raise NetlabError(f"iptables {' '.join(args)} (in {ns}) failed: {r.stderr.strip()}")


def partition(lab: Lab, a: str, b: str) -> None:
    """Cuts a from b (both directions, every port)."""
    require_iptables()
    for ns, rule in _rules(lab, a, b):
        _iptables(ns, "-I", *rule)


def heal(lab: Lab, a: str, b: str) -> None:
    """Undoes `partition(a, b)`; a host whose namespace is gone has nothing left to heal."""
    errors = []
    for ns, rule in _rules(lab, a, b):
        try:
            _iptables(ns, "-D", *rule)
        except NetlabError as e:
            errors.append(str(e))
    if errors:
        raise NetlabError("; ".join(errors))


def degrade(lab: Lab, a: str, b: str, extra_ms: float) -> None:
    """Sets the delay added to each direction of the a–b link (0 restores the configured one)."""
    link = lab.topology.link(a, b)
    if link is None:
        raise NetlabError(f"no link joins {a} and {b}: a degrade needs one (the topology's links)")
    if lab.mechanism == "netem":
        names = [h.name for h in lab.topology.hosts]
        for src, dst in ((a, b), (b, a)):
            cls = 10 + names.index(dst)
            netem = ["delay", f"{link.one_way_ms(src, dst) + extra_ms}ms"]
            if link.jitter_ms:
                netem.append(f"{link.jitter_ms}ms")
            _tc(
                lab.namespace(src), "qdisc", "change", "dev", "eth0",
                "parent", f"1:{cls}", "handle", f"{cls}:", "netem", *netem,
            )  # fmt: skip
        return
    controls = lab.link_controls.get(lab.topology.links.index(link), [])
    if not controls:
        raise NetlabError(f"the {a}–{b} link has no process to degrade (neither end serves ports)")
    for service, control in controls:
        assert service.log is not None
        seen = service.log.stat().st_size
        control.write_text(f"{extra_ms * 1000:.0f}us\n")
        service.signal(signal.SIGHUP)
        _await_ack(service.log, seen, f"{service.name} (SIGHUP, {control})")


def _await_ack(log: Path, offset: int, what: str) -> None:
    deadline = time.monotonic() + CONTROL_TIMEOUT
    while time.monotonic() < deadline:
        with open(log, "rb") as f:
            f.seek(offset)
            m = _ACK.search(f.read().decode(errors="replace"))
        if m:
            if m.group(1).startswith("control refused"):
                raise NetlabError(f"{what}: {m.group(1)}")
            return
        time.sleep(0.01)
    raise NetlabError(f"{what}: no answer within {CONTROL_TIMEOUT:g} s; see {log}")
