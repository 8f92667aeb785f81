"""mesh.json into report.md and report.html: the matrix as a table and as a heat map, the
client's own time to each region, (for a rehearsal) the configured matrix beside it, and (with
MESH_FAULTS) what the clients felt during each fault (timeline.py)."""

from __future__ import annotations

import base64
import html
import statistics
from pathlib import Path

from . import timeline
from .matrix import TOLERANCE_MS, Mesh


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def matrix_lines(mesh: Mesh) -> list[str]:
    """The measured p50 network_ms matrix (row = from, column = to) as a markdown table; with a
    configured matrix, each cell reads `measured (configured)`."""
    head = "| from \\ to | " + " | ".join(mesh.regions) + " |"
    lines = [head, "|" + "---|" * (len(mesh.regions) + 1)]
    for a in mesh.regions:
        cells = []
        for b in mesh.regions:
            if a == b:
                cells.append("")
                continue
            cell = _f(mesh.pair(a, b).p50)
            if mesh.configured:
                cell += f" ({mesh.configured[f'{a}>{b}']:g})"
            cells.append(cell)
        lines.append(f"| **{a}** | " + " | ".join(cells) + " |")
    return lines


def side_by_side(mesh: Mesh) -> list[str]:
    """Per pair: the measured percentiles, beside the configured round trip when there is one
    (the rehearsal's check), and the lab's floor when it was measured: then the last difference
    is the one judged, measured minus (configured + floor)."""
    conf = bool(mesh.configured)
    floor = conf and bool(mesh.floor)
    head = "| pair |" + (" configured round trip ms |" if conf else "")
    head += (" floor ms |" if floor else "") + " measured p50 |"
    head += " minus configured |" if floor else " difference |" if conf else ""
    head += " minus (configured + floor) |" if floor else ""
    head += " p90 | p99 | max | n | errors |"
    servers = bool(mesh.servers)
    head += " servers' records p50 |" if servers else ""
    lines = [head, "|---|" + "---:|" * (head.count("|") - 2)]
    for p in mesh.pairs:
        s = p.stats
        cells = [f"{p.src} → {p.dst}"]
        if conf:
            key = f"{p.src}>{p.dst}"
            c = mesh.configured[key]
            cells.append(f"{c:g}")
            if floor:
                cells.append(_f(mesh.floor.get(key)))
            cells += [_f(s.p50), "-" if s.p50 is None else f"{s.p50 - c:+.2f}"]
            if floor:
                off = mesh.off(p.src, p.dst)
                cells.append("-" if off is None else f"{off:+.2f}")
        else:
            cells.append(_f(s.p50))
        cells += [_f(s.p90), _f(s.p99), _f(s.max), str(s.n), str(s.errors)]
        if servers:
            cells.append(_f(mesh.servers.get(f"{p.src}>{p.dst}")))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def floor_line(mesh: Mesh) -> str:
    """What the lab's floor was, in one sentence (empty without one)."""
    if not mesh.floor:
        return ""
    v = sorted(mesh.floor.values())
    mid = statistics.median(v)
    return (
        f"Floor: p50 `network_ms` of the same path with 0 ms configured, measured first in this run"
        f" ({mesh.floor_duration}): {v[0]:.2f} to {v[-1]:.2f} ms per pair, median {mid:.2f}."
        f" Each pair is judged against configured + its floor, within ±{TOLERANCE_MS:g} ms."
    )


def verdict(mesh: Mesh) -> str:
    """Whether every pair's p50 is within the tolerance of configured (+ floor)."""
    off = {f"{p.src}>{p.dst}": mesh.off(p.src, p.dst) for p in mesh.pairs}
    bad = [f"{k} {v:+.2f}" if v is not None else f"{k} no p50" for k, v in off.items() if v is None or abs(v) > TOLERANCE_MS]  # fmt: skip
    what = "configured + floor" if mesh.floor else "configured"
    if bad:
        return f"Outside ±{TOLERANCE_MS:g} ms of {what}: {', '.join(bad)} ms."
    return f"Every pair within ±{TOLERANCE_MS:g} ms of {what}."


