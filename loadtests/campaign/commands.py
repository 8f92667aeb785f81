"""The campaign's commands, behind the argument parsing of __main__.py: run a file, resume a
folder, (re)write a folder's report, show a file's plan."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import preflight, report, runner, schedule
from .analysis import CampaignAnalysisError
from .budget import PER_RUN_ALLOWANCE_S
from .runner import _clock
from .spec import CampaignError, load


def _err(msg: str) -> int:
    print(f"campaign: {msg}", file=sys.stderr)
    return 2


def show_plan(source: Path) -> int:
    try:
        campaign = load(source)
        seconds = preflight.check(campaign)
    except CampaignError as e:
        return _err(str(e))
    print(
        f"campaign {campaign.name}: {len(campaign.configs)} configurations × "
        f"{campaign.repetitions} runs = {campaign.runs} runs, about {_clock(seconds)} (seed {campaign.seed})"
    )
    for slot in schedule.plan(campaign):
        print(f"  {slot.key}")
    return 0


def _report(folder: Path) -> int:
    try:
        report.write(folder)
    except CampaignAnalysisError as e:
        return _err(str(e))
    print(f"campaign: wrote {folder / 'campaign.md'}, campaign.html and campaign.json")
    return 0


def run(source: Path | None, resume: Path | None, results: Path) -> int:
    seconds = 0.0
    try:
        if resume is not None:
            campaign, record = runner.resume(resume)
            folder = resume.resolve()
        elif source is not None:
            seconds = preflight.check(load(source))
            folder, campaign, record = runner.start(source, results)
        else:
            return _err(
                "give a campaign file (CAMPAIGN=file.toml) or a folder to resume (RESUME=…)"
            )
    except (CampaignError, FileNotFoundError, ValueError) as e:
        return _err(str(e))
    left = sum(r["status"] in ("planned", "interrupted") for r in record["runs"])
    if resume is None:
        print(
            f"campaign {campaign.name}: {campaign.runs} runs ({len(campaign.configs)} configurations × "
            f"{campaign.repetitions}) in {folder}; planned about {_clock(seconds)}"
        )
    else:
        print(f"campaign {campaign.name}: resuming {folder}, {left} of {campaign.runs} runs left")
    # Until runs have finished, the estimated end comes from the plan.
    planned = seconds if resume is None else PER_RUN_ALLOWANCE_S * left
    rc = runner.execute(folder, campaign, record, env=os.environ, planned_s=planned)
    if rc == runner.INTERRUPTED:
        return rc
    written = _report(folder)
    return rc or written


def rewrite_report(folder: Path) -> int:
    return _report(folder)
