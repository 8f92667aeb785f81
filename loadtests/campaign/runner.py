"""Run a campaign: every slot of its plan, one normal run folder each, into one campaign folder.

    <results>/campaign-<name>-<UTC start>/
      campaign.toml     the file as given
      campaign.json     configurations, order, seeds, git revision, machine, and each run's start,
                        end, exit code, folder and status (ok | failed | interrupted), attempts
      runs/<slot>/      the slot's RESULTS: the run folder the platform or the load test wrote

`campaign.json` is rewritten after every run, so an interrupted campaign keeps every finished run
and `resume()` continues from the first slot without an `ok` run. A failed run is retried once
(unless it refused its knobs, exit 2); a second failure is recorded as failed and the campaign
goes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtests.core.tools import REPO

from . import schedule
from .spec import Campaign, Config, load

SCHEMA_VERSION = 1
ATTEMPTS = 2
# Exit status of a run stopped by Ctrl-C (128 + SIGINT), the platform's and k6's convention.
INTERRUPTED = 130
# Where a tool is, not how a run behaves: passed on from the environment (as make sets them).
TOOL_KNOBS = ("K6", "DELAY_ECHO_BIN", "DELAY_ECHO_LINK_BIN", "HAPROXY", "IMAGE", "RESULTS")
# Exit status of a run that refused its knobs: the same knobs would be refused again.
BAD_INPUT = 2


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def command_for(config: Config) -> list[str]:
    """What runs one slot of this configuration: a normal lab command, knobs in its environment."""
    if config.kind == "platform":
        return [sys.executable, "-m", "loadtests.localplatform", "run"]
    if config.kind == "target":
        return [sys.executable, "-m", "loadtests.loadtest"]
    # A study's variant (STUDY_VARIANT from the knobs): its network, its services, its load.
    return [sys.executable, "-m", "loadtests.studies", "run", config.env()["STUDY"]]


@dataclass
class Progress:
    """One line per run: which of how many, elapsed, and the estimated end from the runs so far."""

    total: int
    planned_s: float
    started: float

    def line(self, done: int, index: int, slot: schedule.Slot) -> str:
        elapsed = time.monotonic() - self.started
        per_run = elapsed / done if done else self.planned_s / max(self.total, 1)
        left = per_run * (self.total - done)
        end = datetime.now(UTC).timestamp() + left
        return (
            f"campaign: run {index} of {self.total} ({slot.config}, repetition {slot.repetition}); "
            f"elapsed {_clock(elapsed)}, estimated end {datetime.fromtimestamp(end, UTC):%H:%M:%S} UTC"
        )


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Interrupted(Exception):
    pass


def _record(folder: Path, record: dict[str, Any]) -> None:
    tmp = folder / "campaign.json.tmp"
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(folder / "campaign.json")


def new_record(campaign: Campaign, source: str, slots: Sequence[schedule.Slot]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "campaign",
        "name": campaign.name,
        "repetitions": campaign.repetitions,
        "seed": campaign.seed,
        "source": source,
        "git_revision": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "machine": {
            "node": platform.node(),
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "python": platform.python_version(),
        },
        "start_utc": utc_now(),
        "end_utc": None,
        "configs": [
            {"name": c.name, "kind": c.kind, "knobs": dict(c.knobs)} for c in campaign.configs
        ],
        "runs": [
            {
                "slot": s.key,
                "index": s.index,
                "config": s.config,
                "repetition": s.repetition,
                "seeds": dict(s.seeds),
                "status": "planned",
                "attempts": [],
            }
            for s in slots
        ],
    }


def _run_folder(results: Path) -> str | None:
    """The run folder the slot's command wrote (the lab's commands name it in RESULTS/.last)."""
    try:
        last = (results / ".last").read_text().strip()
    except OSError:
        return None
    return last or None


def run_slot(
    command: list[str], env: Mapping[str, str], results: Path, log: Path
) -> tuple[int, str | None]:
    """One attempt: the command in its own process group, so Ctrl-C reaches it exactly once."""
    results.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command,
            env=dict(env),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            rc = proc.wait()
        except Interrupted:
            # The run's own Ctrl-C handling stops its load and keeps what it has; a second Ctrl-C
            # meanwhile must not leave it running, so the wait is not interruptible.
            previous = {
                s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)
            }
            try:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(120)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            finally:
                for s, h in previous.items():
                    signal.signal(s, h)
            raise
    return rc, _run_folder(results)


Runner = Callable[[list[str], Mapping[str, str], Path, Path], tuple[int, str | None]]


def execute(
    folder: Path,
    campaign: Campaign,
    record: dict[str, Any],
    *,
    env: Mapping[str, str] = os.environ,
    runner: Runner = run_slot,
    planned_s: float = 0.0,
    say: Callable[[str], None] = print,
) -> int:
    """Run every slot not yet `ok` or finally `failed`; 0 when all are ok, 1 when some failed,
    130 when interrupted (campaign.json then says where; resume() continues)."""
    slots = {s.key: s for s in schedule.plan(campaign)}
    # A knob exported in the shell (PEAK=…) would reach every run without being in the campaign
    # file or its record: runs get only the file's knobs, and the record names what was left out.
    from .preflight import known_knobs

    dropped = sorted(k for k in env if k in known_knobs() and k not in TOOL_KNOBS)
    inherited = {k: v for k, v in env.items() if k not in dropped}
    record["environment_left_out"] = dropped
    todo = [r for r in record["runs"] if r["status"] in ("planned", "interrupted")]
    progress = Progress(len(todo), planned_s, time.monotonic())

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted(signal.Signals(signum).name)

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for done, entry in enumerate(todo):
            slot = slots[entry["slot"]]
            config = campaign.config(slot.config)
            say(progress.line(done, done + 1, slot))
            run_env = {**inherited, **config.env(), **dict(slot.seeds), "CAMPAIGN": campaign.name}
            entry["status"] = "running"
            # Only failures count towards the retry: an interrupted attempt is run again in full.
            while sum(a.get("status") == "failed" for a in entry["attempts"]) < ATTEMPTS:
                n = len(entry["attempts"]) + 1
                results = folder / "runs" / slot.key / f"attempt-{n}"
                run_env["RESULTS"] = str(results)
                results.parent.mkdir(parents=True, exist_ok=True)
                attempt: dict[str, Any] = {"start_utc": utc_now()}
                entry["attempts"].append(attempt)
                _record(folder, record)
                try:
                    rc, run_dir = runner(
                        command_for(config), run_env, results, results.parent / f"attempt-{n}.log"
                    )
                except Interrupted:
                    attempt.update(end_utc=utc_now(), exit_code=INTERRUPTED, status="interrupted")
                    entry["status"] = "interrupted"
                    raise
                attempt.update(
                    end_utc=utc_now(),
                    exit_code=rc,
                    folder=str(Path(run_dir).relative_to(folder)) if run_dir else None,
                    status="ok" if rc == 0 and run_dir else "failed",
                )
                if rc == 0 and run_dir is None:
                    attempt["reason"] = "the command succeeded but wrote no run folder"
                elif rc != 0:
                    attempt["reason"] = f"exit code {rc}; see {results.parent.name}/attempt-{n}.log"
                if rc == INTERRUPTED:
                    # The run was stopped from outside the campaign (its own Ctrl-C): stop too.
                    attempt["status"] = entry["status"] = "interrupted"
                    raise Interrupted("the run was interrupted")
                if attempt["status"] == "ok":
                    entry["status"] = "ok"
                    entry["folder"] = attempt["folder"]
                    break
                say(f"campaign: {slot.key} failed ({attempt['reason']})")
                if rc == BAD_INPUT:
                    attempt["reason"] += " (its knobs were refused: not retried)"
                    entry["status"] = "failed"
                    break
            else:
                entry["status"] = "failed"
            _record(folder, record)
    except Interrupted:
        record["end_utc"] = utc_now()
        record["interrupted"] = True
        _record(folder, record)
        say(f"campaign: interrupted; finished runs are kept. RESUME={folder} continues it")
        return INTERRUPTED
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    record["end_utc"] = utc_now()
    record["interrupted"] = False
    _record(folder, record)
    failed = [r["slot"] for r in record["runs"] if r["status"] != "ok"]
    if failed:
        say(
            f"campaign: {len(failed)} run(s) without a result (see campaign.json): {', '.join(failed)}"
        )
        return 1
    return 0


def start(source: Path, results: Path) -> tuple[Path, Campaign, dict[str, Any]]:
    """A new campaign folder for the file `source` (validated first: CampaignError)."""
    campaign = load(source)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    # Absolute: each run's command runs from the repository, wherever this was started.
    folder = results.resolve() / f"campaign-{campaign.name}-{stamp}"
    folder.mkdir(parents=True)
    shutil.copyfile(source, folder / "campaign.toml")
    record = new_record(campaign, str(source), schedule.plan(campaign))
    _record(folder, record)
    return folder, campaign, record


def resume(folder: Path) -> tuple[Campaign, dict[str, Any]]:
    """The campaign in `folder` as it was left, from its own copy of the file."""
    folder = folder.resolve()
    try:
        record = json.loads((folder / "campaign.json").read_text())
    except (OSError, ValueError) as e:
        raise FileNotFoundError(f"{folder}: no readable campaign.json ({e})") from None
    campaign = load(folder / "campaign.toml")
    planned = [s.key for s in schedule.plan(campaign)]
    if planned != [r["slot"] for r in record["runs"]]:
        raise ValueError(f"{folder}: campaign.toml no longer gives the recorded order")
    record.pop("interrupted", None)
    for entry in record["runs"]:
        if entry["status"] == "running":
            # The campaign itself was stopped hard (kill -9, a reboot) during this run.
            entry["status"] = "interrupted"
            for attempt in entry["attempts"]:
                if "status" not in attempt:
                    attempt.update(
                        status="interrupted", reason="the campaign stopped during this run"
                    )
    return campaign, record
