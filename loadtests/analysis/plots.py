"""The report's figures, one PNG each, drawn with matplotlib's Agg backend (no display needed).

Every figure shares the x axis "seconds since the run started" and marks the load rises (dashed) and
the recoveries (dotted), so the eye can line up cause and effect across figures.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .runs import Run  # noqa: E402

SIZE = (11, 4.2)
# A per-second value covers [s, s+1): drawn as steps, a rise never appears to start before it happened.
STEP = {"drawstyle": "steps-post"}
DPI = 100
RUN_COLORS = ("tab:blue", "tab:orange")


def _finish(fig, ax, path: Path, title: str, ylabel: str):
    ax.set_title(title, loc="left", fontsize=11)
    ax.set_xlabel("seconds since start")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.set_xlim(left=0)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _marks(ax, rows):
    labelled = set()
    for h in rows:
        ax.axvline(h["onset_s"], color="0.3", ls="--", lw=0.9, label=None if "rise" in labelled else "load rise")
        labelled.add("rise")
        if h["recovery_s"]:  # 0: the objective never broke, nothing to mark
            ax.axvline(h["onset_s"] + h["recovery_s"], color="tab:green", ls=":", lw=1.4,
                       label=None if "rec" in labelled else "recovered")
            labelled.add("rec")


def rate(sec: pd.DataFrame, rows, path: Path):
    fig, ax = plt.subplots(figsize=SIZE)
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


def latency(sec: pd.DataFrame, rows, slo_ms: float, path: Path):
    fig, ax = plt.subplots(figsize=SIZE)
    x = sec.index
    for p, color in (("p50", "tab:blue"), ("p95", "tab:orange"), ("p99", "tab:red")):
        ax.plot(x, sec[p], color=color, lw=1.2, label=p, **STEP)
    ax.axhline(slo_ms, color="k", lw=1, ls="-.", label=f"SLO p95 {slo_ms:g} ms")
    bad = (sec["p95"] > slo_ms).to_numpy()
    if bad.any():
        ax.fill_between(x, 0, 1, where=bad, step="post", color="tab:red", alpha=0.08,
                        transform=ax.get_xaxis_transform(), label="p95 over SLO")
    _marks(ax, rows)
    if sec["p99"].notna().any() and sec["p99"].max() > 20 * max(sec["p50"].min(), 1):
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    return _finish(fig, ax, path, "Latency per second (by arrival), against the SLO", "ms")


def instances(sec: pd.DataFrame, inst: pd.DataFrame, rows, path: Path):
    fig, ax = plt.subplots(figsize=SIZE)
    ax.step(sec.index, sec["instances"], where="post", color="tab:purple", lw=1.5, label="instances answering")
    top = max(int(sec["instances"].max()), 1)
    for i, r in enumerate(inst.itertuples()):
        ax.plot([r.first_answer], [0], marker="^", color="tab:purple", ms=8, clip_on=False,
                label="first answer of an instance" if i == 0 else None)
        if len(inst) <= 12:
            ax.annotate(f"{str(r.instance)[-10:]}\n{r.first_answer:.1f} s", (r.first_answer, 0),
                        xytext=(2, 14 + 22 * (i % 3)), textcoords="offset points", fontsize=7)
    _marks(ax, rows)
    ax.set_ylim(0, top + 1.5)
    ax.yaxis.get_major_locator().set_params(integer=True)
    return _finish(fig, ax, path, "Instances answering per second; when each first answered", "instances")


def shares(run: Run, inst: pd.DataFrame, rows, path: Path, top_n: int = 10):
    fig, ax = plt.subplots(figsize=SIZE)
    r = run.requests[run.requests["instance"] != "none"]
    if len(r):
        names = list(inst.sort_values("requests", ascending=False)["instance"][:top_n])
        label = r["instance"].where(r["instance"].isin(names), "other")
        t = pd.crosstab(np.floor(r["t_end"]).clip(lower=0).astype(int), label)
        t = t.reindex(range(int(t.index.max()) + 1), fill_value=0)
        cols = [n for n in inst["instance"] if n in t.columns] + (["other"] if "other" in t.columns else [])
        total = inst.set_index("instance")["share"]
        labels = [f"{str(c)[-14:]} ({total.get(c, np.nan):.0%})" if c != "other" else "other" for c in cols]
        ax.stackplot(t.index, [t[c] for c in cols], labels=labels, step="post", alpha=0.85)
    _marks(ax, rows)
    ax.set_ylim(bottom=0)
    return _finish(fig, ax, path, "Each instance's share of the answers per second (total share in brackets)",
                   "answers / s")


def server_client(sec: pd.DataFrame, rows, path: Path):
    fig, ax = plt.subplots(figsize=SIZE)
    x = sec.index
    ax.plot(x, sec["client_p50_done"], color="tab:blue", lw=1.3, label="client p50 (OK answers)", **STEP)
    ax.plot(x, sec["server_total_p50"], color="tab:green", lw=1.3, label="server total p50", **STEP)
    ax.plot(x, sec["server_queue_p50"], color="tab:olive", lw=1, label="server queue p50", **STEP)
    gap = (sec["client_p50_done"] >= sec["server_total_p50"]).to_numpy()
    ax.fill_between(x, sec["server_total_p50"], sec["client_p50_done"], where=gap, step="post", color="tab:blue", alpha=0.15,
                    label="added by network and platform")
    _marks(ax, rows)
    ax.set_ylim(bottom=0)
    return _finish(fig, ax, path, "Server time vs client time per second (by answer)", "ms")


def overlay(secs, labels, column_sets, title, ylabel, path: Path, log=False, hline=None):
    """The same series for two runs on one axis (A/B comparison)."""
    fig, ax = plt.subplots(figsize=SIZE)
    styles = ("-", "--", ":")
    for sec, label, color in zip(secs, labels, RUN_COLORS):
        for (col, name), style in zip(column_sets, styles):
            if col in sec and sec[col].notna().any():
                ax.plot(sec.index, sec[col], color=color, ls=style, lw=1.2, label=f"{label}: {name}", **STEP)
    if hline is not None:
        ax.axhline(hline, color="k", lw=1, ls="-.", label=f"SLO {hline:g} ms")
    if log:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    return _finish(fig, ax, path, title, ylabel)
