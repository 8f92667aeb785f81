"""Every configuration's knobs judged the way its run will judge them, before the first run: a
campaign that would fail at its ninth run for a typo fails now, with exit 2."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from functools import cache

from loadtests.core.flags import env_twins
from loadtests.core.tools import REPO
from loadtests.localplatform.config import Config as PlatformConfig
from loadtests.localplatform.config import KnobError, check_cold_start, check_faults

from . import budget
from .spec import Campaign, CampaignError

# The campaign's own knobs: what a configuration is, and how a study variant runs.
CAMPAIGN_KNOBS = {"POLICY", "STUDY", "STUDY_VARIANT", "STUDY_SHORT", "TARGET", "PLATFORM"}


@cache
def known_knobs() -> frozenset[str]:
    """Every knob a run reads, from each owner's own table: the k6 profiles' (k6/lib/config.js),
    the loadtest's flags' environment twins, the local platform's KNOBS."""
    from loadtests.loadtest.__main__ import parser
    from loadtests.localplatform.config import KNOBS

    js = (REPO / "loadtests" / "k6" / "lib" / "config.js").read_text()
    table = js[js.index("export const KNOBS = {") : js.index("};", js.index("export const KNOBS"))]
    k6 = set(re.findall(r"^\s+([A-Z][A-Z0-9_]*): \[", table, re.M))
    return frozenset(k6 | env_twins(parser({})) | {k.name for k in KNOBS} | CAMPAIGN_KNOBS)


def unknown_knobs(campaign: Campaign) -> None:
    known = known_knobs()
    for c in campaign.configs:
        for name in c.env():
            if name not in known:
                near = difflib.get_close_matches(name, known, n=3)
                hint = f" (did you mean {' or '.join(near)}?)" if near else ""
                raise CampaignError(
                    f"configs {c.name!r}: {name} is not a knob of any run{hint}; allowed: the "
                    "knobs of `delay-echo-platform knobs`, loadtests/README.md's profile knobs, "
                    "the loadtest's settings and " + ", ".join(sorted(CAMPAIGN_KNOBS))
                )


def check(campaign: Campaign, env: Mapping[str, str] = os.environ) -> float:
    """Judge every configuration; the planned duration in seconds when all pass. The knobs' own
    checks come first, then k6's, then those that need the built service (the cold start)."""
    unknown_knobs(campaign)
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
