"""Build report.md and a self-contained report.html (PNG plots inlined) for a run or an A/B pair.

The document is assembled once as a list of blocks (headings, paragraphs, tables, images) and
rendered twice, so the Markdown and the HTML can never disagree.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from . import metrics, plots
from .runs import Run, parse_duration


def _num(v, unit="", digits=0, none="—"):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return none
    return f"{v:,.{digits}f}{unit}"


def criteria_for(run: Run, slo_ms=None, error_rate=None, seconds=None) -> metrics.Criteria:
    """The recovery criteria: command-line values first, then the run's own SLO knobs, then defaults."""
    p = run.parameters
    c = metrics.Criteria()
    if slo_ms is not None:
        c.slo_p95_ms = float(slo_ms)
    elif p.get("SLO_P95"):
        c.slo_p95_ms = parse_duration(p["SLO_P95"]) * 1000.0
    if error_rate is not None:
        c.error_rate = float(error_rate)
    elif p.get("SLO_ERROR_RATE"):
        c.error_rate = float(p["SLO_ERROR_RATE"])
    if seconds is not None:
        c.seconds = int(seconds)
    return c


def max_concurrency_for(run: Run, given=None):
    if given is not None:
        return float(given)
    v = run.service.get("MAX_CONCURRENCY")
    return float(v) if v not in (None, "") else None


class Doc:
    def __init__(self, title: str):
        self.title = title
        self.blocks: list[tuple] = []

    def h2(self, text):
        self.blocks.append(("h2", text))

    def p(self, text):
        self.blocks.append(("p", text))

    def table(self, headers, rows):
        self.blocks.append(("table", headers, rows))

    def img(self, path: Path, alt: str):
        self.blocks.append(("img", path, alt))

    def markdown(self, base: Path) -> str:
        out = [f"# {self.title}", ""]
        for b in self.blocks:
            if b[0] == "h2":
                out += [f"## {b[1]}", ""]
            elif b[0] == "p":
                out += [b[1], ""]
            elif b[0] == "table":
                out.append("| " + " | ".join(b[1]) + " |")
                out.append("|" + "|".join("---" for _ in b[1]) + "|")
                out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in b[2]]
                out.append("")
            elif b[0] == "img":
                out += [f"![{b[2]}]({b[1].relative_to(base).as_posix()})", ""]
        return "\n".join(out)

    def html(self) -> str:
        out = ["<!doctype html><html lang=en><head><meta charset=utf-8>",
               f"<title>{html.escape(self.title)}</title>",
               "<style>body{font:14px/1.45 system-ui,sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;color:#222}"
               "table{border-collapse:collapse;margin:.5em 0 1.2em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
               "th{background:#f4f4f4}img{max-width:100%;border:1px solid #eee}code{background:#f4f4f4;padding:0 3px}"
               "h2{margin-top:1.6em;border-bottom:1px solid #ddd}</style></head><body>",
               f"<h1>{html.escape(self.title)}</h1>"]
        for b in self.blocks:
            if b[0] == "h2":
                out.append(f"<h2>{html.escape(b[1])}</h2>")
            elif b[0] == "p":
                text = html.escape(b[1])
                # Inline code spans are the only Markdown the paragraphs use.
                parts = text.split("`")
                text = "".join(f"<code>{s}</code>" if i % 2 else s for i, s in enumerate(parts))
                out.append(f"<p>{text}</p>")
            elif b[0] == "table":
                out.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in b[1]) + "</tr>")
                for row in b[2]:
                    out.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
                out.append("</table>")
            elif b[0] == "img":
                data = base64.b64encode(b[1].read_bytes()).decode()
                out.append(f'<p><img alt="{html.escape(b[2])}" src="data:image/png;base64,{data}"></p>')
        out.append("</body></html>")
        return "\n".join(out)

    def write(self, out_dir: Path):
        (out_dir / "report.md").write_text(self.markdown(out_dir))
        (out_dir / "report.html").write_text(self.html())


