"""report.md, a self-contained report.html and report.json for a run; compare.* for an A/B pair.

Both documents format an `Analysis` (analyse.py) and nothing else, so every number they show is
also in the JSON written beside them.
"""
# ruff: noqa: RUF001, RUF003  (×, −, θ, τ, υ are the notation the report and its sources use)

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import elasticity, plots
from .analyse import SCHEMA_VERSION, Analysis, analyse, as_json, criteria_for
from .document import Doc
from .metrics import Capacity, Criteria, HeadlineRow
from .runs import Run

CriteriaFor = Callable[[Run], Criteria]


def _num(v: float | int | None, unit: str = "", digits: int = 0, none: str = "—") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return none
    return f"{v:,.{digits}f}{unit}"


HEADLINE_HEADERS = [
    "#",
    "load rise at",
    "offered req/s",
    "instances before",
    "first new instance answered",
    "recovered after",
    "errors until recovery",
    "worst p95 until recovery",
    "max latency until recovery",
]


def headline_rows(rows: list[HeadlineRow]) -> list[list[object]]:
    table: list[list[object]] = []
    for i, h in enumerate(rows, 1):
        rec = (
            "0 s (objective never broke)"
            if h.recovery_s == 0
            else _num(h.recovery_s, " s")
            if h.recovery_s is not None
            else f"not within {h.window_s} s"
        )
        new = (
            f"{h.first_new_instance_s:.1f} s ({h.new_instances} new)"
            if h.first_new_instance_s is not None
            else f"none within {h.window_s} s"
        )
        err = f"{h.errors:,} of {h.requests:,}" + (
            f" ({h.errors / h.requests:.1%})" if h.requests else ""
        )
        table.append(
            [
                i,
                f"{h.onset_s} s",
                f"{h.rate_before:,.0f} → {h.rate_after:,.0f}",
                h.instances_before,
                new,
                rec,
                err,
                _num(h.worst_p95_ms, " ms"),
                _num(h.max_latency_ms, " ms"),
            ]
        )
    return table


def capacity_rows(c: Capacity) -> list[list[object]]:
    rows: list[list[object]] = [
        ["mean service time per request (server total − queue)", _num(c.service_ms, " ms", 1)],
        [
            "max concurrency per instance",
            _num(c.max_concurrency)
            if c.max_concurrency
            else "unknown: give --max-concurrency (or MAX_CONCURRENCY when running the load test)",
        ],
    ]
    if c.capacity_at_break is not None:
        when = (
            "by the time the objective broke"
            if c.break_s is not None
            else "in the run (it never broke)"
        )
        rows += [
            [
                "Little's-law capacity of one instance (C ÷ S)",
                _num(c.capacity_per_instance, " req/s"),
            ],
            [
                f"… with the {c.instances_at_break} instance(s) that had answered {when}",
                _num(c.capacity_at_break, " req/s"),
            ],
            [
                f"… with the peak of {c.instances_peak} instance(s) answering",
                _num(c.capacity_peak, " req/s"),
            ],
        ]
    rows += [
        [
            "objective first broke (sustained) at",
            f"{c.break_s} s, offered {_num(c.break_offered, ' req/s')}"
            if c.break_s is not None
            else "never",
        ],
        ["highest offered rate", _num(c.max_offered, " req/s")],
        ["highest OK throughput in one second", _num(c.peak_ok_throughput, " req/s")],
    ]
    return rows


ELASTICITY_HEADERS = [
    "scope",
    "T",
    "accuracy_U (inst.)",
    "accuracy_O (inst.)",
    "timeshare_U",
    "timeshare_O",
    "θ_U",
    "θ_O",
    "τ_U",
    "τ_O",
    "instability υ",
    "jitter (/min)",
    "missing (inst.·s)",
    "covered after",
]


