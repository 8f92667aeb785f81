"""Cache status: synthetic runs with known hit ratios and hit/miss latencies are reported exactly, in the
report, report.json and compare; a run without cache headers has no cache section; and the k6 side
(`cacheStatus` in loadtests/k6/lib/echo.js, run by the pinned k6) tags what the analysis classifies."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest

from loadtests.analysis.cache import classify
from loadtests.analysis.report import build_compare, build_report
from loadtests.analysis.runs import load_run
from loadtests.tests.synth import Req, arrivals, ramping, write_run

HERE = Path(__file__).resolve().parent.parent
K6 = os.environ.get("K6") or str(HERE.parent / ".venv" / "bin" / "k6")
SCHEMA = json.loads((HERE / "analysis" / "report.schema.json").read_text())

# Every header form a hit or a miss can arrive in.
HITS = [
    "x-cache:Hit from cloudfront",
    "x-cache:RefreshHit from cloudfront",
    "x-cache-status:HIT",
    "age:12",
]
MISSES = ["x-cache:Miss from cloudfront", "x-cache-status:EXPIRED", "age:0"]


@pytest.mark.parametrize(
    "tag,cls",
    [*((t, "hit") for t in HITS), *((t, "miss") for t in MISSES),
     ("x-cache:Error from cloudfront", "error"), ("x-cache-status:BYPASS", "miss"),
     ("x-cache-status:STALE", "hit"), (None, None), ("x-cache:", None), ("age:soon", None)],
)  # fmt: skip
def test_classification(tag, cls):
    assert classify(tag) == cls


HIT_MS, MISS_MS = 10.0, 100.0


def cached_run(tmp_path: Path, name: str, miss_every: int) -> Path:
    """20 s at 100 req/s; every `miss_every`-th answer is a miss (100 ms), the rest hits (10 ms)."""
    reqs = []
    for i, t in enumerate(arrivals(lambda s: 100, 0, 20)):
        if i % miss_every == 0:
            reqs.append(Req(t, MISS_MS, cache=MISSES[i % len(MISSES)]))
        else:
            reqs.append(Req(t, HIT_MS, cache=HITS[i % len(HITS)]))
    return write_run(tmp_path / name, reqs, ramping(100, [(100, "20s")]))


def test_known_hit_ratio_and_latencies_are_reported_exactly(tmp_path):
    a = build_report(load_run([cached_run(tmp_path, "c", 10)]), tmp_path / "out")
    c = a.cache
    assert c is not None
    assert (c.hits, c.misses, c.errors) == (1800, 200, 0)
    assert c.hit_ratio == pytest.approx(0.9)
    lat = {x.cls: x for x in c.latency}
    assert (
        lat["hit"].p50_ms == HIT_MS and lat["hit"].p99_ms == HIT_MS and lat["hit"].answers == 1800
    )
    assert lat["miss"].p50_ms == MISS_MS and lat["miss"].max_ms == MISS_MS
    assert list(a.per_second["hit_ratio"][:20]) == [0.9] * 20
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Cache: hits and misses" in md and "hit ratio 90.0 %" in md
    assert "| hit | 1,800 | 10.0 ms | 10.0 ms | 10.0 ms | 10.0 ms |" in md
    assert "| miss | 200 | 100.0 ms | 100.0 ms | 100.0 ms | 100.0 ms |" in md
    assert (tmp_path / "out" / "plots" / "hit_ratio.png").read_bytes()[:4] == b"\x89PNG"
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["cache"]["hit_ratio"] == pytest.approx(0.9)
    assert report["per_second"]["hit_ratio"][0] == pytest.approx(0.9)


def test_a_run_without_cache_headers_has_no_cache_section(tmp_path):
    reqs = [Req(t, 50.0) for t in arrivals(lambda s: 50, 0, 10)]
    a = build_report(
        load_run([write_run(tmp_path / "plain", reqs, ramping(50, [(50, "10s")]))]),
        tmp_path / "out",
    )
    assert a.cache is None and "hit_ratio" not in a.per_second
    assert "Cache" not in (tmp_path / "out" / "report.md").read_text()
    assert not (tmp_path / "out" / "plots" / "hit_ratio.png").exists()
    assert json.loads((tmp_path / "out" / "report.json").read_text())["cache"] is None


def test_compare_puts_hit_ratios_and_hit_miss_latencies_side_by_side(tmp_path):
    a = load_run([cached_run(tmp_path, "a", 2)], label="half")
    b = load_run([cached_run(tmp_path, "b", 10)], label="ninety")
    out = tmp_path / "cmp"
    ra, rb = build_compare(a, b, out)
    assert ra.cache and rb.cache
    assert (ra.cache.hit_ratio, rb.cache.hit_ratio) == (0.5, pytest.approx(0.9))
    md = (out / "report.md").read_text()
    assert "| hit ratio (%) | 50.0 | 90.0 | 40.0 (+80%) |" in md
    assert "| hit latency p50 | 10.0 ms | 10.0 ms | 0.0 ms (+0%) |" in md
    assert "| miss latency p50 | 100.0 ms | 100.0 ms | 0.0 ms (+0%) |" in md
    cmp = json.loads((out / "compare.json").read_text())
    jsonschema.validate(cmp, SCHEMA)
    assert cmp["b"]["cache"]["hits"] == 1800


def test_k6_tags_the_header_the_analysis_classifies(tmp_path):
    script = tmp_path / "cache_status.js"
    script.write_text(
        "import exec from 'k6/execution';\n"
        f"import {{ cacheStatus }} from '{HERE / 'k6' / 'lib' / 'echo.js'}';\n"
        "export const options = { iterations: 1, vus: 1 };\n"
        "export default function () {\n"
        "  const cases = [\n"
        "    [{ 'X-Cache': 'Hit from cloudfront', Age: '3' }, 'x-cache:Hit from cloudfront'],\n"
        "    [{ 'X-Cache-Status': 'MISS' }, 'x-cache-status:MISS'],\n"
        "    [{ Age: '7' }, 'age:7'],\n"
        "    [{ 'Content-Type': 'text/plain' }, null],\n"
        "  ];\n"
        "  for (const [headers, want] of cases) {\n"
        "    const got = cacheStatus(headers);\n"
        "    if (got !== want) exec.test.abort(`cacheStatus(${JSON.stringify(headers)}) = ${got}, want ${want}`);\n"
        "  }\n"
        "}\n"
    )
    p = subprocess.run(
        [K6, "run", "--quiet", "--no-summary", "--no-usage-report", "--address", "", str(script)],
        capture_output=True, text=True, timeout=120,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")},
    )  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    assert "want" not in p.stderr
    for tag, cls in (
        ("x-cache:Hit from cloudfront", "hit"),
        ("x-cache-status:MISS", "miss"),
        ("age:7", "hit"),
    ):
        assert classify(tag) == cls
