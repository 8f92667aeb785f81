"""The report's figures, one PNG each, drawn with matplotlib's Agg backend (no display needed).

Every figure shares the x axis "seconds since the run started" and marks the load rises (dashed) and
the recoveries (dotted), so the eye can line up cause and effect across figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .metrics import HeadlineRow, answers_per_instance
from .platform import PlatformLog
from .runs import Run

SIZE = (11, 4.2)
# A per-second value covers [s, s+1): drawn as steps, a rise never appears to start before it happened.
STEP: dict[str, Any] = {"drawstyle": "steps-post"}
DPI = 100
RUN_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def _finish(fig: Figure, ax: Axes, path: Path, title: str, ylabel: str) -> Path:
    ax.set_title(title, loc="left", fontsize=11)
    ax.set_xlabel("seconds since start")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.set_xlim(left=0)
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    # Fixed margins (room on the right for the legend): tight_layout would lay every figure out
    # twice and was a third of the report's plotting time.
    fig.subplots_adjust(left=0.065, right=0.80, top=0.91, bottom=0.12)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _marks(ax: Axes, rows: Sequence[HeadlineRow]) -> None:
    labelled = set()
    for h in rows:
        ax.axvline(
            h.onset_s,
            color="0.3",
            ls="--",
            lw=0.9,
            label=None if "rise" in labelled else "load rise",
        )
        labelled.add("rise")
        if h.recovery_s:  # 0: the objective never broke, nothing to mark
            ax.axvline(
                h.onset_s + h.recovery_s,
                color="tab:green",
                ls=":",
                lw=1.4,
                label=None if "rec" in labelled else "recovered",
            )
            labelled.add("rec")


# A fault's span: (from, to, label), seconds since the run started.
Span = tuple[float, float, str]


def fault_spans(platform: PlatformLog | None) -> list[Span]:
    """Each applied fault from its application until it was undone (hang, slow) or, for a kill,
    until its replacement was in rotation (the capacity lost); a kill never replaced: one second."""
    if platform is None:
        return []
    out = []
    for f in platform.faults:
        if f.applied is None:
            continue
        end = f.restored
        if f.kind == "kill":
            new = platform.replacement(f.applied)
            end = (new.in_rotation or new.ready) if new is not None else None
        out.append((f.applied, end if end is not None else f.applied + 1.0, f.spec))
    return out


def _shade(ax: Axes, spans: Sequence[Span]) -> None:
    for k, (a, b, spec) in enumerate(spans):
        ax.axvspan(a, b, color="tab:gray", alpha=0.18, lw=0, label="fault" if k == 0 else None)
        ax.annotate(
            spec,
            (a, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -10),
            textcoords="offset points",
            fontsize=7,
            color="0.3",
        )


def rate(
    sec: pd.DataFrame, rows: Sequence[HeadlineRow], path: Path, spans: Sequence[Span] = ()
) -> Path:
    fig, ax = plt.subplots(figsize=SIZE)
    _shade(ax, spans)
    x = sec.index
    if sec["planned"].notna().any():
        ax.step(x, sec["planned"], where="post", color="0.5", lw=1.5, label="offered (planned)")
    ax.plot(x, sec["sent"], color="tab:blue", lw=1.2, label="sent", **STEP)
    ax.plot(x, sec["ok_done"], color="tab:green", lw=1.2, label="answered OK", **STEP)
    ax.plot(x, sec["errors"], color="tab:red", lw=1.2, label="errors", **STEP)
    if sec["dropped"].sum() > 0:
        ax.plot(x, sec["dropped"], color="tab:orange", lw=1.2, label="dropped by k6", **STEP)
    _marks(ax, rows)
    ax.set_ylim(bottom=0)
    return _finish(fig, ax, path, "Offered vs achieved rate, errors per second", "requests / s")


def latency(
    sec: pd.DataFrame,
    rows: Sequence[HeadlineRow],
    slo_ms: float,
    path: Path,
    spans: Sequence[Span] = (),
) -> Path:
    fig, ax = plt.subplots(figsize=SIZE)
    _shade(ax, spans)
    x = sec.index
    for p, color in (("p50", "tab:blue"), ("p95", "tab:orange"), ("p99", "tab:red")):
        ax.plot(x, sec[p], color=color, lw=1.2, label=p, **STEP)
    ax.axhline(slo_ms, color="k", lw=1, ls="-.", label=f"SLO p95 {slo_ms:g} ms")
    bad = (sec["p95"] > slo_ms).to_numpy()
    if bad.any():
        ax.fill_between(
            x,
            0,
            1,
            where=bad,
            step="post",
            color="tab:red",
            alpha=0.08,
            transform=ax.get_xaxis_transform(),
            label="p95 over SLO",
        )
    _marks(ax, rows)
    if sec["p99"].notna().any() and sec["p99"].max() > 20 * max(sec["p50"].min(), 1):
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    return _finish(fig, ax, path, "Latency per second (by arrival), against the SLO", "ms")


def instances(
    sec: pd.DataFrame,
    inst: pd.DataFrame,
    rows: Sequence[HeadlineRow],
    path: Path,
    platform: PlatformLog | None = None,
) -> Path:
    fig, ax = plt.subplots(figsize=SIZE)
    ax.step(
        sec.index,
        sec["instances"],
        where="post",
        color="tab:purple",
        lw=1.5,
        label="instances answering",
    )
    top = max(int(sec["instances"].max()), 1)
    if "demand" in sec and sec["demand"].notna().any():
        _series(ax, sec, "demand", "0.4", ":", "demand (Little's law)")
        top = max(top, int(sec["demand"].max()))
    if platform is not None:
        _shade(ax, fault_spans(platform))
        top = max(top, _platform_marks(ax, sec, platform))
    for i, r in enumerate(inst.itertuples()):
        ax.plot(
            [r.first_answer],
            [0],
            marker="^",
            color="tab:purple",
            ms=8,
            clip_on=False,
            label="first answer of an instance" if i == 0 else None,
        )
        if len(inst) <= 12:
            ax.annotate(
                f"{str(r.instance)[-10:]}\n{r.first_answer:.1f} s",
                (r.first_answer, 0),
                xytext=(2, 14 + 22 * (i % 3)),
                textcoords="offset points",
                fontsize=7,
            )
    _marks(ax, rows)
    ax.set_ylim(0, top + 1.5)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _finish(
        fig, ax, path, "Instances answering per second; when each first answered", "instances"
    )


def _series(ax: Axes, sec: pd.DataFrame, col: str, color: str, ls: str, label: str) -> None:
    """A thin per-second step line drawn over the instances count (demand, platform ready count)."""
    ax.step(sec.index, sec[col], where="post", color=color, lw=1.1, ls=ls, label=label)


def _platform_marks(ax: Axes, sec: pd.DataFrame, platform: PlatformLog) -> int:
    """The platform's view on the instances plot: ready count, decisions, ready and drain instants."""
    top = 0
    if "supply_platform" in sec:
        _series(ax, sec, "supply_platform", "tab:green", "--", "ready (platform)")
    reported = platform.supply_metric(len(sec))
    if reported is not None:
        ax.step(sec.index, reported[1], where="post", color="tab:olive", lw=1.1, ls="-.",
                label=f"{reported[0]} (CloudWatch)")  # fmt: skip
        top = int(reported[1].max()) if len(reported[1]) else 0
    if platform.decisions:
        ax.plot(
            [d.t for d in platform.decisions],
            [d.desired for d in platform.decisions],
            "x",
            color="tab:brown",
            ms=6,
            label="decision: desired instances",
        )
        top = max(top, *(d.desired for d in platform.decisions))
    ready = [i.ready for i in platform.instances.values() if i.ready is not None]
    drain = [i.drain for i in platform.instances.values() if i.drain is not None]
    for xs, color, name in (
        (ready, "tab:green", "instance ready"),
        (drain, "tab:red", "instance draining"),
    ):
        for k, x in enumerate(xs):
            ax.axvline(x, color=color, lw=0.7, alpha=0.6, label=name if k == 0 else None)
    return top


