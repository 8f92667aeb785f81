"""Faults on the emulated 3-region mesh (issue 22 point 7): a partition gives 502/504 on its pair
only, for its span only; a degrade adds its delay to its pair only, for its span only; every
request is accounted for; the lab is gone afterwards."""

from __future__ import annotations

import json

import pytest

from loadtests.core import tools
from loadtests.core.events import read
from loadtests.mesh.local import PEER_TIMEOUT, rehearse
from loadtests.mesh.matrix import TOLERANCE_MS
from loadtests.mesh.timeline import read_requests
from loadtests.netlab.lab import namespaces

FAULTS = "partition@1s:2s:eu-us,degrade@4s:2s:eu-ap:+20ms"
CUT = {"eu>us", "us>eu"}
SLOWED = {"eu>ap", "ap>eu"}


@pytest.mark.live
@pytest.mark.netns
@pytest.mark.faults
def test_a_partition_fails_its_pair_only_for_its_span_and_a_degrade_slows_its_pair_only(tmp_path):
    before = set(namespaces())
    mesh, folder = rehearse(
        ["eu", "us", "ap"],
        {(a, b): d for (a, b, d) in [("eu", "us", 5), ("us", "eu", 5), ("eu", "ap", 12),
                                     ("ap", "eu", 12), ("us", "ap", 20), ("ap", "us", 20)]},
        client_ms=1,
        rate=10,
        duration="7s",
        results=tmp_path,
        k6=str(tools.k6().require()),
        delay_echo=tools.delay_echo().require(),
        link_bin=tools.link().require(),
        floor_duration=None,
        say=lambda s: None,
        faults=FAULTS,
    )  # fmt: skip
    assert set(namespaces()) <= before, "the lab left namespaces behind"
    events = read(folder / "faults.jsonl")
    applied = {e["fault"]: e for e in events if e["event"] == "fault_applied"}
    restored = {e["fault"]: e for e in events if e["event"] == "fault_restored"}
    assert set(applied) == set(restored) == {1, 2}, events
    for n in (1, 2):
        # Applied on time (the runner polls every 20 ms; iptables or a SIGHUP takes a few more).
        assert 0 <= applied[n]["time"] - applied[n]["planned"] < 0.5, applied[n]
        assert "error" not in restored[n] and not restored[n].get("at_shutdown"), restored[n]
    cut_from, cut_to = applied[1]["time"], restored[1]["time"]
    slow_from, slow_to = applied[2]["time"], restored[2]["time"]

    requests = read_requests(folder / "requests.jsonl")
    failed = [r for r in requests if not r.ok]
    # 502/504 on the cut pair only, and only for requests under way while it was cut: started
    # at most one peer timeout before the cut (in flight when it began) and before the heal.
    timeout = float(PEER_TIMEOUT.rstrip("s"))
    assert {r.pair for r in failed} == CUT, sorted((r.pair, r.status) for r in failed)
    assert {r.status for r in failed} <= {502, 504}, sorted({r.status for r in failed})
    outside = [r for r in failed if not cut_from - timeout - 0.1 <= r.t < cut_to]
    assert not outside, [(r.t - cut_from, r.pair, r.status) for r in outside]
    for pair in CUT:
        # Back after the heal: every request started a peer timeout later was answered.
        late = [r for r in requests if r.pair == pair and r.t >= cut_to + timeout]
        assert late and all(r.ok for r in late), pair

    # The degrade: its pair's p50 rises by the added 20 ms each way, within the mesh's tolerance,
    # measured against the same pair outside every fault in the same run; the others do not move.
    rows = {(r["fault"], r["pair"]): r for r in mesh.faults["rows"]}
    for pair in {r.pair for r in requests}:
        row = rows[(2, pair)]
        rise = row["p50_in_span_ms"] - row["p50_outside_ms"]
        want = 40.0 if pair in SLOWED else 0.0
        assert abs(rise - want) <= TOLERANCE_MS, (pair, row)
        assert row["crosses"] == (pair in SLOWED)
    # Every request that started once the delay was in force and ended before its restore (a
    # round trip, well within 0.1 s) was slowed.
    slowed_in_span = [
        r for r in requests if r.pair in SLOWED and slow_from <= r.t < slow_to - 0.1 and r.ok
    ]
    assert slowed_in_span and min(r.network_ms or 0 for r in slowed_in_span) >= 40, (
        "every one slowed"
    )

    # Nothing lost: what k6 scheduled is answered + failed + dropped, one line per iteration.
    acc = mesh.faults["accounting"]
    assert acc["planned"] == acc["answered"] + acc["failed"] + acc["dropped"], acc
    assert acc["answered"] + acc["failed"] == acc["k6_iterations"] == len(requests), acc
    assert acc["failed"] == len(failed)

    report = (folder / "report.md").read_text()
    assert "## Faults" in report and "Every request accounted for" in report
    assert (folder / "faults.png").stat().st_size > 10_000
    assert json.loads((folder / "mesh.json").read_text())["faults"]["accounting"] == acc
