"""What the clients felt during a mesh run's faults: requests.jsonl (one line per request, from
mesh.js) against faults.jsonl (netlab/faults.py's events).

For each fault and each ordered pair whose path crosses the cut or slowed link (the pair's own
leg, or the client's link to the pair's first region): the requests started while the fault was
in force and how many failed, the failures after it until the pair recovered, how long that took
(from the restore to the first request from which every later one of the pair was answered), and
the p50 `network_ms` in force against the pair's p50 outside every fault. Pairs the fault does not
cross get their failures in the span counted too: a partition must hurt its pair only.

Accounting ("nothing lost"): every request k6 scheduled (its iterations plus the ones it dropped
for want of a free VU, `dropped_iterations`) is either one line in requests.jsonl, answered or
failed, or dropped; each once (the lines equal k6's own count of iterations).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loadtests.core import durations
from loadtests.core.events import read


@dataclass(frozen=True)
class Request:
    t: float  # its start, epoch seconds
    pair: str  # "a>b"
    status: int  # 0: no answer (k6's error)
    ms: float
    network_ms: float | None

    @property
    def ok(self) -> bool:
        return self.network_ms is not None


@dataclass(frozen=True)
class Span:
    fault: int
    kind: str
    spec: str
    hosts: tuple[str, str]
    applied: float
    restored: float | None  # None: never undone (the run ended first, or the undo failed)


@dataclass(frozen=True)
class Row:
    fault: int
    spec: str
    pair: str
    crosses: bool  # the pair's path uses the faulted link
    in_span: int
    failed_in_span: int
    statuses_in_span: dict[str, int]
    failed_after: int  # after the restore, until the pair recovered
    # restore → the first request from which the pair is back: every later one answered, and
    # (degrade) this one's network_ms within RECOVERED of the pair's p50 outside every fault.
    # None for a pair the fault did not cross and did not hurt.
    recovered_s: float | None
    p50_in_span_ms: float | None
    p50_outside_ms: float | None


def read_requests(path: Path) -> list[Request]:
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue  # k6's own lines, if any reached the file
            r = json.loads(line)
            out.append(
                Request(float(r["t"]), r["pair"], int(r["status"]), float(r["ms"]), r["network_ms"])
            )
    return sorted(out, key=lambda r: r.t)


def spans(events: list[dict[str, Any]]) -> list[Span]:
    applied = {e["fault"]: e for e in events if e["event"] == "fault_applied"}
    restored = {e["fault"]: e for e in events if e["event"] == "fault_restored"}
    out = []
    for n, e in sorted(applied.items()):
        a, _, b = e["pair"].partition("-") if "/" not in e["pair"] else e["pair"].partition("/")
        r = restored.get(n)
        out.append(Span(n, e["kind"], e["spec"], (a, b), e["time"], r["time"] if r else None))
    return out


def _crosses(pair: str, hosts: tuple[str, str], client: str) -> bool:
    src, _, dst = pair.partition(">")
    link = set(hosts)
    return link == {src, dst} or link == {client, src}


# A request is back to normal when its network_ms is at most this much over the pair's p50
# outside every fault (relative, plus an absolute floor for the shortest paths).
RECOVERED = (1.2, 1.0)


def _p50(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def rows(requests: list[Request], faults: list[Span], client: str, end: float) -> list[Row]:
    """One row per fault and ordered pair; `end`: when the run's last request started."""
    by_pair: dict[str, list[Request]] = {}
    for r in requests:
        by_pair.setdefault(r.pair, []).append(r)
    in_any = [(s.applied, s.restored or end) for s in faults]
    out = []
    for s in faults:
        stop = s.restored or end
        for pair, reqs in sorted(by_pair.items()):
            during = [r for r in reqs if s.applied <= r.t < stop]
            statuses: dict[str, int] = {}
            for r in during:
                if not r.ok:
                    statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
            after = [r for r in reqs if r.t >= stop]
            # The unbroken answered run at the end of `after`: where it starts, the pair is back.
            k = len(after)
            while k > 0 and after[k - 1].ok:
                k -= 1
            failed_after = sum(not r.ok for r in after[:k])
            outside = [
                r.network_ms
                for r in reqs
                if r.network_ms is not None and not any(a <= r.t < b for a, b in in_any)
            ]
            normal = _p50(outside)
            if normal is not None:
                limit = normal * RECOVERED[0] + RECOVERED[1]
                while k < len(after) and (after[k].network_ms or 0) > limit:
                    k += 1
            crosses = _crosses(pair, s.hosts, client)
            hurt = crosses or failed_after or any(not r.ok for r in during)
            recovered = round(after[k].t - stop, 3) if hurt and k < len(after) else None
            out.append(
                Row(
                    fault=s.fault,
                    spec=s.spec,
                    pair=pair,
                    crosses=crosses,
                    in_span=len(during),
                    failed_in_span=sum(not r.ok for r in during),
                    statuses_in_span=statuses,
                    failed_after=failed_after,
                    recovered_s=recovered,
                    p50_in_span_ms=_p50([r.network_ms for r in during if r.network_ms is not None]),
                    p50_outside_ms=normal,
                )
            )
    return out