def shares(
    run: Run, inst: pd.DataFrame, rows: Sequence[HeadlineRow], path: Path, top_n: int = 10
) -> Path:
    fig, ax = plt.subplots(figsize=SIZE)
    wide = answers_per_instance(run)
    if len(wide):
        names = list(inst.sort_values("requests", ascending=False)["instance"][:top_n])
        t = wide[[c for c in wide.columns if c in names]].copy()
        rest = [c for c in wide.columns if c not in names]
        if rest:
            t["other"] = wide[rest].sum(axis=1)
        cols = [n for n in inst["instance"] if n in t.columns] + (
            ["other"] if "other" in t.columns else []
        )
        total = inst.set_index("instance")["share"]
        labels = [
            f"{str(c)[-14:]} ({total.get(c, np.nan):.0%})" if c != "other" else "other"
            for c in cols
        ]
        ax.stackplot(t.index, [t[c] for c in cols], labels=labels, step="post", alpha=0.85)
    _marks(ax, rows)
    ax.set_ylim(bottom=0)
    return _finish(
        fig,
        ax,
        path,
        "Each instance's share of the answers per second (total share in brackets)",
        "answers / s",
    )


def server_client(sec: pd.DataFrame, rows: Sequence[HeadlineRow], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=SIZE)
    x = sec.index
    ax.plot(
        x, sec["client_p50_done"], color="tab:blue", lw=1.3, label="client p50 (OK answers)", **STEP
    )
    ax.plot(x, sec["server_total_p50"], color="tab:green", lw=1.3, label="server total p50", **STEP)
    ax.plot(x, sec["server_queue_p50"], color="tab:olive", lw=1, label="server queue p50", **STEP)
    gap = (sec["client_p50_done"] >= sec["server_total_p50"]).to_numpy()
    ax.fill_between(
        x,
        sec["server_total_p50"],
        sec["client_p50_done"],
        where=gap,
        step="post",
        color="tab:blue",
        alpha=0.15,
        label="added by network and platform",
    )
    _marks(ax, rows)
    ax.set_ylim(bottom=0)
    return _finish(fig, ax, path, "Server time vs client time per second (by answer)", "ms")


