"""How long a campaign will take, said before it starts: each configuration's load from its own
k6 plan (`k6 inspect` with the configuration's knobs, as the run itself resolves them), plus an
allowance per run for starting and stopping the platform and writing the report. The progress
line replaces the allowance with the measured pace once runs have finished."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping

from loadtests.core import tools
from loadtests.core.plan import Plan, PlanError
from loadtests.localplatform.study import SPIKE_DEFAULTS

from .spec import Campaign, Config

# Start, stop and report around each run's load: an allowance, corrected by the progress line.
PER_RUN_ALLOWANCE_S = 10.0


class BudgetError(ValueError):
    """A configuration's load cannot be planned (k6 refused its knobs); says which and why."""


def _study_load(config: Config) -> tuple[str, dict[str, str]]:
    """A study variant's profile and knobs, as the study runs them."""
    from loadtests.core.flags import truth
    from loadtests.studies.study import find

    knobs = config.env()
    study = find(knobs["STUDY"])
    variant = next(v for v in study.variants if v.key == knobs["STUDY_VARIANT"])
    short = truth(knobs.get("STUDY_SHORT", "no"))
    return study.load.profile, study.knobs(variant, short)


def load_seconds(config: Config, env: Mapping[str, str] = os.environ) -> float:
    knobs = config.env()
    profile = knobs.get("PROFILE", "spike")
    if config.kind == "study":
        profile, knobs = _study_load(config)
    script = tools.REPO / "loadtests" / "k6" / f"{profile}.js"
    if not script.exists():
        raise BudgetError(f"{config.name}: PROFILE={profile!r} is not a k6 profile in loadtests/k6")
    run_env = {**env, **knobs}
    if config.kind == "platform" and profile == "spike":
        # The spike the local platform drives when the campaign does not say otherwise.
        run_env = {**SPIKE_DEFAULTS, **run_env}
    run_env.setdefault("BASE_URL", knobs.get("TARGET", "http://127.0.0.1:1"))
    k6 = tools.k6(env).require()
    out = subprocess.run(
        [str(k6), "inspect", "--log-format=raw", "--include-system-env-vars", str(script)],
        env=run_env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        first = next((ln for ln in out.stderr.splitlines() if ln.strip()), "k6 inspect failed")
        raise BudgetError(f"{config.name}: k6 refused its knobs: {first.removeprefix('Error: ')}")
    try:
        return Plan.from_options(json.loads(out.stdout)).end
    except (PlanError, ValueError) as e:
        raise BudgetError(f"{config.name}: its k6 plan cannot be read: {e}") from None


def planned_seconds(campaign: Campaign, env: Mapping[str, str] = os.environ) -> float:
    per_config = {c.name: load_seconds(c, env) for c in campaign.configs}
    return campaign.repetitions * sum(s + PER_RUN_ALLOWANCE_S for s in per_config.values())
