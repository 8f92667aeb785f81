"""`python -m loadtests.localplatform starts`: each instance's start read back from platform.jsonl."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from loadtests.localplatform.starts import print_starts, starts

pytestmark = pytest.mark.platform


def write(d: Path, runtime: str, lines: list[tuple[float, str, str, dict]]) -> Path:
    d.mkdir()
    events = [{"time": 100.0, "event": "platform", "runtime": {"name": runtime}, "instance": {}}]
    events += [{"time": t, "event": ev, "instance": name, **f} for t, ev, name, f in lines]
    (d / "platform.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return d


def test_scale_outs_count_warm_ones_only_when_asked_and_medians_are_per_runtime(tmp_path):
    c = write(
        tmp_path / "c",
        "container",
        [
            (100.0, "requested", "local-1", {"reason": "minimum", "runtime": "container"}),
            (100.5, "pulled", "local-1", {"pull_s": 0.5}),
            (101.0, "started", "local-1", {}),
            (101.2, "ready", "local-1", {}),
            (110.0, "requested", "local-2", {"reason": "scale_out", "runtime": "container"}),
            (110.1, "pulled", "local-2", {"pull_s": 0.1}),
            (110.6, "started", "local-2", {}),
            (110.7, "ready", "local-2", {}),
            (111.0, "requested", "local-3", {"reason": "scale_out", "runtime": "container"}),
            (111.8, "started", "local-3", {}),  # never ready: not a start
        ],
    )
    p = write(
        tmp_path / "p",
        "process",
        [
            (100.0, "requested", "local-2", {"reason": "scale_out"}),
            (100.0, "started", "local-2", {}),
            (100.05, "ready", "local-2", {}),
        ],
    )
    rows = starts([c, p])
    assert [(r["instance"], r["runtime"]) for r in rows] == [
        ("local-2", "container"),
        ("local-2", "process"),
    ]
    assert rows[0]["requested_to_ready_s"] == 0.7 and rows[0]["requested_to_running_s"] == 0.6
    assert rows[1]["pull_s"] is None
    assert len(starts([c / "platform.jsonl"], warm=True)) == 2
    out = io.StringIO()
    assert print_starts([c, p], out=out) == 0
    text = out.getvalue()
    assert "container: 1 starts; requested_to_ready median 0.700 s" in text
    assert "process: 1 starts; requested_to_ready median 0.050 s" in text


def test_no_start_at_all_says_so(tmp_path, capsys):
    d = write(tmp_path / "d", "process", [])
    assert print_starts([d]) == 1
    assert "no instance" in capsys.readouterr().err


def test_the_cold_start_is_the_one_delay_echo_drew_and_older_runs_keep_theirs(tmp_path):
    new = write(
        tmp_path / "new",
        "process",
        [
            (100.0, "requested", "local-2", {"reason": "scale_out", "cold_start": "2s..8s"}),
            (100.0, "started", "local-2", {}),
            (100.1, "listening", "local-2", {"status": 503, "cold_start_s": 3.752137}),
            (103.9, "ready", "local-2", {}),
            # A container whose log line reached service.log only after it was ready.
            (110.0, "requested", "local-3", {"reason": "scale_out", "cold_start": "2s..8s"}),
            (110.5, "listening", "local-3", {"status": 503}),
            (113.0, "ready", "local-3", {"cold_start_s": 2.4}),
        ],
    )
    old = write(
        tmp_path / "old",
        "process",
        [
            (100.0, "requested", "local-2", {"reason": "scale_out", "cold_start_s": 1.0}),
            (101.1, "ready", "local-2", {}),
        ],
    )
    assert [r["cold_start_s"] for r in starts([new, old])] == [3.752137, 2.4, 1.0]
