"""make campaign-smoke: a real campaign of two configurations × two tiny runs on the local
platform, through the command a user runs, ends with every run kept and a report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from loadtests.campaign.analysis import SCHEMA
from loadtests.core.tools import REPO

pytestmark = pytest.mark.live


def test_a_small_campaign_runs_end_to_end(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtests.campaign",
            "run",
            "--campaign",
            "loadtests/campaigns/smoke.toml",
            "--results",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "planned about" in out.stdout and "campaign: run 4 of 4" in out.stdout
    (folder,) = tmp_path.glob("campaign-smoke-*")
    summary = json.loads((folder / "campaign.json").read_text())
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))
    assert [r["status"] for r in summary["runs"]] == ["ok"] * 4
    for run in summary["runs"]:
        assert (folder / run["folder"] / "report.json").exists()
    names = {c["name"]: c for c in summary["configs"]}
    assert set(names) == {"early", "late"}
    assert all(len(c["metrics"]["worst_p95_ms"]["values"]) == 2 for c in names.values())
    assert (folder / "campaign.md").exists() and (folder / "campaign.html").exists()