def _elasticity_cells(m: elasticity.Elasticity) -> list[object]:
    return [
        f"{m.seconds} s",
        f"{m.accuracy_u:.2f}",
        f"{m.accuracy_o:.2f}",
        f"{m.timeshare_u:.3f}",
        f"{m.timeshare_o:.3f}",
        f"{m.theta_u:.1f} %",
        f"{m.theta_o:.1f} %",
        f"{m.tau_u:.1f} %",
        f"{m.tau_o:.1f} %",
        f"{m.instability:.1f} %",
        f"{m.jitter:+.2f}",
        f"{m.missing_instance_seconds:,.0f}",
    ]


SUPPLY_NAMES = {
    "clients": "clients",
    "platform": "platform (its instances' ready spans)",
    "platform_metric": "platform's own metric (CloudWatch)",
}


def _elasticity_section(doc: Doc, a: Analysis) -> None:
    doc.h2("Elasticity: demand against supply")
    el = a.elasticity
    if el is None:
        doc.p(f"Not computed: {a.elasticity_missing}.")
        return
    doc.p(
        f"Demand d_t = ⌈offered_t × S ÷ (C × u)⌉ (at least {el.minimum}) with S = {el.service_ms:.1f} ms "
        f"(measured mean service time), C = {el.max_concurrency:g}, u = {el.utilisation:g}: peak demand "
        f"{el.peak_demand} instance(s) over {el.seconds} s of load. Supply s_t: instances that answered "
        "in second t (clients), that the platform held ready (platform, from platform.jsonl), or "
        "that the platform's own metric reported (platform_metric: ActiveInstances or "
        "RunningTaskCount from CloudWatch, in platform.jsonl after make platform-view). "
        'Definitions and sources: loadtests/README.md, "Reading the elasticity metrics".'
    )
    for view in el.views:
        rows: list[list[object]] = [["whole run", *_elasticity_cells(view.whole), "—"]]
        for i, r in enumerate(view.rises, 1):
            covered = (
                f"{r.covered_after_s} s"
                if r.covered_after_s is not None
                else f"not within {r.window_s} s"
            )
            rows.append([f"rise {i} at {r.onset_s} s", *_elasticity_cells(r.metrics), covered])
        doc.p(f"Supply seen by the {SUPPLY_NAMES.get(view.supply, view.supply)}:")
        doc.table(ELASTICITY_HEADERS, rows)


def _platform_section(doc: Doc, a: Analysis) -> None:
    if not a.platform_rises:
        return
    doc.h2("Platform events per rise")
    doc.p(
        "From platform.jsonl: the first scale-up decision after each rise, when the first instance it "
        "started was requested, became ready (first /readyz 200) and went into the balancer's "
        "rotation (its health check passed), when it served its first request, beside the first answer the clients saw from it. Seconds after the rise."
    )

    def s(x: float | None) -> str:
        return _num(x, " s", 2)

    doc.table(
        [
            "#",
            "rise at",
            "decision",
            "desired",
            "instance",
            "requested",
            "ready",
            "in rotation",
            "first request served",
            "first answer (clients)",
        ],
        [
            [
                i,
                f"{p.onset_s} s",
                s(p.decision_s),
                _num(p.desired),
                p.instance or "—",
                s(p.requested_s),
                s(p.ready_s),
                s(p.in_rotation_s),
                s(p.first_request_s),
                s(p.client_first_answer_s),
            ]
            for i, p in enumerate(a.platform_rises, 1)
        ],
    )


