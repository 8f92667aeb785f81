"""campaign.md, campaign.html (self-contained) and campaign.json of an analysed campaign, with
its plots: each metric's runs per configuration, and the per-second median latency and instance
count per configuration with a band over the runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from loadtests.analysis.document import Doc

from .analysis import METRICS, SCHEMA, RunMetrics, collect, summarise

COLORS = [plt.get_cmap("tab10")(i) for i in range(10)]


def _num(v: float | None, unit: str = "") -> str:
    if v is None:
        return "–"
    digits = 0 if abs(v) >= 100 else 1 if abs(v) >= 1 else 2
    return f"{v:.{digits}f}{unit}"


def _ci(entry: dict[str, Any]) -> str:
    if not entry.get("ci95"):
        return "–"
    lo, hi = entry["ci95"]
    level = round(100 * entry["confidence"])
    return f"{_num(lo)} to {_num(hi)} ({level} %)"


def _cell(entry: dict[str, Any]) -> str:
    """A median with its interval and the interval's coverage: `3.7 [3.4, 4.1; 88 %]`."""
    without = entry["runs_without"]
    if entry["median"] is None:
        return f"none of {without} runs" if without else "–"
    cell = _num(entry["median"])
    if entry.get("ci95"):
        lo, hi = entry["ci95"]
        cell += f" [{_num(lo)}, {_num(hi)}; {round(100 * entry['confidence'])} %]"
    return cell + (f"; {without} run{'s' if without > 1 else ''} without" if without else "")


