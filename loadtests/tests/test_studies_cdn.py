"""`make cdn-local` end to end on its short plan: real namespaces, real links, delay-echo as the
origin and nginx as the edge, k6 from the user's host, the compare report at the end. The figures
checked are ground truths the study set itself (the link delays and the origin's delay), with the
issue's tolerances; nothing here judges speed.

Needs root and iproute2 (it builds network namespaces): marked `live` and `netns`, so `make
test-studies` selects it and `make test-loadtests`, which collects this folder too, leaves it out.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.core import tools
from loadtests.studies.study import find

REPO = tools.REPO

pytestmark = [pytest.mark.live, pytest.mark.netns]


def _ms(value: str) -> float:
    assert value.endswith("ms"), value
    return float(value[:-2])


def _run_cdn(tmp_path_factory) -> tuple[Path, int]:
    """One short cdn-local run; its folder and the study's pid."""
    results = tmp_path_factory.mktemp("studies")
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loadtests.studies",
            "run",
            "cdn",
            "--short",
            "--results",
            str(results),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        p.terminate()  # the study removes what it built on SIGTERM
        out, err = p.communicate(timeout=30)
    assert p.returncode == 0, out + err
    (folder,) = [d for d in results.iterdir() if d.is_dir()]
    return folder, p.pid


@pytest.fixture(scope="module")
def cdn_run(tmp_path_factory):
    return _run_cdn(tmp_path_factory)


def test_cdn_local_writes_a_run_folder_with_the_compare_report(cdn_run):
    cdn_run, _ = cdn_run
    for name in (
        "A/raw.csv.gz",
        "B/raw.csv.gz",
        "compare.md",
        "compare.html",
        "compare.json",
        "study.md",
    ):
        assert (cdn_run / name).exists(), name
    md = (cdn_run / "compare.md").read_text()
    assert "hit ratio" in md
    cmp = json.loads((cdn_run / "compare.json").read_text())
    assert cmp["kind"] == "compare"
    # The answer kept from the edge came from its cache, with the origin's cache policy.
    answer = (cdn_run / "answer-B.txt").read_text().lower()
    assert "x-cache-status: hit" in answer
    assert "cache-control: public, max-age=60" in answer


def test_the_edge_serves_hits_at_the_user_edge_round_trip_and_direct_costs_the_whole_path(
    cdn_run, tmp_path_factory
):
    cdn_run, _ = cdn_run
    from loadtests.analysis.cache import HIT, classify
    from loadtests.analysis.runs import load_run

    study = find("cdn")
    origin_delay = _ms(
        study.services["origin"].args[study.services["origin"].args.index("--delay") + 1]
    )
    edge_rtt = study.round_trip_ms("user", "edge")
    direct = study.round_trip_ms("user", "origin") + origin_delay

    def measure(folder: Path) -> tuple[float, float, float]:
        rows = load_run([folder / "B"]).query(
            "SELECT t_start, latency_ms, cache FROM requests ORDER BY t_start"
        )
        assert len(rows) > 50
        # One object (ECHO_PATH): everything after its first request may be a hit.
        after_first = rows.iloc[1:]
        classes = after_first["cache"].map(classify)
        hit_ratio = float((classes == HIT).mean())
        hit_p50 = float(after_first[classes == HIT]["latency_ms"].median())
        a_rows = load_run([folder / "A"]).query("SELECT latency_ms, cache FROM requests")
        assert len(a_rows) > 50
        assert a_rows["cache"].isna().all(), "the direct path has no cache in it"
        return hit_ratio, hit_p50, float(a_rows["latency_ms"].median())

    # The delays are ours, so the tolerances are ground truths; but the links are processes on a
    # shared machine, and a run that other work disturbed is measured again, at most twice. The
    # tolerances never widen, and the hit ratio is judged on the first run.
    hit_ratio, hit_p50, direct_p50 = measure(cdn_run)
    assert hit_ratio >= 0.90, f"hit ratio after the first request {hit_ratio:.2%}"
    for _ in range(2):
        if abs(hit_p50 - edge_rtt) <= 2 and abs(direct_p50 - direct) <= 3:
            break
        _, hit_p50, direct_p50 = measure(_run_cdn(tmp_path_factory)[0])
    assert hit_p50 == pytest.approx(edge_rtt, abs=2), (
        f"median hit {hit_p50} ms vs round trip {edge_rtt} ms"
    )
    assert direct_p50 == pytest.approx(direct, abs=3), (
        f"median direct {direct_p50} ms vs {direct} ms"
    )


def test_the_study_left_no_namespace_and_no_process_behind(cdn_run):
    folder, pid = cdn_run
    # netlab names a run's namespaces netlab-<pid of the study>-<token>.<host>.
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"netlab-{pid}-" not in left
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(folder) not in ps, "a process started for the study still runs"