def _faults_section(doc: Doc, a: Analysis) -> None:
    if not a.faults and a.accounting is None:
        return
    doc.h2("Faults")
    acc = a.accounting
    if acc is not None:
        counted = (
            f"answered {acc.answered:,} + failed {acc.failed:,} + dropped by k6 {acc.dropped:,}"
        )
        if acc.planned is None:
            doc.p(f"Every request: {counted} (no arrival-rate plan to hold them against).")
        else:
            if not acc.holds:
                verdict = (
                    f"NOT BALANCED, {acc.difference:+,} unaccounted for (allowed: ±{acc.tolerance})"
                )
            elif acc.difference:
                # k6 may start one arrival more or fewer than the plan's integral (a boundary).
                verdict = (
                    "every planned request is accounted for, each once (k6 started "
                    f"{abs(acc.difference)} {'fewer' if (acc.difference or 0) > 0 else 'more'} "
                    f"than the plan's integral; allowed: ±{acc.tolerance})"
                )
            else:
                verdict = "every planned request is accounted for, each once"
            doc.p(f"Planned {acc.planned:,} = {counted}: {verdict}.")
    if not a.faults:
        return
    doc.p(
        "From platform.jsonl and the clients' requests, seconds since the run began. The platform "
        "replaced a killed instance (a new one ready), ejected a hung one (HAProxy's check "
        "took it out of rotation) or waited. Capacity back: the replacement in rotation, the hung one "
        "back in it, the slowed one's configuration restored. Recovered: capacity back and "
        f"{a.criteria.describe()}, from the fault's application; the requests are those that "
        "started in that time (until the run's end if it never recovered); over the objective: "
        f"answered, but slower than {a.criteria.slo_p95_ms:g} ms."
    )

    def s(x: float | None) -> str:
        return _num(x, " s", 2)

    def what(f: Any) -> str:
        if f.response == "not applied":
            return f"not applied: {f.note or 'no reason logged'}"
        if f.kind == "kill":
            got = f"exit {f.exit_code}" if f.exit_code is not None else "exit not seen"
            if f.replaced_by:
                return f"{got}; {f.replaced_by} ready at {s(f.replacement_ready_s)}"
            return f"{got}; no replacement ready"
        if f.kind == "hang":
            out = f"SIGCONT at {s(f.restored_s)}"
            if f.ejected_s is not None:
                out = f"out of rotation at {s(f.ejected_s)}, {out}, back at {s(f.readmitted_s)}"
            return out
        return f"configuration back at {s(f.restored_s)}"

    doc.table(
        [
            "#",
            "fault",
            "instance",
            "planned",
            "applied",
            "what happened",
            "platform",
            "capacity back after",
            "recovered after",
            "requests",
            "failed",
            "over the objective",
        ],
        [
            [
                f.fault,
                f.spec,
                f.instance or "—",
                s(f.planned_s),
                s(f.applied_s),
                what(f),
                f.response,
                s(f.supply_back_s - f.applied_s)
                if f.supply_back_s is not None and f.applied_s is not None
                else "—",
                s(f.recovered_s)
                if f.recovered_s is not None or f.applied_s is None
                else "not within the run",
                f"{f.requests:,}",
                f"{f.failed:,}",
                f"{f.over_objective:,}",
            ]
            for f in a.faults
        ],
    )


# A cache replays the origin's headers with a hit, Server-Timing included: the "server" time of a
# hit is the origin's time when the object was stored, not time spent now.
_HIT_TIMING = (
    "A cache hit carries the origin's Server-Timing from when the object was stored, so server "
    'time and "added by network and platform" describe the origin\'s answers, not the hits; '
    "read the hit latencies above for what the cache costs."
)


def _cache_section(doc: Doc, a: Analysis, pdir: Path) -> None:
    c = a.cache
    if c is None:
        return
    doc.h2("Cache: hits and misses")
    doc.p(
        f"{c.answers_with_status:,} answers carried a cache status (X-Cache, X-Cache-Status or Age): "
        f"{c.hits:,} hits, {c.misses:,} misses, {c.errors:,} errors; hit ratio "
        f"{_num(c.hit_ratio and c.hit_ratio * 100, ' %', 1)} (hits ÷ (hits + misses))."
    )
    doc.table(
        ["status", "answers", "p50", "p95", "p99", "max"],
        [
            [
                x.cls,
                f"{x.answers:,}",
                _num(x.p50_ms, " ms", 1),
                _num(x.p95_ms, " ms", 1),
                _num(x.p99_ms, " ms", 1),
                _num(x.max_ms, " ms", 1),
            ]
            for x in c.latency
        ],
    )
    doc.img(
        plots.hit_ratio(a.per_second, a.headline, pdir / "hit_ratio.png"),
        "cache hit ratio per second",
    )
    doc.p(READING["hit_ratio"])
    if c.hits:
        doc.p(_HIT_TIMING)


