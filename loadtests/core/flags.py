"""Settings the way the service takes them: every setting a flag with an environment twin
(`--profile` / `PROFILE`), the flag winning. make passes its variables through the environment,
a shell user types flags, and both reach the same validation.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from typing import Any


def add(
    parser: argparse.ArgumentParser,
    flag: str,
    env: str,
    environ: Mapping[str, str],
    *,
    help: str,
    default: Any = None,
    **kwargs: Any,
) -> None:
    """`flag`, defaulting to $`env` when that is set and not empty, else to `default`. A `type`
    applies to the variable's text too, so both are validated the same way; a yes/no flag
    (BooleanOptionalAction) reads its variable with `truth`."""
    given = environ.get(env, "")
    if given.strip():
        default = given
        if kwargs.get("action") is argparse.BooleanOptionalAction:
            try:
                default = truth(given)
            except argparse.ArgumentTypeError as e:
                parser.error(f"{env}={e}")
    parser.add_argument(flag, default=default, help=f"{help} (env {env})", **kwargs)


def truth(text: str) -> bool:
    """A yes/no setting: 1, true, yes, on or 0, false, no, off."""
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r}; allowed: 1, true, yes, on or 0, false, no, off")


def env_twins(parser: argparse.ArgumentParser) -> set[str]:
    """The environment variables a parser's flags read (those added by `add`)."""
    return {
        m.group(1)
        for action in parser._actions
        if action.help and (m := re.search(r"\(env ([A-Z][A-Z0-9_]*)\)$", action.help))
    }
