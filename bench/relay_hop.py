"""What one relay hop adds: p50 and p99 latency of `?hop=b` through a relaying instance over a
direct request to the same peer, on loopback (issue 11, point 10; goal: at most 100 us at p50).

Two delay-echo processes (A with `--peer b=<B>`, and B), `--delay 0`, one worker each, pinned to
one core; wrk (one thread, one keep-alive connection: a closed loop, so each figure is a round
trip) pinned to the other. Direct and relayed runs alternate, `--rounds` times each, so drift on a
shared machine falls on both; the figure is the median over rounds of relayed minus direct. A
benchmark, not a test: it always exits 0 once it has a figure, and says whether the goal was met.
Traffic stays on 127.0.0.1; every process it starts is stopped, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from loadtests.core import tools
from loadtests.core.service import LISTENING, Http, LogLine, Service, ServiceError
from loadtests.core.tools import ToolMissing

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "wrk_json.lua"
GOAL_P50_US = 100.0


def pinned(cmd: list[str], cpu: int) -> list[str]:
    """`cmd` pinned to one CPU when taskset is there (it is in util-linux)."""
    return ["taskset", "-c", str(cpu), *cmd] if shutil.which("taskset") else cmd


def start(binary: str, args: list[str], cpu: int) -> Service:
    """Starts delay-echo on 127.0.0.1:0 and returns it once it is ready, with the address it
    reported."""
    argv = [binary, "--listen", "127.0.0.1:0", "--log-format", "json", "--workers", "1", *args]
    service = Service(
        pinned(argv, cpu),
        name="delay-echo",
        ready=[LogLine(LISTENING), Http("/readyz")],
        timeout=10,
        stop_timeout=10,
    )
    try:
        return service.start()
    except ServiceError as e:
        raise SystemExit(f"relay_hop: {e}") from e


def wrk(url: str, seconds: int, cpu: int) -> dict[str, int]:
    """Latency percentiles in microseconds of a one-connection closed loop against `url`."""
    cmd = pinned(["wrk", "-t1", "-c1", f"-d{seconds}s", "-s", str(WRK_SCRIPT), url], cpu)
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    for line in out.splitlines():
        if line.startswith("BENCH-JSON "):
            result = json.loads(line[len("BENCH-JSON ") :])
            errors = sum(result["errors"].values())
            if errors or not result["requests"]:
                raise SystemExit(
                    f"relay_hop: {url}: {errors} errors in {result['requests']} requests"
                )
            latency: dict[str, int] = result["latency_us"]
            return latency
    raise SystemExit(f"relay_hop: wrk printed no BENCH-JSON line:\n{out[-2000:]}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--binary",
        type=Path,
        default=tools.delay_echo().path,
        help="delay-echo (default $DELAY_ECHO_BIN, else the release build)",
    )
    p.add_argument("--duration", type=int, default=5, help="seconds per run")
    p.add_argument("--rounds", type=int, default=3, help="direct/relayed pairs")
    p.add_argument("--json", type=Path, help="also write the figures here")
    a = p.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit(
            "relay_hop: wrk is missing; install it with `apt-get install wrk` (make deps)"
        )
    try:
        binary = str(tools.delay_echo({"DELAY_ECHO_BIN": str(a.binary)}).require())
    except ToolMissing as e:
        raise SystemExit(f"relay_hop: {e}") from e
    with contextlib.ExitStack() as started:
        b = started.enter_context(start(binary, ["--delay", "0", "--region", "b"], cpu=1))
        b_url = f"http://{b.address}"
        relay = started.enter_context(
            start(binary, ["--delay", "0", "--region", "a", "--peer", f"b={b_url}"], cpu=1)
        )
        a_url = f"http://{relay.address}"
        direct_url, relayed_url = f"{b_url}/?delay=0", f"{a_url}/?hop=b&delay=0"
        # Warm both paths (the relay's pooled connection to b is made on first use).
        wrk(direct_url, 1, cpu=0)
        wrk(relayed_url, 1, cpu=0)
        runs: dict[str, list[dict[str, int]]] = {"direct": [], "relayed": []}
        for _ in range(a.rounds):
            runs["direct"].append(wrk(direct_url, a.duration, cpu=0))
            runs["relayed"].append(wrk(relayed_url, a.duration, cpu=0))

    def median(kind: str, q: str) -> float:
        return statistics.median(r[q] for r in runs[kind])

    added = {
        q: statistics.median(
            r[q] - d[q] for r, d in zip(runs["relayed"], runs["direct"], strict=True)
        )
        for q in ("p50", "p99")
    }
    figures = {
        "direct_us": {q: median("direct", q) for q in ("p50", "p99")},
        "relayed_us": {q: median("relayed", q) for q in ("p50", "p99")},
        "added_us": added,
        "rounds": a.rounds,
        "seconds_per_run": a.duration,
        "runs": runs,
    }
    d, r = figures["direct_us"], figures["relayed_us"]
    print(f"direct   p50 {d['p50']:.0f} us  p99 {d['p99']:.0f} us")
    print(f"relayed  p50 {r['p50']:.0f} us  p99 {r['p99']:.0f} us")
    print(
        f"one hop adds p50 {added['p50']:.0f} us, p99 {added['p99']:.0f} us (median of {a.rounds} paired runs)"
    )
    met = "met" if added["p50"] <= GOAL_P50_US else "NOT met"
    print(f"goal: at most {GOAL_P50_US:.0f} us at p50: {met}")
    if a.json:
        a.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