def strip_plot(summary: dict[str, Any], path: Path) -> Path:
    configs = summary["configs"]
    fig, axes = plt.subplots(3, 4, figsize=(14, 9.5))
    cells = axes.ravel()
    for ax in cells[len(METRICS) :]:
        ax.set_visible(False)
    for ax, (m, (label, unit)) in zip(cells, METRICS.items(), strict=False):
        for i, c in enumerate(configs):
            e = c["metrics"][m]
            xs = i + np.linspace(-0.12, 0.12, max(len(e["values"]), 1))[: len(e["values"])]
            ax.scatter(xs, e["values"], s=16, color=COLORS[i % 10], alpha=0.8, zorder=3)
            if e["median"] is not None:
                ax.hlines(e["median"], i - 0.25, i + 0.25, color="k", lw=2, zorder=4)
            if e["ci95"]:
                ax.vlines(i + 0.3, *e["ci95"], color="k", lw=1)
        ax.set_xticks(range(len(configs)), [c["name"] for c in configs], fontsize=8)
        ax.set_title(f"{label} ({unit})", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Every run per configuration: median (bar) and its interval (line at the right)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _per_second(runs: list[RunMetrics], column: str) -> pd.DataFrame:
    frames = []
    for r in runs:
        f = r.folder / "per_second.csv"
        if f.exists():
            sec = pd.read_csv(f, usecols=lambda c: c in ("second", column))
            if column in sec:
                frames.append(sec.set_index("second")[column].rename(r.slot))
    return pd.concat(frames, axis=1) if frames else pd.DataFrame()


def band_plot(
    summary: dict[str, Any], runs: list[RunMetrics], column: str, ylabel: str, path: Path
) -> Path:
    fig, ax = plt.subplots(figsize=(11, 4))
    for i, c in enumerate(summary["configs"]):
        table = _per_second([r for r in runs if r.config == c["name"]], column)
        if table.empty:
            continue
        color = COLORS[i % 10]
        ax.plot(table.index, table.median(axis=1), color=color, label=c["name"])
        ax.fill_between(table.index, table.min(axis=1), table.max(axis=1), color=color, alpha=0.18)
    ax.set_xlabel("second of the run")
    ax.set_ylabel(ylabel)
    ax.set_title(
        f"{ylabel}: median of the runs per second, band from the lowest to the highest run"
    )
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def document(summary: dict[str, Any], runs: list[RunMetrics], folder: Path) -> Doc:
    pdir = folder / "plots"
    pdir.mkdir(exist_ok=True)
    k = summary["repetitions"]
    doc = Doc(f"Campaign {summary['name']}: {len(summary['configs'])} configurations × {k} runs")
    failed = [r["slot"] for r in summary["runs"] if r["status"] != "ok"]
    doc.p(
        f"Runs in a seeded random order (seed {summary['seed']}), git {summary['git_revision'][:12]}"
        f"{' (dirty)' if summary['git_dirty'] else ''}, on {summary['machine']['node']} "
        f"({summary['machine']['cpus']} CPUs), {summary['start_utc']} to {summary['end_utc']}. "
        + (
            f"Runs without a result: {', '.join(failed)}."
            if failed
            else "Every planned run finished."
        )
    )
    doc.p(
        "Intervals assume no distribution: the order-statistic interval for a median, the "
        "Hodges-Lehmann/Moses interval for a difference (a ratio for the speedup). Each is the "
        "narrowest whose exact coverage is at least 95 %; with few runs that level cannot be "
        "reached, and the coverage shown in brackets is the real one. A verdict needs 95 %. Each "
        "verdict alone is wrong 1 time in 20 or less; among many metrics and pairs, one may be "
        "chance: repeat a campaign before acting on a single surprising verdict."
    )
    names = [c["name"] for c in summary["configs"]]
    doc.h2("Per configuration: median and interval")
    doc.table(
        ["metric", *names],
        [
            [f"{label} ({unit})", *[_cell(c["metrics"][m]) for c in summary["configs"]]]
            for m, (label, unit) in METRICS.items()
        ],
    )
    doc.p(
        "A run is without a value when the metric did not happen in it: no new instance, or no "
        "recovery within the rise's window. Every run's value, in the order the runs finished:"
    )
    every: list[list[object]] = []
    for m, (label, unit) in METRICS.items():
        runs_of = [
            ", ".join(_num(v) for v in c["metrics"][m]["values"]) for c in summary["configs"]
        ]
        every.append([f"{label} ({unit})", *(r or "–" for r in runs_of)])
    doc.table(
        ["metric", *names],
        every,
    )
    doc.img(strip_plot(summary, pdir / "metrics.png"), "every run per configuration")
    doc.h2("Differences between configurations (B - A)")
    rows = [
        [
            d["a"],
            d["b"],
            METRICS[d["metric"]][0],
            _num(d["median_difference"]),
            _ci(d),
            d["verdict"]
            + (
                f"; about {d['repetitions_needed']} runs each would show it"
                if d.get("repetitions_needed")
                else ""
            ),
        ]
        for d in summary["differences"]
    ]
    doc.table(["A", "B", "metric", "median B - A", "interval (coverage)", "verdict"], rows)
    if summary["elastic_speedups"]:
        doc.h2("Elastic speedup of B over A")
        doc.p(
            "Per run, the geometric mean of θ_U, θ_O, τ_U and τ_O (a 0 counted as the run's "
            "resolution); the speedup is A's median over B's, > 1 when B provisions better."
        )
        doc.table(
            ["A", "B", "speedup", "interval (coverage)", "shown"],
            [
                [s["a"], s["b"], _num(s["value"]), _ci(s), "yes" if s["shown"] else "no"]
                for s in summary["elastic_speedups"]
            ],
        )
    doc.h2("Over time")
    doc.img(
        band_plot(summary, runs, "p50", "median latency (ms)", pdir / "latency.png"),
        "median latency per configuration",
    )
    doc.img(
        band_plot(summary, runs, "instances", "instances answering", pdir / "instances.png"),
        "instances per configuration",
    )
    return doc


def write(folder: Path) -> dict[str, Any]:
    record, runs = collect(folder)
    summary = summarise(record, runs)
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))
    doc = document(summary, runs, folder)
    (folder / "campaign.md").write_text(doc.markdown(folder))
    (folder / "campaign.html").write_text(doc.html())
    tmp = folder / "campaign.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    tmp.replace(folder / "campaign.json")
    return summary