def hit_ratio(sec: pd.DataFrame, rows: Sequence[HeadlineRow], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=SIZE)
    ax.plot(sec.index, sec["hit_ratio"], color="tab:cyan", lw=1.3, label="hit ratio", **STEP)
    _marks(ax, rows)
    ax.set_ylim(0, 1.05)
    return _finish(
        fig, ax, path, "Cache hit ratio per second (by arrival)", "hits / (hits + misses)"
    )


def overlay(
    secs: Sequence[pd.DataFrame],
    labels: Sequence[str],
    column_sets: Sequence[tuple[str, str]],
    title: str,
    ylabel: str,
    path: Path,
    log: bool = False,
    hline: float | None = None,
) -> Path:
    """The same series for every run of a comparison on one axis."""
    fig, ax = plt.subplots(figsize=SIZE)
    styles = ("-", "--", ":")
    for sec, label, color in zip(secs, labels, RUN_COLORS, strict=False):
        for (col, name), style in zip(column_sets, styles, strict=False):
            if col in sec and sec[col].notna().any():
                ax.plot(
                    sec.index,
                    sec[col],
                    color=color,
                    ls=style,
                    lw=1.2,
                    label=f"{label}: {name}",
                    **STEP,
                )
    if hline is not None:
        ax.axhline(hline, color="k", lw=1, ls="-.", label=f"SLO {hline:g} ms")
    if log:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    return _finish(fig, ax, path, title, ylabel)