def heat_map(mesh: Mesh, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    n = len(mesh.regions)
    m = np.full((n, n), np.nan)
    for i, a in enumerate(mesh.regions):
        for j, b in enumerate(mesh.regions):
            if i != j and (v := mesh.pair(a, b).p50) is not None:
                m[i, j] = v
    fig, ax = plt.subplots(figsize=(1.4 * n + 2, 1.2 * n + 1.5))
    im = ax.imshow(m, cmap="viridis")
    ax.set_xticks(range(n), mesh.regions, rotation=30, ha="right")
    ax.set_yticks(range(n), mesh.regions)
    ax.set_xlabel("to")
    ax.set_ylabel("from")
    ax.set_title("p50 network_ms (round trip between regions)")
    for i in range(n):
        for j in range(n):
            if not np.isnan(m[i, j]):
                light = m[i, j] > np.nanmean(m)
                ax.text(
                    j, i, f"{m[i, j]:.1f}", ha="center", va="center", color="k" if light else "w"
                )
    fig.colorbar(im, ax=ax, label="ms")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(mesh: Mesh, folder: Path) -> None:
    heat_map(mesh, folder / "heatmap.png")
    if mesh.faults:
        timeline.plot(folder, mesh.faults, folder / "faults.png")
    md = [
        "# Region mesh",
        "",
        f"{len(mesh.regions)} regions, {len(mesh.pairs)} ordered pairs, {mesh.rate} req/s per pair for {mesh.duration}"
        + (f"; emulated network, link delays by {mesh.mechanism}" if mesh.mechanism else "")
        + ("; idle CPUs held awake (PM QoS)" if mesh.awake else "")
        + {
            True: "; links and instances at real-time priority",
            False: "; links and instances at normal priority (no chrt here: timings are noisier on a busy machine)",
            None: "",
        }[mesh.realtime]
        + ".",
        "",
        "`network_ms` of a leg a → b: a's round trip to b minus b's own total, i.e. the network",
        "time of both directions between them. The matrix gives its p50 in ms"
        + (" (configured round trip in brackets)." if mesh.configured else "."),
        "",
        *matrix_lines(mesh),
        "",
        "![heat map](heatmap.png)",
        "",
        "## Per pair",
        "",
        *side_by_side(mesh),
        "",
        *(
            [floor_line(mesh), "", verdict(mesh), ""]
            if mesh.floor
            else ([verdict(mesh), ""] if mesh.configured else [])
        ),
        "## The client's own time to each region",
        "",
        "Client round trip minus the region's total (its own network time to the region, both ways).",
        "",
        "| region | p50 ms | p90 | p99 | max | n |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {r} | {_f(s.p50)} | {_f(s.p90)} | {_f(s.p99)} | {_f(s.max)} | {s.n} |"
            for r, s in mesh.client.items()
        ),
        "",
        *timeline.markdown(mesh.faults),
    ]
    (folder / "report.md").write_text("\n".join(md))
    (folder / "report.html").write_text(_html(md, folder))


def _html(md: list[str], folder: Path) -> str:
    """A small renderer for the report's own markdown (headings, tables, paragraphs, the image)."""
    out = ["<!doctype html><meta charset=utf-8><title>Region mesh</title>",
           "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}</style>"]  # fmt: skip
    rows: list[str] = []

    def flush() -> None:
        if rows:
            out.append("<table>" + "".join(rows) + "</table>")
            rows.clear()

    for line in md:
        if line.startswith("|"):
            if set(line) <= set("|-: "):
                continue
            tag = "th" if not rows else "td"
            cells = [c.strip().replace("**", "") for c in line.strip("|").split("|")]
            rows.append(
                "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>"
            )
            continue
        flush()
        if line.startswith("# "):
            out.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            out.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("!["):
            alt, _, name = line[2:].rstrip(")").partition("](")
            png = base64.b64encode((folder / name).read_bytes()).decode()
            out.append(f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{png}">')
        elif line:
            out.append(f"<p>{html.escape(line)}</p>")
    flush()
    return "\n".join(out) + "\n"
