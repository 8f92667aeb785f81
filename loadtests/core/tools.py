"""Where the lab's tools are, resolved in one place: the repository, the delay-echo binary and
its link, k6. Each comes from its environment variable when that is set (a relative path is taken
from the working directory), else from the project's default; `Tool.require()` says how to get
one that is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"


class ToolMissing(RuntimeError):
    """A tool is not where the lab looked; the message says where and how to get it."""


@dataclass(frozen=True)
class Tool:
    name: str
    path: Path
    # Where it came from (the variable, PATH or the default) and how to get it when it is missing.
    source: str
    how: str

    def exists(self) -> bool:
        return self.path.is_file() and os.access(self.path, os.X_OK)

    def require(self) -> Path:
        if not self.exists():
            raise ToolMissing(f"{self.name} not found at {self.path} ({self.source}): {self.how}")
        return self.path

    def __str__(self) -> str:
        return str(self.path)


def _from_env(env: Mapping[str, str], var: str) -> Path | None:
    value = env.get(var)
    return Path(value).absolute() if value else None


def delay_echo(env: Mapping[str, str] = os.environ, profile: str = "release") -> Tool:
    """The service: $DELAY_ECHO_BIN, else the `profile` build (release; `debug` for checks that
    only ask the binary, such as k8scheck's --list-metrics and --print-config)."""
    given = _from_env(env, "DELAY_ECHO_BIN")
    if given:
        return Tool(
            "delay-echo", given, "$DELAY_ECHO_BIN", "build it, or point DELAY_ECHO_BIN at it"
        )
    if profile not in ("release", "debug"):
        raise ValueError(f"profile {profile!r}: allowed: release or debug")
    how = "make build" if profile == "release" else "cargo build --bin delay-echo"
    return Tool(
        "delay-echo",
        REPO / "target" / profile / "delay-echo",
        f"the {profile} build",
        f"{how} (or set DELAY_ECHO_BIN)",
    )


def link(env: Mapping[str, str] = os.environ) -> Tool:
    """The lab's user-space network link: $DELAY_ECHO_LINK_BIN, else the release build."""
    given = _from_env(env, "DELAY_ECHO_LINK_BIN")
    if given:
        return Tool(
            "delay-echo-link",
            given,
            "$DELAY_ECHO_LINK_BIN",
            "build it, or point the variable at it",
        )
    return Tool(
        "delay-echo-link",
        REPO / "target" / "release" / "delay-echo-link",
        "the release build",
        "cargo build --release --bin delay-echo-link (or set DELAY_ECHO_LINK_BIN)",
    )


def k6(env: Mapping[str, str] = os.environ) -> Tool:
    """k6: $K6, else k6 on PATH (Grafana's packages), else the project's pinned copy in the venv."""
    given = _from_env(env, "K6")
    if given:
        return Tool("k6", given, "$K6", "install k6, or point K6 at it")
    on_path = shutil.which("k6", path=env.get("PATH"))
    if on_path:
        return Tool("k6", Path(on_path), "PATH", "")
    return Tool(
        "k6",
        VENV_BIN / "k6",
        "the project's pinned copy",
        "make venv (or put k6 on PATH, or set K6)",
    )


def venv_python() -> Path:
    """The venv's interpreter, which has the lab's pinned packages (make venv)."""
    return VENV_BIN / "python"