def headline_rows(rows, c: metrics.Criteria):
    table = []
    for i, h in enumerate(rows, 1):
        rec = ("0 s (objective never broke)" if h["recovery_s"] == 0
               else _num(h["recovery_s"], " s") if h["recovery_s"] is not None
               else f"not within {h['window_s']} s")
        new = (f"{h['first_new_instance_s']:.1f} s ({h['new_instances']} new)"
               if h["first_new_instance_s"] is not None else f"none within {h['window_s']} s")
        err = f"{h['errors']:,} of {h['requests']:,}" + (f" ({h['errors'] / h['requests']:.1%})" if h["requests"] else "")
        table.append([i, f"{h['onset_s']} s", f"{h['rate_before']:,.0f} → {h['rate_after']:,.0f}",
                      h["instances_before"], new, rec, err,
                      _num(h["worst_p95_ms"], " ms"), _num(h["max_latency_ms"], " ms")])
    return table


HEADLINE_HEADERS = ["#", "load rise at", "offered req/s", "instances before", "first new instance answered",
                    "recovered after", "errors until recovery", "worst p95 until recovery", "max latency until recovery"]


def capacity_rows(cap: dict):
    c = cap
    rows = [
        ["mean service time per request (server total − queue)", _num(c["service_ms"], " ms", 1)],
        ["max concurrency per instance", _num(c["max_concurrency"]) if c["max_concurrency"]
         else "unknown: give --max-concurrency (or MAX_CONCURRENCY when running the load test)"],
    ]
    if c.get("capacity_at_break") is not None:
        when = "by the time the objective broke" if c["break_s"] is not None else "in the run (it never broke)"
        rows += [
            ["Little's-law capacity of one instance (C ÷ S)", _num(c["capacity_per_instance"], " req/s")],
            [f"… with the {c['instances_at_break']} instance(s) that had answered {when}",
             _num(c["capacity_at_break"], " req/s")],
            [f"… with the peak of {c['instances_peak']} instance(s) answering", _num(c["capacity_peak"], " req/s")],
        ]
    rows += [
        ["objective first broke (sustained) at", f"{c['break_s']} s, offered {_num(c['break_offered'], ' req/s')}"
         if c["break_s"] is not None else "never"],
        ["highest offered rate", _num(c["max_offered"], " req/s")],
        ["highest OK throughput in one second", _num(c["peak_ok_throughput"], " req/s")],
    ]
    return rows


READING = {
    "rate": "Grey: the rate k6 was asked to offer; blue: requests actually sent (below grey only when k6 "
            "ran out of VUs, shown as dropped); green: OK answers per second; red: errors per second. "
            "Green below grey while red rises is the platform shedding load.",
    "latency": "Percentiles of the latency of the requests that *arrived* in each second, against the p95 "
               "objective (dash-dot). Shaded seconds break it; dotted green lines mark recovery.",
    "instances": "How many distinct instances (X-Instance-Id) answered in each second; triangles mark the "
                 "first answer of each instance, i.e. when new capacity actually took traffic.",
    "shares": "Answers per second stacked by instance: how the load balancer spreads the load and how fast "
              "a new instance takes its share.",
    "server_client": "Client p50 vs the service's own Server-Timing total: the shaded gap is what the "
                     "network, TLS, the platform's proxy and its queueing add; server queue is time "
                     "waiting for a concurrency slot inside delay-echo.",
}


def _run_info(doc: Doc, run: Run):
    m = run.meta[0] if run.meta else {}
    rows = [["profile", run.profile], ["target", m.get("target", "?")],
            ["start (UTC)", min((x.get("start_utc", "?") for x in run.meta), default="?")],
            ["end (UTC)", max((x.get("end_utc", "?") for x in run.meta), default="?")],
            ["generators (folders merged)", str(len(run.dirs))],
            ["git revision", f"{m.get('git_revision', '?')[:12]}{' (dirty)' if m.get('git_dirty') else ''}"],
            ["k6", m.get("k6_version", "?")]]
    for k, v in sorted(run.service.items()):
        rows.append([k, v])
    doc.table(["run", ""], rows)
    knobs = ", ".join(f"`{k}={v}`" for k, v in sorted(run.parameters.items()) if k not in ("PROFILE",))
    if knobs:
        doc.p("Knobs: " + knobs)