READING = {
    "rate": "Grey: the rate k6 was asked to offer; blue: requests actually sent (below grey only when k6 "
    "ran out of VUs, shown as dropped); green: OK answers per second; red: errors per second. "
    "Green below grey while red rises is the platform shedding load.",
    "latency": "Percentiles of the latency of the requests that *arrived* in each second, against the p95 "
    "objective (dash-dot). Shaded seconds break it; dotted green lines mark recovery.",
    "instances": "How many distinct instances (X-Instance-Id) answered in each second; triangles mark the "
    "first answer of each instance, i.e. when new capacity actually took traffic. With platform.jsonl: "
    "the platform's ready count (dashed), its decisions (desired count, crosses) and each instance's "
    "ready (green) and drain (red) instants; from a cloud platform (make platform-view), the ready "
    "count comes from its instances' log streams and its own metric (ActiveInstances or "
    "RunningTaskCount, dash-dot, one value per period) is drawn beside it.",
    "shares": "Answers per second stacked by instance: how the load balancer spreads the load and how fast "
    "a new instance takes its share.",
    "server_client": "Client p50 vs the service's own Server-Timing total: the shaded gap is what the "
    "network, TLS, the platform's proxy and its queueing add; server queue is time "
    "waiting for a concurrency slot inside delay-echo.",
    "hit_ratio": "Share of the answers that arrived in each second and came from the cache.",
}


def _run_info(doc: Doc, run: Run) -> None:
    m = run.meta[0] if run.meta else None
    rows: list[list[object]] = [
        ["profile", run.profile],
        ["target", (m.target if m else None) or "?"],
        ["start (UTC)", min((x.start_utc for x in run.meta), default="?")],
        ["end (UTC)", max((x.end_utc or "?" for x in run.meta), default="?")],
        ["generators (folders merged)", str(len(run.dirs))],
        [
            "git revision",
            f"{((m.git_revision if m else None) or '?')[:12]}{' (dirty)' if m and m.git_dirty else ''}",
        ],
        ["k6", (m.k6_version if m else None) or "?"],
    ]
    for k, v in sorted(run.service.items()):
        rows.append([k, v])
    doc.table(["run", ""], rows)
    knobs = ", ".join(
        f"`{k}={v}`" for k, v in sorted(run.parameters.items()) if k not in ("PROFILE",)
    )
    if knobs:
        doc.p("Knobs: " + knobs)


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    path.write_text(json.dumps(obj, indent=1, allow_nan=False) + "\n")


