"""The mesh's settings: every one a flag with an environment twin (the flag wins), named as make
names them (mk/mesh.mk: MESH_RATE, MESH_DURATION, PEERS, REGIONS, MESH_DELAYS, …)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loadtests.core import flags, tools


def parser(env: Mapping[str, str], description: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="delay-echo-mesh", description=description)
    sub = p.add_subparsers(dest="cmd", required=True)
    run, local = sub.add_parser("run"), sub.add_parser("local")
    results, k6 = tools.REPO / "loadtests" / "results", str(tools.k6(env))
    table: list[tuple[argparse.ArgumentParser, str, str, str, dict[str, Any]]] = [
        (run, "--duration", "MESH_DURATION", "how long", {"default": "30s"}),
        (local, "--duration", "MESH_LOCAL_DURATION", "how long", {"default": "10s"}),
        *((s, "--rate", "MESH_RATE", "requests/s per pair", {"type": int, "default": 10}) for s in (run, local)),
        *((s, "--results", "RESULTS", "where run folders go", {"type": Path, "default": results}) for s in (run, local)),
        *((s, "--k6", "K6", "k6 (default: PATH, else the venv's)", {"default": k6}) for s in (run, local)),
        (run, "--peers", "PEERS", "name=url,name=url", {}),
        (run, "--file", "MESH_FILE", "one `name url` a line", {"type": Path}),
        (run, "--terraform", "MESH_TF", "a saved `terraform output -json`", {"type": Path}),
        (run, "--terraform-dir", "MESH_TF_DIR", "a Terraform root, when no other source is given", {"type": Path}),
        (local, "--regions", "REGIONS", "region names", {"default": "eu,us,ap"}),
        (local, "--delays", "MESH_DELAYS", "one-way ms: rows `0,5;5,0` or pairs `a/b=5,a>b=7`", {"default": "eu/us=5,eu/ap=12,us/ap=20"}),
        (local, "--client-delay", "MESH_CLIENT_DELAY", "client <-> region one-way ms", {"type": float, "default": 1.0}),
        (local, "--jitter", "MESH_JITTER", "region links' jitter, ms", {"type": float, "default": 0.0}),
        (local, "--floor-duration", "MESH_FLOOR_DURATION", "the 0 ms floor pass first; 0 skips it", {"default": "2s"}),
        (local, "--delay-echo", "DELAY_ECHO_BIN", "the service", {"type": Path, "default": tools.delay_echo(env).path}),
        (local, "--link", "DELAY_ECHO_LINK_BIN", "the link, where the kernel has no netem", {"type": Path, "default": tools.link(env).path}),
        (local, "--mechanism", "MESH_MECHANISM", "how delays are made", {"choices": ["auto", "netem", "userspace"], "default": "auto"}),
        (local, "--faults", "MESH_FAULTS", "faults at known times: partition@T:DUR:A-B, degrade@T:DUR:A-B:+X (comma-separated)", {"default": ""}),
        (local, "--awake", "MESH_AWAKE", "hold idle CPUs polling while the lab is up", {"action": argparse.BooleanOptionalAction, "default": True}),
    ]  # fmt: skip
    for parser, flag, var, what, kw in table:
        flags.add(parser, flag, var, env, help=what, **kw)
    return p