def build_report(run: Run, out_dir: Path, slo_ms=None, error_rate=None, seconds=None, max_concurrency=None):
    out_dir.mkdir(parents=True, exist_ok=True)
    pdir = out_dir / "plots"
    pdir.mkdir(exist_ok=True)
    c = criteria_for(run, slo_ms, error_rate, seconds)
    sec = metrics.per_second(run)
    rows = metrics.headline(run, sec, c)
    inst = metrics.instances(run)
    cap = metrics.capacity(run, sec, c, max_concurrency_for(run, max_concurrency))
    summ = metrics.summary(run, sec)
    sec.to_csv(out_dir / "per_second.csv")

    doc = Doc(f"Load test report: {run.label}")
    _run_info(doc, run)
    doc.h2("Headline: when capacity arrived")
    doc.p(f"Recovery means {c.describe()}. Times are from the moment the offered rate rose; a new "
          "instance is one that had not answered before that moment (or within its first second).")
    doc.table(HEADLINE_HEADERS, headline_rows(rows, c))
    doc.h2("Capacity: Little's law against what was measured")
    doc.table(["", ""], capacity_rows(cap))
    doc.h2("Whole run")
    doc.table(["", ""], [
        ["requests", f"{summ['requests']:,}"],
        ["errors", f"{summ['errors']:,} ({_num(summ['error_rate'] and summ['error_rate'] * 100, ' %', 2)})"],
        ["dropped by k6 (too few VUs)", f"{summ['dropped']:,}"],
        ["latency p50 / p95 / p99 / max", " / ".join(_num(summ[k], " ms", 1) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms"))],
        ["server total p50; added by network and platform (p50), OK answers",
         f"{_num(summ['server_p50_ms'], ' ms', 1)}; {_num(summ['overhead_p50_ms'], ' ms', 1)}"],
        ["instances seen", str(summ["instances"])],
    ])
    doc.h2("Offered vs achieved rate")
    doc.img(plots.rate(sec, rows, pdir / "rate.png"), "offered vs achieved rate")
    doc.p(READING["rate"])
    doc.h2("Latency per second")
    doc.img(plots.latency(sec, rows, c.slo_p95_ms, pdir / "latency.png"), "latency percentiles per second")
    doc.p(READING["latency"])
    doc.h2("Instances")
    doc.img(plots.instances(sec, inst, rows, pdir / "instances.png"), "instances per second")
    doc.p(READING["instances"])
    doc.table(["instance", "reported start (UTC)", "first answer", "last answer", "answers", "share", "p50"],
              [[r.instance, r.instance_start, f"{r.first_answer:.2f} s", f"{r.last_answer:.2f} s",
                f"{r.requests:,}", f"{r.share:.1%}", f"{r.p50_ms:.1f} ms"] for r in inst.itertuples()])
    doc.h2("Load per instance")
    doc.img(plots.shares(run, inst, rows, pdir / "shares.png"), "share of answers per instance")
    doc.p(READING["shares"])
    doc.h2("Server time vs client time")
    doc.img(plots.server_client(sec, rows, pdir / "server_client.png"), "server vs client time")
    doc.p(READING["server_client"])
    doc.write(out_dir)
    return {"criteria": c, "per_second": sec, "headline": rows, "instances": inst, "capacity": cap, "summary": summ}


def build_compare(a: Run, b: Run, out_dir: Path, slo_ms=None, error_rate=None, seconds=None, max_concurrency=None):
    out_dir.mkdir(parents=True, exist_ok=True)
    pdir = out_dir / "plots"
    pdir.mkdir(exist_ok=True)
    results = []
    for run in (a, b):
        c = criteria_for(run, slo_ms, error_rate, seconds)
        sec = metrics.per_second(run)
        results.append({
            "criteria": c, "per_second": sec, "headline": metrics.headline(run, sec, c),
            "capacity": metrics.capacity(run, sec, c, max_concurrency_for(run, max_concurrency)),
            "summary": metrics.summary(run, sec),
        })
    labels = ["A", "B"]
    doc = Doc(f"A/B: {a.label} vs {b.label}")
    doc.table(["", "run", "profile", "target"], [[l, r.label, r.profile, (r.meta[0] if r.meta else {}).get("target", "?")]
                                                 for l, r in zip(labels, (a, b))])
    c0 = results[0]["criteria"]
    doc.p(f"Recovery means {c0.describe()} (each run uses its own SLO knobs unless given on the command line).")

    # The largest rise is the spike the study is about (the run's start is a rise too, usually small).
    def first(res, key):
        rows = res["headline"]
        return max(rows, key=lambda h: h["rate_after"] - h["rate_before"])[key] if rows else None

    def line(name, key_fn, unit="", digits=1):
        va, vb = key_fn(results[0]), key_fn(results[1])
        diff = (vb - va) if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
        rel = f" ({diff / va:+.0%})" if diff is not None and va else ""
        return [name, _num(va, unit, digits), _num(vb, unit, digits),
                (_num(diff, unit, digits) if diff is not None else "—") + rel]

    s = lambda k: (lambda r: r["summary"][k])  # noqa: E731
    doc.h2("Differences")
    doc.table(["", "A", "B", "B − A"], [
        line("requests", s("requests"), digits=0),
        line("errors", s("errors"), digits=0),
        line("error rate (%)", lambda r: None if r["summary"]["error_rate"] is None else r["summary"]["error_rate"] * 100, digits=2),
        line("dropped by k6", s("dropped"), digits=0),
        line("latency p50", s("p50_ms"), " ms"),
        line("latency p95", s("p95_ms"), " ms"),
        line("latency p99", s("p99_ms"), " ms"),
        line("latency max", s("max_ms"), " ms"),
        line("server total p50", s("server_p50_ms"), " ms"),
        line("added by network and platform (p50)", s("overhead_p50_ms"), " ms"),
        line("instances seen", s("instances"), digits=0),
        line("peak OK throughput", s("peak_ok_per_s"), " req/s", 0),
        line("largest rise: first new instance answered", lambda r: first(r, "first_new_instance_s"), " s"),
        line("largest rise: recovered after", lambda r: first(r, "recovery_s"), " s", 0),
        line("largest rise: errors until recovery", lambda r: first(r, "errors"), digits=0),
        line("objective first broke at offered", lambda r: r["capacity"]["break_offered"], " req/s", 0),
    ])
    for label, run, res in zip(labels, (a, b), results):
        doc.h2(f"Headline {label}: {run.label}")
        doc.table(HEADLINE_HEADERS, headline_rows(res["headline"], res["criteria"]))
    secs = [r["per_second"] for r in results]
    doc.h2("Rates")
    doc.img(plots.overlay(secs, labels, [("sent", "sent"), ("ok_done", "OK"), ("errors", "errors")],
                          "Sent, OK and errors per second", "requests / s", pdir / "rate.png"), "rates")
    doc.h2("Latency")
    doc.img(plots.overlay(secs, labels, [("p50", "p50"), ("p95", "p95"), ("p99", "p99")],
                          "Latency per second", "ms", pdir / "latency.png", log=True, hline=c0.slo_p95_ms), "latency")
    doc.h2("Instances")
    doc.img(plots.overlay(secs, labels, [("instances", "instances")], "Instances answering per second", "instances",
                          pdir / "instances.png"), "instances")
    doc.h2("Server time vs client time")
    doc.img(plots.overlay(secs, labels, [("client_p50_done", "client p50"), ("server_total_p50", "server p50")],
                          "Client vs server time (p50 per second)", "ms", pdir / "server_client.png"), "server vs client")
    doc.p("Same run time axis for both runs (seconds since each run's start). Solid/dashed/dotted lines are the "
          "series named in each legend; blue is A, orange is B.")
    doc.write(out_dir)
    return results
