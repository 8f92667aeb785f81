"""make test-campaign: on the local platform, two schedules whose second instance comes a known
10 s apart are told apart by 10 s (± 1.5), two identical ones are not, and the report renders in
a real browser (headless Chromium)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from loadtests.core.tools import REPO

pytestmark = pytest.mark.live
KNOWN_S = 10.0
TOLERANCE_S = 1.5


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("campaign")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtests.campaign",
            "run",
            "--campaign",
            "loadtests/campaigns/known-10s.toml",
            "--results",
            str(results),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    (folder,) = results.glob("campaign-known-10s-*")
    return folder


def _difference(folder: Path, a: str, b: str) -> dict:
    summary = json.loads((folder / "campaign.json").read_text())
    return next(
        d
        for d in summary["differences"]
        if (d["a"], d["b"], d["metric"]) == (a, b, "first_new_instance_s")
    )


def test_a_known_10_s_is_found(campaign: Path) -> None:
    d = _difference(campaign, "early", "late")
    lo, hi = d["ci95"]
    # K = 3 reaches 90 % at most: the interval excludes 0, and the verdict says why it is no verdict.
    assert lo > 0 and d["confidence"] == 0.9 and not d["shown"], d
    assert "it excludes 0, but 3 runs each cannot reach 95 %" in d["verdict"], d
    assert KNOWN_S - TOLERANCE_S <= lo <= KNOWN_S <= hi <= KNOWN_S + TOLERANCE_S, d
    assert abs(d["median_difference"] - KNOWN_S) <= TOLERANCE_S, d


def test_identical_configurations_show_no_difference(campaign: Path) -> None:
    d = _difference(campaign, "early", "early-again")
    assert not d["shown"] and d["verdict"].startswith("no difference shown with K = 3"), d


def test_the_report_renders_in_a_headless_browser(campaign: Path, tmp_path: Path) -> None:
    browser = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    assert browser, "no headless Chromium: make test-campaign installs chromium-headless-shell"
    page = (campaign / "campaign.html").as_uri()
    flags = ["--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", page], capture_output=True, text=True, timeout=60
    ).stdout
    # The browser's own parse of the page: every table and every inlined plot is there.
    assert dom.count("<table") >= 3 and dom.count('<img alt="') == 3
    shot = tmp_path / "page.png"
    subprocess.run(
        [browser, *flags, "--window-size=1280,3000", f"--screenshot={shot}", page],
        capture_output=True,
        timeout=60,
        check=True,
    )
    pixels = matplotlib.image.imread(shot)
    # Drawn, not blank: a good share of the page is neither white nor one flat colour.
    ink = np.mean(np.any(pixels[:, :, :3] < 0.9, axis=2))
    assert ink > 0.05, ink
