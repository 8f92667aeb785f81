"""Every configuration's knobs judged the way its run will judge them, before the first run: a
campaign that would fail at its ninth run for a typo fails now, with exit 2."""

from __future__ import annotations

import os
from collections.abc import Mapping

from loadtests.core.tools import REPO
from loadtests.localplatform.config import Config as PlatformConfig
from loadtests.localplatform.config import KnobError, check_cold_start, check_faults

from . import budget
from .spec import Campaign, CampaignError


def check(campaign: Campaign, env: Mapping[str, str] = os.environ) -> float:
    """Judge every configuration; the planned duration in seconds when all pass. The knobs' own
    checks come first, then k6's, then those that need the built service (the cold start)."""
    platforms = {}
    for c in campaign.configs:
        if c.kind == "platform":
            try:
                platforms[c.name] = PlatformConfig.from_env({**env, **c.env()}, REPO)
            except KnobError as e:
                raise CampaignError(f"configs {c.name!r}: {e}") from None
    try:
        seconds = budget.planned_seconds(campaign, env)
    except budget.BudgetError as e:
        raise CampaignError(str(e)) from None
    for name, cfg in platforms.items():
        try:
            check_cold_start(cfg.cold_start_judge(), cfg.cold_start)
            check_faults(cfg.delay_echo, cfg.faults)
        except KnobError as e:
            raise CampaignError(f"configs {name!r}: {e}") from None
    return seconds
