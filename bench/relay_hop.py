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
import json
import select
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "wrk_json.lua"
GOAL_P50_US = 100.0


def pinned(cmd: list[str], cpu: int) -> list[str]:
    """`cmd` pinned to one CPU when taskset is there (it is in util-linux)."""
    return ["taskset", "-c", str(cpu), *cmd] if shutil.which("taskset") else cmd


def start(binary: str, args: list[str], cpu: int) -> tuple[subprocess.Popen[str], str]:
    """Starts delay-echo on 127.0.0.1:0 and returns it with the address it reports."""
    cmd = pinned(
        [binary, "--listen", "127.0.0.1:0", "--log-format", "json", "--workers", "1", *args], cpu
    )
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 10
    assert proc.stdout is not None
    # select before each line, so a server that never says where it listens cannot hang this.
    while (left := deadline - time.monotonic()) > 0 and select.select([proc.stdout], [], [], left)[
        0
    ]:
        line = proc.stdout.readline()
        if not line:
            break
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("message") == "listening" and event.get("address"):
            return proc, f"http://{event['address']}"
    proc.kill()
    raise SystemExit(f"relay_hop: {' '.join(cmd)} did not report its address within 10 s")


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"relay_hop: {url}/readyz never answered 200")


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
    p.add_argument("--binary", default="target/release/delay-echo")
    p.add_argument("--duration", type=int, default=5, help="seconds per run")
    p.add_argument("--rounds", type=int, default=3, help="direct/relayed pairs")
    p.add_argument("--json", type=Path, help="also write the figures here")
    a = p.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit(
            "relay_hop: wrk is missing; install it with `apt-get install wrk` (make deps)"
        )
    if not Path(a.binary).is_file():
        raise SystemExit(f"relay_hop: {a.binary} is missing; build it with `make build`")
    procs: list[subprocess.Popen[str]] = []
    try:
        b, b_url = start(a.binary, ["--delay", "0", "--region", "b"], cpu=1)
        procs.append(b)
        relay, a_url = start(
            a.binary, ["--delay", "0", "--region", "a", "--peer", f"b={b_url}"], cpu=1
        )
        procs.append(relay)
        wait_ready(b_url)
        wait_ready(a_url)
        direct_url, relayed_url = f"{b_url}/?delay=0", f"{a_url}/?hop=b&delay=0"
        # Warm both paths (the relay's pooled connection to b is made on first use).
        wrk(direct_url, 1, cpu=0)
        wrk(relayed_url, 1, cpu=0)
        runs: dict[str, list[dict[str, int]]] = {"direct": [], "relayed": []}
        for _ in range(a.rounds):
            runs["direct"].append(wrk(direct_url, a.duration, cpu=0))
            runs["relayed"].append(wrk(relayed_url, a.duration, cpu=0))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

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