def accounting(
    requests: list[Request], summary: dict[str, Any], rate: int, duration: str, pairs: int
) -> dict[str, int]:
    """What k6 scheduled against what requests.jsonl and k6's summary say became of it."""
    metrics = summary.get("metrics", {})

    def count(name: str) -> int:
        return int(metrics.get(name, {}).get("values", {}).get("count", 0))

    answered = sum(r.ok for r in requests)
    return {
        "planned": count("iterations") + count("dropped_iterations"),
        "nominal": round(rate * durations.seconds(duration)) * pairs,
        "k6_iterations": count("iterations"),
        "answered": answered,
        "failed": len(requests) - answered,
        "dropped": count("dropped_iterations"),
    }


def analyse(folder: Path, client: str, rate: int, duration: str, pairs: int) -> dict[str, Any]:
    """The faults section of a mesh run folder (empty when it had no faults)."""
    events_path, requests_path = folder / "faults.jsonl", folder / "requests.jsonl"
    if not events_path.exists() or not requests_path.exists():
        return {}
    events = read(events_path)
    requests = read_requests(requests_path)
    summary = json.loads((folder / "summary.json").read_text())
    faults = spans(events)
    end = requests[-1].t if requests else 0.0
    start = next((e["time"] for e in events if e["event"] == "load_start"), None)
    return {
        "load_start": start,
        "events": [e for e in events if e["event"].startswith("fault_")],
        "rows": [asdict(r) for r in rows(requests, faults, client, end)],
        "accounting": accounting(requests, summary, rate, duration, pairs),
    }


def plot(folder: Path, analysis: dict[str, Any], path: Path) -> None:
    """network_ms per pair over the run, failures at the top, each fault's span shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    requests = read_requests(folder / "requests.jsonl")
    t0 = analysis["load_start"] or (requests[0].t if requests else 0.0)
    pairs = sorted({r.pair for r in requests})
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ok = [r.network_ms for r in requests if r.network_ms is not None]
    # Log scale: a degraded link's tens of ms and a healed one's seconds on one axis.
    ax.set_yscale("log")
    top = (max(ok) if ok else 1.0) * 2
    for i, pair in enumerate(pairs):
        color = f"C{i % 10}"
        good = [
            (r.t - t0, r.network_ms)
            for r in requests
            if r.pair == pair and r.network_ms is not None
        ]
        bad = [r for r in requests if r.pair == pair and r.network_ms is None]
        ax.plot([t for t, _ in good], [v for _, v in good], ".", ms=3, color=color, label=pair)
        if bad:
            ax.plot([r.t - t0 for r in bad], [top] * len(bad), "x", color=color, ms=5)
    for k, s in enumerate(spans(read(folder / "faults.jsonl"))):
        end = s.restored or (requests[-1].t if requests else s.applied)
        ax.axvspan(s.applied - t0, end - t0, color="0.85", zorder=0)
        ax.text(s.applied - t0, top * 1.3 * 1.6**k, s.spec, fontsize=7, va="bottom")
    ax.set_xlabel("seconds after the load began")
    ax.set_ylabel("network_ms, log scale (× at the top: no answer)")
    low = min(ok) / 2 if ok else 0.1
    ax.set_ylim(low, top * 1.6 ** (len(spans(read(folder / "faults.jsonl"))) + 1))
    ax.legend(fontsize=7, ncol=3, loc="center left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(analysis: dict[str, Any]) -> list[str]:
    if not analysis:
        return []
    acc = analysis["accounting"]
    total = acc["answered"] + acc["failed"] + acc["dropped"]
    whole = total == acc["planned"] and acc["answered"] + acc["failed"] == acc["k6_iterations"]
    md = [
        "## Faults",
        "",
        "Each fault's span is shaded on the plot; × marks a request with no answer. Per fault and",
        "pair: requests started while it was in force, those that failed (by status; 0 = no",
        "answer), failures after the restore until the pair recovered, and how long that took;",
        "p50 network_ms in the span against outside every fault. `crosses`: the pair's path uses",
        "the faulted link.",
        "",
        "| fault | pair | crosses | in span | failed (statuses) | failed after | recovered after s | p50 in span ms | p50 outside ms |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in analysis["rows"]:
        st = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses_in_span"].items()))
        md.append(
            f"| {r['spec']} | {r['pair']} | {'yes' if r['crosses'] else 'no'} | {r['in_span']} "
            f"| {r['failed_in_span']}{f' ({st})' if st else ''} | {r['failed_after']} "
            f"| {_f(r['recovered_s'])} | {_f(r['p50_in_span_ms'])} | {_f(r['p50_outside_ms'])} |"
        )
    md += [
        "",
        ("Every request accounted for" if whole else "**Requests unaccounted for**")
        + f": k6 scheduled {acc['planned']} (rate × duration × pairs: {acc['nominal']}) = "
        f"answered {acc['answered']} + failed {acc['failed']} + dropped by k6 for want of a "
        f"free VU {acc['dropped']}"
        + (
            "; each answered or failed one is one line of requests.jsonl, as many as k6's iterations."
            if whole
            else f"; these add up to {total}, and requests.jsonl has "
            f"{acc['answered'] + acc['failed']} lines for k6's {acc['k6_iterations']} iterations."
        ),
        "",
        "![faults](faults.png)",
        "",
    ]
    return md


def _f(v: float | None) -> str:
    return "–" if v is None else f"{v:g}"
