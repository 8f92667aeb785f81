"""The region mesh rehearsed on namespaces (loadtests/mesh, netlab) with --access-log: the latency
matrix from the servers' records (latency_matrix.sql over records.parquet) agrees with the
clients' (mesh.json) within 1 ms per pair."""

from __future__ import annotations

import json

import pytest

from loadtests.core import tools
from loadtests.mesh.matrix import TOLERANCE_MS, parse_delays
from loadtests.records import queries, store

pytestmark = [pytest.mark.live, pytest.mark.netns]

REGIONS = ["eu", "us", "ap"]


def test_the_servers_matrix_agrees_with_the_clients_within_1_ms(tmp_path):
    from loadtests.mesh.local import rehearse

    # The rehearsal starts its instances with --access-log and collects their records itself.
    mesh, folder = rehearse(
        REGIONS, parse_delays("eu/us=5,eu/ap=12,us/ap=20", REGIONS), client_ms=1, rate=20,
        duration="2s", results=tmp_path, k6=str(tools.k6().require()),
        delay_echo=tools.delay_echo().require(), link_bin=tools.link().require(),
        floor_duration=None, say=lambda s: None,
    )  # fmt: skip
    assert (folder / store.PARQUET).is_file()
    servers = {(r["region"], r["peer"]): r for r in queries.run(folder, "latency_matrix").records()}
    clients = json.loads((folder / "mesh.json").read_text())["pairs"]
    assert len(clients) == len(REGIONS) * (len(REGIONS) - 1)
    assert set(servers) == {(p["src"], p["dst"]) for p in clients}
    for p in clients:
        s = servers[(p["src"], p["dst"])]
        assert p["errors"] == 0 and s["errors"] == 0, (p, s)
        # Every leg the clients timed is one the sender recorded (and none other).
        assert s["n"] == p["n"], (p, s)
        assert abs(s["p50_ms"] - p["p50"]) <= TOLERANCE_MS, (p, s)
    assert {p.src for p in mesh.pairs} == set(REGIONS)
    # The report's column is the same answer.
    assert mesh.servers == {
        f"{src}>{dst}": round(s["p50_ms"], 3) for (src, dst), s in servers.items()
    }
