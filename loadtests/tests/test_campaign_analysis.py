"""A campaign of synthetic runs whose difference is known: the analysis finds it with an interval
that holds it, says "no difference shown" between identical configurations, and writes a report
and a campaign.json that validates against its schema."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import jsonschema
import numpy as np

from loadtests.analysis.analyse import SCHEMA_VERSION, analyse, as_json, criteria_for
from loadtests.analysis.runs import load_run
from loadtests.campaign import report, runner
from loadtests.campaign.analysis import SCHEMA
from loadtests.tests.test_elasticity import example_run

FILE = """
name = "lags"
repetitions = 4
seed = 3
[[configs]]
name = "fast"
POLICY = "schedule"
LAG = "4"
[[configs]]
name = "fast-again"
POLICY = "schedule"
LAG = "4"
[[configs]]
name = "slow"
POLICY = "schedule"
LAG = "8"
"""


class Synthetic:
    """Each run is the elasticity worked example, its new instances `LAG` s (± jitter) after the
    rise: a campaign whose true difference is known."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(11)

    def __call__(
        self, command: list[str], env: Mapping[str, str], results: Path, log: Path
    ) -> tuple[int, str | None]:
        lag = float(env["LAG"]) + float(self.rng.uniform(-0.6, 0.6))
        folder = example_run(results, name="run", lag=lag)
        # What the campaign reads of a run's report (report.json, per_second.csv), without the
        # plots and documents a full report draws.
        run = load_run([folder])
        a = analyse(run, criteria_for(run))
        a.per_second.to_csv(folder / "per_second.csv")
        doc = {"schema_version": SCHEMA_VERSION, "kind": "report", **as_json(a, run)}
        (folder / "report.json").write_text(json.dumps(doc))
        return 0, str(folder)


def test_a_known_difference_is_found_and_identical_configurations_are_not_told_apart(
    tmp_path: Path,
) -> None:
    src = tmp_path / "c.toml"
    src.write_text(FILE)
    folder, campaign, record = runner.start(src, tmp_path / "results")
    assert runner.execute(folder, campaign, record, env={}, runner=Synthetic(), say=print) == 0
    summary = report.write(folder)
    jsonschema.validate(
        json.loads((folder / "campaign.json").read_text()), json.loads(SCHEMA.read_text())
    )
    by = {(d["a"], d["b"], d["metric"]): d for d in summary["differences"]}
    slow = by[("fast", "slow", "first_new_instance_s")]
    lo, hi = slow["ci95"]
    # 4 s later, give or take the ±0.6 s jitter of each run.
    assert slow["shown"] and 2.8 <= lo <= 4.0 <= hi <= 5.2, slow
    assert "slow gets its first new instance later than fast, by" in slow["verdict"]
    assert "(97 % CI)" in slow["verdict"]  # 4 runs each: the narrowest interval ≥ 95 %
    same = by[("fast", "fast-again", "first_new_instance_s")]
    assert not same["shown"] and same["verdict"].startswith("no difference shown with K = 4")
    # The speedup of the slower over the faster (A ÷ B) is < 1, and the interval says so.
    speed = next(s for s in summary["elastic_speedups"] if (s["a"], s["b"]) == ("fast", "slow"))
    assert speed["value"] < 1 and speed["shown"] and speed["ci95"][1] < 1
    fast = next(c for c in summary["configs"] if c["name"] == "fast")
    assert len(fast["metrics"]["first_new_instance_s"]["values"]) == 4
    md = (folder / "campaign.md").read_text()
    assert "no difference shown with K = 4" in md and "![every run per configuration]" in md
    html = (folder / "campaign.html").read_text()
    assert html.count("data:image/png;base64,") == 3
