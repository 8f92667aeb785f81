"""`delay-echo-loadtest` (make loadtest): one profile against a target into a run folder.

Every setting is a flag with an environment twin (the flag wins); the profile's own knobs (RATE,
PEAK, HOLD, ECHO_DELAY, …) stay in the environment, where k6 reads them (loadtests/README.md).
Exit status: 0 done (thresholds crossed included), 2 bad input, 124 stopped by --max-run-time,
else k6's own.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from loadtests.core import flags

from . import from_flags, run
from .settings import UsageError, profiles


def parser(env: dict[str, str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="delay-echo-loadtest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add = flags.add
    add(p, "--profile", "PROFILE", env, help=f"the profile: {', '.join(profiles())}")
    add(p, "--target", "TARGET", env, default=env.get("BASE_URL"),
        help="scheme://host[:port] of the service (BASE_URL too)")  # fmt: skip
    add(
        p, "--tool", "TOOL", env, help="k6 (default) or locust (LOCUST_WORKERS=N; loadtests/locust)"
    )
    add(p, "--segment", "SEGMENT", env, help="this generator's number, 1..SEGMENTS")
    add(p, "--segments", "SEGMENTS", env, help="how many generators share the run")
    add(
        p, "--start-at", "START_AT", env, help="wait until this UTC time, e.g. 2026-05-01T12:00:00Z"
    )
    add(p, "--max-run-time", "MAX_RUN_TIME", env, help="hard bound in seconds: k6 gets SIGINT")
    add(p, "--results", "RESULTS", env, type=Path, help="where run folders go (loadtests/results)")
    add(p, "--k6", "K6", env, help="the k6 binary (default: k6 on PATH, else the venv's)")
    add(p, "--max-concurrency", "MAX_CONCURRENCY", env, help="recorded for the report's capacity")
    add(p, "--study", "STUDY", env, help="a free-text label recorded in run.json")
    return p


def main(argv: list[str] | None = None) -> int:
    env = dict(os.environ)
    a = parser(env).parse_args(argv)
    try:
        s = from_flags(
            profile=a.profile, tool=a.tool, target=a.target, segment_index=a.segment,
            segment_count=a.segments, start=a.start_at, max_run=a.max_run_time,
            results=a.results, k6=a.k6, max_concurrency=a.max_concurrency, study=a.study,
        )  # fmt: skip
        return run(s, env)
    except UsageError as e:
        print(f"loadtest: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
