"""The campaign runner keeps every run: a failure is retried once and recorded, an interrupt keeps
the finished runs, and resume() continues where it stopped. (The runs here are stand-in commands;
make campaign-smoke runs the real platform.)"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from loadtests.campaign import runner

FILE = """
name = "pair"
repetitions = 3
seed = 5
[defaults]
PROFILE = "spike"
[[configs]]
name = "a"
POLICY = "schedule"
[[configs]]
name = "b"
POLICY = "knative"
"""


class Fake:
    """Stands in for one run: writes a run folder as the lab's commands do, or fails on cue."""

    def __init__(self, fail: dict[str, int] | None = None, interrupt_at: int | None = None):
        self.fail = fail or {}
        self.interrupt_at = interrupt_at
        self.calls: list[dict[str, str]] = []

    def __call__(
        self, command: list[str], env: Mapping[str, str], results: Path, log: Path
    ) -> tuple[int, str | None]:
        self.calls.append(dict(env))
        if self.interrupt_at is not None and len(self.calls) == self.interrupt_at:
            raise runner.Interrupted("SIGINT")
        key = results.parent.name
        if self.fail.get(key, 0) > 0:
            self.fail[key] -= 1
            log.write_text("boom\n")
            return 1, None
        run = results / "20261203T000000Z-spike"
        run.mkdir(parents=True)
        (results / ".last").write_text(str(run))
        return 0, str(run)


def start(tmp_path: Path):
    src = tmp_path / "c.toml"
    src.write_text(FILE)
    return runner.start(src, tmp_path / "results")


def test_every_run_in_the_planned_order_with_its_knobs_and_seeds(tmp_path: Path) -> None:
    folder, campaign, record = start(tmp_path)
    fake = Fake()
    assert runner.execute(folder, campaign, record, env={}, runner=fake, say=lambda s: None) == 0
    saved = json.loads((folder / "campaign.json").read_text())
    assert [r["status"] for r in saved["runs"]] == ["ok"] * 6
    assert [c["POLICY"] for c in fake.calls] == [
        {"a": "schedule", "b": "knative"}[r["config"]] for r in saved["runs"]
    ]
    seeds = [c["COLD_START_SEED"] for c in fake.calls]
    assert seeds == [r["seeds"]["COLD_START_SEED"] for r in saved["runs"]] and len(set(seeds)) == 6
    assert all(c["RESULTS"].startswith(str(folder / "runs")) for c in fake.calls)
    assert saved["end_utc"] and saved["interrupted"] is False
    assert (folder / "campaign.toml").read_text() == FILE
    for r in saved["runs"]:
        assert (folder / r["folder"]).is_dir()


def test_a_failed_run_is_retried_once_then_recorded_never_dropped(tmp_path: Path) -> None:
    folder, campaign, record = start(tmp_path)
    keys = [r["slot"] for r in record["runs"]]
    fake = Fake(fail={keys[0]: 1, keys[1]: 2})
    lines: list[str] = []
    assert runner.execute(folder, campaign, record, env={}, runner=fake, say=lines.append) == 1
    saved = json.loads((folder / "campaign.json").read_text())
    first, second = saved["runs"][0], saved["runs"][1]
    assert first["status"] == "ok" and [a["status"] for a in first["attempts"]] == ["failed", "ok"]
    assert second["status"] == "failed" and len(second["attempts"]) == 2
    assert "exit code 1" in second["attempts"][1]["reason"]
    assert [r["status"] for r in saved["runs"][2:]] == ["ok"] * 4
    assert any("without a result" in line and keys[1] in line for line in lines)


def test_a_run_that_refuses_its_knobs_is_not_retried(tmp_path: Path) -> None:
    folder, campaign, record = start(tmp_path)

    def refuses(
        command: list[str], env: Mapping[str, str], results: Path, log: Path
    ) -> tuple[int, str | None]:
        log.write_text("platform: COLD_START='x' is not a duration\n")
        return 2, None

    assert runner.execute(folder, campaign, record, env={}, runner=refuses, say=lambda s: None) == 1
    saved = json.loads((folder / "campaign.json").read_text())
    assert all(len(r["attempts"]) == 1 and r["status"] == "failed" for r in saved["runs"])
    assert "not retried" in saved["runs"][0]["attempts"][0]["reason"]


def test_an_interrupted_campaign_keeps_its_runs_and_resumes(tmp_path: Path) -> None:
    folder, campaign, record = start(tmp_path)
    fake = Fake(interrupt_at=3)
    rc = runner.execute(folder, campaign, record, env={}, runner=fake, say=lambda s: None)
    assert rc == runner.INTERRUPTED
    saved = json.loads((folder / "campaign.json").read_text())
    assert [r["status"] for r in saved["runs"]][:3] == ["ok", "ok", "interrupted"]
    assert saved["interrupted"] is True
    campaign2, record2 = runner.resume(folder)
    again = Fake()
    assert runner.execute(folder, campaign2, record2, env={}, runner=again, say=lambda s: None) == 0
    # Only the interrupted run and those after it ran again.
    assert len(again.calls) == 4
    saved = json.loads((folder / "campaign.json").read_text())
    assert [r["status"] for r in saved["runs"]] == ["ok"] * 6


def test_a_campaign_stopped_hard_resumes_the_run_it_was_in(tmp_path: Path) -> None:
    folder, campaign, record = start(tmp_path)
    # As a kill -9 during the second run leaves it: that run "running", its attempt unfinished.
    runner.execute(
        folder, campaign, record, env={}, runner=Fake(interrupt_at=2), say=lambda s: None
    )
    saved = json.loads((folder / "campaign.json").read_text())
    saved["runs"][1]["status"] = "running"
    del saved["runs"][1]["attempts"][-1]["status"]
    (folder / "campaign.json").write_text(json.dumps(saved))
    campaign2, record2 = runner.resume(folder)
    assert record2["runs"][1]["status"] == "interrupted"
    again = Fake(fail={record2["runs"][1]["slot"]: 1})
    assert runner.execute(folder, campaign2, record2, env={}, runner=again, say=lambda s: None) == 0
    second = json.loads((folder / "campaign.json").read_text())["runs"][1]
    # The interrupted attempt does not use up the retry: it failed once more and then passed.
    assert [a["status"] for a in second["attempts"]] == ["interrupted", "failed", "ok"]


def test_resume_refuses_a_folder_without_a_campaign(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no readable campaign\.json"):
        runner.resume(tmp_path)


def test_progress_says_which_run_elapsed_and_the_estimated_end(tmp_path: Path) -> None:
    folder, campaign, record = start(tmp_path)
    lines: list[str] = []
    runner.execute(folder, campaign, record, env={}, runner=Fake(), say=lines.append)
    progress = [line for line in lines if line.startswith("campaign: run ")]
    assert len(progress) == 6
    assert progress[0].startswith("campaign: run 1 of 6 (")
    assert "elapsed 0:00:0" in progress[-1] and "estimated end" in progress[-1]


def test_knobs_exported_in_the_shell_do_not_reach_the_runs(tmp_path: Path) -> None:
    folder, campaign, record = start(tmp_path)
    fake = Fake()
    env = {"PEAK": "900", "K6": "/opt/k6", "DELAY_ECHO_BIN": "/opt/de", "PATH": "/usr/bin"}
    assert runner.execute(folder, campaign, record, env=env, runner=fake, say=lambda s: None) == 0
    assert all(
        "PEAK" not in c and c["K6"] == "/opt/k6" and c["PATH"] == "/usr/bin" for c in fake.calls
    )
    assert json.loads((folder / "campaign.json").read_text())["environment_left_out"] == ["PEAK"]