def build_report(run: Run, out_dir: Path, criteria: Criteria | None = None) -> Analysis:
    """Analyse `run` and write report.md, report.html, report.json, per_second.csv and plots/."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pdir = out_dir / "plots"
    pdir.mkdir(exist_ok=True)
    c = criteria or criteria_for(run)
    a = analyse(run, c)
    sec, summ = a.per_second, a.summary
    sec.to_csv(out_dir / "per_second.csv")

    doc = Doc(f"Load test report: {run.label}")
    _run_info(doc, run)
    doc.h2("Headline: when capacity arrived")
    doc.p(
        f"Recovery means {c.describe()}. Times are from the moment the offered rate rose; a new "
        "instance is one that had not answered before that moment (or within its first second)."
    )
    doc.table(HEADLINE_HEADERS, headline_rows(a.headline))
    doc.h2("Capacity: Little's law against what was measured")
    doc.table(["", ""], capacity_rows(a.capacity))
    _elasticity_section(doc, a)
    doc.h2("Whole run")
    doc.table(
        ["", ""],
        [
            ["requests", f"{summ.requests:,}"],
            [
                "errors",
                f"{summ.errors:,} ({_num(summ.error_rate and summ.error_rate * 100, ' %', 2)})",
            ],
            ["dropped by k6 (too few VUs)", f"{summ.dropped:,}"],
            [
                "latency p50 / p95 / p99 / max",
                " / ".join(
                    _num(v, " ms", 1) for v in (summ.p50_ms, summ.p95_ms, summ.p99_ms, summ.max_ms)
                ),
            ],
            [
                "server total p50; added by network and platform (p50), OK answers",
                f"{_num(summ.server_p50_ms, ' ms', 1)}; {_num(summ.overhead_p50_ms, ' ms', 1)}",
            ],
            ["instances seen", str(summ.instances)],
        ],
    )
    doc.h2("Offered vs achieved rate")
    spans = plots.fault_spans(run.platform)
    doc.img(plots.rate(sec, a.headline, pdir / "rate.png", spans), "offered vs achieved rate")
    doc.p(READING["rate"])
    doc.h2("Latency per second")
    doc.img(
        plots.latency(sec, a.headline, c.slo_p95_ms, pdir / "latency.png", spans),
        "latency percentiles per second",
    )
    doc.p(READING["latency"])
    doc.h2("Instances")
    doc.img(
        plots.instances(sec, a.instances, a.headline, pdir / "instances.png", run.platform),
        "instances per second",
    )
    doc.p(READING["instances"])
    doc.table(
        [
            "instance",
            "reported start (UTC)",
            "first answer",
            "last answer",
            "answers",
            "share",
            "p50",
        ],
        [
            [
                r.instance,
                r.instance_start,
                f"{r.first_answer:.2f} s",
                f"{r.last_answer:.2f} s",
                f"{r.requests:,}",
                f"{r.share:.1%}",
                f"{r.p50_ms:.1f} ms",
            ]
            for r in a.instances.itertuples()
        ],
    )
    _platform_section(doc, a)
    _faults_section(doc, a)
    doc.h2("Load per instance")
    doc.img(
        plots.shares(run, a.instances, a.headline, pdir / "shares.png"),
        "share of answers per instance",
    )
    doc.p(READING["shares"])
    doc.h2("Server time vs client time")
    doc.img(
        plots.server_client(sec, a.headline, pdir / "server_client.png"), "server vs client time"
    )
    doc.p(READING["server_client"])
    _cache_section(doc, a, pdir)
    doc.write(out_dir)
    _write_json(
        out_dir / "report.json",
        {"schema_version": SCHEMA_VERSION, "kind": "report", **as_json(a, run)},
    )
    return a


def _line(
    name: str, values: Sequence[float | int | None], unit: str = "", digits: int = 1
) -> list[object]:
    """One row: the baseline's value, then each other run's value and its difference to it."""
    base = values[0]
    row: list[object] = [name, _num(base, unit, digits)]
    for v in values[1:]:
        diff = v - base if base is not None and v is not None else None
        rel = f" ({diff / base:+.0%})" if diff is not None and base else ""
        row += [
            _num(v, unit, digits),
            (_num(diff, unit, digits) if diff is not None else "—") + rel,
        ]
    return row


def labels_for(n: int) -> list[str]:
    """A, B, C, … for the runs of a comparison, the first (A) the baseline."""
    return [chr(ord("A") + i) for i in range(n)]


def build_compare(
    a_run: Run, b_run: Run, out_dir: Path, criteria: CriteriaFor = criteria_for
) -> tuple[Analysis, Analysis]:
    """Two runs side by side (build_compare_runs with A as the baseline)."""
    a, b = build_compare_runs([a_run, b_run], out_dir, criteria)
    return a, b


def build_compare_runs(
    runs: Sequence[Run], out_dir: Path, criteria: CriteriaFor = criteria_for
) -> list[Analysis]:
    """Analyse every run (each with its own criteria) and write compare.{md,html,json} and plots/:
    each run beside the first, the baseline, with its difference to it.

    The Markdown and HTML keep the names report.md and report.html, like a single run's report."""
    if len(runs) < 2:
        raise ValueError("a comparison needs two runs or more")
    if len(runs) > len(plots.RUN_COLORS):
        raise ValueError(f"at most {len(plots.RUN_COLORS)} runs in one comparison")
    out_dir.mkdir(parents=True, exist_ok=True)
    pdir = out_dir / "plots"
    pdir.mkdir(exist_ok=True)
    res = [analyse(r, criteria(r)) for r in runs]
    labels = labels_for(len(runs))
    a = res[0]
    doc = Doc(" vs ".join(r.label for r in runs))
    doc.table(
        ["", "run", "profile", "target"],
        [
            [lab, r.label, r.profile, (r.meta[0].target if r.meta else None) or "?"]
            for lab, r in zip(labels, runs, strict=True)
        ],
    )
    doc.p(
        f"Recovery means {a.criteria.describe()} (each run uses its own SLO knobs unless given on the command line)."
        + (" A is the baseline: every difference is that run minus A." if len(runs) > 2 else "")
    )
    summaries = [x.summary for x in res]
    rises = [x.largest_rise() for x in res]

    def pct(x: float | None) -> float | None:
        return None if x is None else x * 100

    def each(f: Callable[[Any], Any]) -> list[Any]:
        return [f(x) for x in summaries]

    def rise(f: Callable[[HeadlineRow], Any]) -> list[Any]:
        return [f(r) if r else None for r in rises]

    headers = [""] + [h for lab in labels[1:] for h in (lab, f"{lab} − A")]
    headers.insert(1, "A")
    doc.h2("Differences")
    doc.table(
        headers,
        [
            # Average and maximum first: what a user-facing A/B (the paths study) is judged by.
            _line("latency average", each(lambda s: s.mean_ms), " ms"),
            _line("latency max", each(lambda s: s.max_ms), " ms"),
            _line("latency p50", each(lambda s: s.p50_ms), " ms"),
            _line("latency p95", each(lambda s: s.p95_ms), " ms"),
            _line("latency p99", each(lambda s: s.p99_ms), " ms"),
            _line("requests", each(lambda s: s.requests), digits=0),
            _line("errors", each(lambda s: s.errors), digits=0),
            _line("error rate (%)", each(lambda s: pct(s.error_rate)), digits=2),
            _line("dropped by k6", each(lambda s: s.dropped), digits=0),
            _line("server total p50", each(lambda s: s.server_p50_ms), " ms"),
            _line("added by network and platform (p50)", each(lambda s: s.overhead_p50_ms), " ms"),
            _line("instances seen", each(lambda s: s.instances), digits=0),
            _line("peak OK throughput", each(lambda s: s.peak_ok_per_s), " req/s", 0),
            _line(
                "largest rise: first new instance answered",
                rise(lambda r: r.first_new_instance_s),
                " s",
            ),
            _line("largest rise: recovered after", rise(lambda r: r.recovery_s), " s", 0),
            _line("largest rise: errors until recovery", rise(lambda r: r.errors), digits=0),
            _line(
                "objective first broke at offered",
                [x.capacity.break_offered for x in res],
                " req/s",
                0,
            ),
        ],
    )
    speeds = [_speedup(doc, a, x, lab) for lab, x in zip(labels[1:], res[1:], strict=True)]
    if any(x.cache for x in res):
        doc.h2("Cache")

        def split(x: Analysis, cls: str, field: str) -> float | None:
            for s in x.cache.latency if x.cache else []:
                if s.cls == cls:
                    return float(getattr(s, field))
            return None

        rows = [_line("hit ratio (%)", [pct(x.cache.hit_ratio if x.cache else None) for x in res])]
        for cls in ("hit", "miss"):
            for q in ("p50_ms", "p95_ms", "p99_ms"):
                rows.append(_line(f"{cls} latency {q[:3]}", [split(x, cls, q) for x in res], " ms"))
        doc.table(headers, rows)
        if any(x.cache and x.cache.hits for x in res):
            doc.p(_HIT_TIMING)
    for label, run, x in zip(labels, runs, res, strict=True):
        doc.h2(f"Headline {label}: {run.label}")
        doc.table(HEADLINE_HEADERS, headline_rows(x.headline))
    secs = [x.per_second for x in res]
    doc.h2("Rates")
    doc.img(
        plots.overlay(
            secs,
            labels,
            [("sent", "sent"), ("ok_done", "OK"), ("errors", "errors")],
            "Sent, OK and errors per second",
            "requests / s",
            pdir / "rate.png",
        ),
        "rates",
    )
    doc.h2("Latency")
    doc.img(
        plots.overlay(
            secs,
            labels,
            [("p50", "p50"), ("p95", "p95"), ("p99", "p99")],
            "Latency per second",
            "ms",
            pdir / "latency.png",
            log=True,
            hline=a.criteria.slo_p95_ms,
        ),
        "latency",
    )
    doc.h2("Instances")
    doc.img(
        plots.overlay(
            secs,
            labels,
            [("instances", "instances"), ("demand", "demand")],
            "Instances answering per second (and demand)",
            "instances",
            pdir / "instances.png",
        ),
        "instances",
    )
    doc.h2("Server time vs client time")
    doc.img(
        plots.overlay(
            secs,
            labels,
            [("client_p50_done", "client p50"), ("server_total_p50", "server p50")],
            "Client vs server time (p50 per second)",
            "ms",
            pdir / "server_client.png",
        ),
        "server vs client",
    )
    if any(x.cache for x in res):
        doc.h2("Cache hit ratio")
        doc.img(
            plots.overlay(
                secs,
                labels,
                [("hit_ratio", "hit ratio")],
                "Cache hit ratio per second",
                "share",
                pdir / "hit_ratio.png",
            ),
            "hit ratio",
        )
    colours = ", ".join(
        f"{c.removeprefix('tab:')} is {lab}"
        for lab, c in zip(labels, plots.RUN_COLORS, strict=False)
    )
    doc.p(
        "Same run time axis for every run (seconds since each run's start). Solid/dashed/dotted lines are the "
        f"series named in each legend; {colours}."
    )
    doc.write(out_dir)
    _write_json(
        out_dir / "compare.json",
        {
            "schema_version": SCHEMA_VERSION,
            "kind": "compare",
            # The first two as before; with more runs, every run and every speedup over A.
            "a": as_json(res[0], runs[0]),
            "b": as_json(res[1], runs[1]),
            "elastic_speedup": speeds[0],
            "runs": [as_json(x, r) for x, r in zip(res, runs, strict=True)],
            "elastic_speedups": speeds,
        },
    )
    return res


