"""Where a profiled server's CPU goes, by component: `python -m bench.profile FILE.perf.data`.

Reads a `--perf` run's samples (`perf script`), expands every frame of the binary into its
inlined functions (`addr2line -i`, so code that fat LTO folded into its caller is still told
apart by the source file it came from) and charges each sample to the first frame, walking
from the leaf towards the root, that belongs to a component:

- a file of the service's own `src/` is that component (admission, knobs, metrics, ...);
- hyper, hyper-util, h2, httparse, tokio or mio is "hyper and tokio" (the stack);
- a sample taken in the kernel is "kernel" (TCP over loopback, the system calls, the
  scheduler), whoever asked for it;
- libraries a component calls (http's HeaderMap, bytes, prometheus, core, alloc, libc, the
  vDSO's clock) are neutral: they are charged to the component that called them.

The figures need a binary with symbols and frame pointers (bench/README.md, "Running it").
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# A file of the service's own source, by the path addr2line reports (any checkout).
_OWN = re.compile(r"/src/(?P<file>(?:[a-z_]+/)*[a-z_]+\.rs)$")
# The stack delay-echo builds on: its cost is what hyper-floor pays too.
_STACK = re.compile(r"/(hyper|hyper-util|h2|httparse|tokio|mio)-[0-9][^/]*/")

# Component of each source file (the rest are named by their file).
COMPONENTS = {
    "admission.rs": "admission",
    "knobs.rs": "knobs (read, draw)",
    "knobs/grammar.rs": "knobs (read, draw)",
    "knobs/cache_policy.rs": "knobs (read, draw)",
    "metrics.rs": "metrics",
    "handlers/echo/headers.rs": "timing headers (seq, in-flight, Server-Timing)",
    "response.rs": "instance headers",
    "instance.rs": "instance headers",
    "timer.rs": "timer",
    "conn.rs": "connection watchdog (conn)",
    "server.rs": "connection serving (server)",
    "router.rs": "router",
    "handlers/echo.rs": "echo handler (its own steps)",
    "body.rs": "body",
    "cache.rs": "caching",
    "records.rs": "records (--access-log)",
    "handlers/echo/access.rs": "records (--access-log)",
}
STACK = "hyper and tokio"
KERNEL = "kernel"
OTHER = "other (libraries, unattributed)"


@dataclass(frozen=True)
class Frame:
    addr: int
    dso: str


def samples(perf_data: Path) -> list[list[Frame]]:
    """Every sample's call chain, leaf first."""
    out = subprocess.run(
        ["perf", "script", "-i", str(perf_data), "-F", "ip,dso"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    chains: list[list[Frame]] = []
    chain: list[Frame] = []
    for line in out.splitlines():
        line = line.strip()
        if not line:
            if chain:
                chains.append(chain)
            chain = []
            continue
        addr, _, rest = line.partition(" ")
        dso = rest.strip().strip("()")
        try:
            chain.append(Frame(int(addr, 16), dso))
        except ValueError:
            continue
    if chain:
        chains.append(chain)
    return chains


def segments(binary: str) -> list[tuple[int, int, int]]:
    """The binary's loaded segments: (file offset, size, virtual address)."""
    out = subprocess.run(
        ["readelf", "-lW", binary], check=True, capture_output=True, text=True
    ).stdout
    found = []
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            found.append((int(f[1], 16), int(f[4], 16), int(f[2], 16)))
    return found


def inlined(binary: str, addrs: list[int]) -> dict[int, list[str]]:
    """The source files of each address's inline chain, innermost first (addr2line -i).

    perf gives an address in the binary as its file offset; addr2line wants the virtual
    address, which differs by the segment's placement.
    """
    if not addrs:
        return {}
    segs = segments(binary)

    def vaddr(offset: int) -> int:
        for start, size, virt in segs:
            if start <= offset < start + size:
                return offset - start + virt
        return offset

    # A return address points after its call; the call itself is one byte before.
    query = "\n".join(f"{vaddr(a) - 1:x}" for a in addrs)
    out = subprocess.run(
        ["addr2line", "-i", "-a", "-e", binary],
        input=query,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    files: dict[int, list[str]] = {}
    current: list[str] | None = None
    order = iter(addrs)
    for line in out.splitlines():
        if line.startswith("0x"):
            current = files.setdefault(next(order), [])
        elif current is not None:
            current.append(line.rsplit(":", 1)[0])
    return files


def component(path: str) -> str | None:
    own = _OWN.search(path)
    if own and not any(lib in path for lib in ("/.cargo/", "/rustlib/", "/library/", "/rustc/")):
        return COMPONENTS.get(own["file"], own["file"])
    if _STACK.search(path):
        return STACK
    return None


def breakdown(perf_data: Path, binary: str) -> collections.Counter[str]:
    chains = samples(perf_data)
    name = Path(binary).name
    own = sorted({f.addr for c in chains for f in c if Path(f.dso).name == name})
    files = inlined(binary, own)
    shares: collections.Counter[str] = collections.Counter()
    for chain in chains:
        if chain and chain[0].dso.startswith("[kernel"):
            shares[KERNEL] += 1
            continue
        charged = OTHER
        for f in chain:
            found = None
            for path in files.get(f.addr, []) if Path(f.dso).name == name else []:
                found = component(path)
                if found:
                    break
            if found:
                charged = found
                break
        shares[charged] += 1
    return shares


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n")[0])
    p.add_argument("perf_data", type=Path, help="a .perf.data file from `python -m bench --perf`")
    p.add_argument("--binary", required=True, help="the profiled binary, with symbols")
    p.add_argument("--per-request-us", type=float, help="the run's server CPU µs per request")
    args = p.parse_args(argv)
    shares = breakdown(args.perf_data, args.binary)
    total = sum(shares.values())
    if not total:
        print(f"{args.perf_data}: no samples", file=sys.stderr)
        return 1
    print(f"{args.perf_data.name}: {total} samples")
    print(
        "| component | share | µs per request |" if args.per_request_us else "| component | share |"
    )
    print("|---|--:|--:|" if args.per_request_us else "|---|--:|")
    for name, n in shares.most_common():
        share = n / total
        cells = [name, f"{share:.1%}"]
        if args.per_request_us:
            cells.append(f"{share * args.per_request_us:.2f}")
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
