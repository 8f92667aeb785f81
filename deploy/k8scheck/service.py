"""delay-echo's side of the contract, asked of its binary rather than read from its source.

`--list-metrics` names every metric family the /metrics registry holds (a KEDA query must read one
of them); `--print-config` resolves a container's environment the way the service does at start,
so a manifest's durations are judged, and turned into seconds, by the service's own parser, and a
value the service would refuse is a finding with the service's own reason. The probe paths come
from the same answer.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from loadtests.core import tools

# Running the binary answers in milliseconds; this only bounds a binary that hangs.
TIMEOUT_S = 30.0


class RefusedConfig(ValueError):
    """The service would not start with this environment; the message is its own."""


def find(given: str | None = None, env: Mapping[str, str] = os.environ) -> Path:
    """The binary to ask: `given` (--delay-echo), else $DELAY_ECHO_BIN, else the dev build, else
    the release build; FileNotFoundError saying how to get one."""
    if given:
        tool = tools.delay_echo({"DELAY_ECHO_BIN": given})
    else:
        tool = tools.delay_echo(env, profile="debug")
        release = tools.delay_echo(env)
        if not tool.exists() and release.exists():
            tool = release
    try:
        return tool.require()
    except tools.ToolMissing as e:
        raise FileNotFoundError(str(e)) from None


@dataclass
class DelayEcho:
    binary: Path
    _configs: dict[frozenset[tuple[str, str]], dict[str, Any]] = field(
        default_factory=dict, repr=False
    )

    def _run(self, args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            env=dict(env),
            timeout=TIMEOUT_S,
            check=False,
        )

    @cached_property
    def metrics(self) -> dict[str, str]:
        """Every metric family the service can expose: name -> type."""
        p = self._run(["--list-metrics"], {})
        if p.returncode != 0:
            raise RuntimeError(f"{self.binary} --list-metrics exited {p.returncode}: {p.stderr}")
        out = {}
        for line in p.stdout.splitlines():
            name, kind, _help = line.split("\t", 2)
            out[name] = kind
        return out

    def config(self, env: Mapping[str, str]) -> dict[str, Any]:
        """The configuration the service resolves from this environment (and nothing else of
        the machine's); RefusedConfig with the service's reason when it would not start."""
        key = frozenset(env.items())
        if key not in self._configs:
            p = self._run(["--print-config"], env)
            if p.returncode == 2:
                raise RefusedConfig(p.stderr.strip().removeprefix("delay-echo: "))
            if p.returncode != 0:
                raise RuntimeError(
                    f"{self.binary} --print-config exited {p.returncode}: {p.stderr}"
                )
            self._configs[key] = json.loads(p.stdout)
        return self._configs[key]

    @cached_property
    def probes(self) -> dict[str, str]:
        """The paths of the service's probes: `liveness`, `readiness`, `metrics`."""
        probes: dict[str, str] = self.config({})["probes"]
        return probes