def _speedup(doc: Doc, a: Analysis, b: Analysis, label: str = "B") -> dict[str, Any] | None:
    """The elastic speedup of `label` over A with the client-observed supply; shown and returned
    for JSON."""
    if a.elasticity is None or b.elasticity is None:
        return None
    wa, wb = a.elasticity.views[0].whole, b.elasticity.views[0].whole
    eps, ratios = elasticity.speedup(wa, wb, a.elasticity.peak_demand, b.elasticity.peak_demand)
    doc.h2("Elasticity" if label == "B" else f"Elasticity: {label} over A")
    doc.p(
        f"Elastic speedup of {label} over A: {eps:.2f} (geometric mean of A ÷ {label} over θ_U, θ_O, τ_U, τ_O, supply as "
        f"the clients saw it; above 1 means {label} provisions better). A metric 0 on both sides counts as ratio 1; "
        "a 0 on one side counts as one second of being one instance short (θ) or mis-provisioned (τ)."
    )
    names = {"theta_u": "θ_U (%)", "theta_o": "θ_O (%)", "tau_u": "τ_U (%)", "tau_o": "τ_O (%)"}
    doc.table(
        ["metric", "A", label, f"A ÷ {label}", "zero rule"],
        [
            [names[r.metric], f"{r.a:.2f}", f"{r.b:.2f}", f"{r.ratio:.2f}", r.rule or "—"]
            for r in ratios
        ],
    )
    return {
        "over": label,
        "value": eps,
        "supply": "clients",
        "ratios": [
            {"metric": r.metric, "a": r.a, "b": r.b, "ratio": r.ratio, "rule": r.rule}
            for r in ratios
        ],
    }
