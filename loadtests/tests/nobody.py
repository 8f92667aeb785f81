"""Running a lab command as `nobody`, to test what it does without root, the same wherever the
clone lives: a checkout under a folder only its owner can enter (a home, `mktemp -d`) is not
readable by `nobody`, and neither is a venv inside it. So the package is copied to a world-readable
temporary folder and run with an interpreter `nobody` may execute (the stdlib is all the lab's
commands import before they check for root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


def python_for_nobody() -> str | None:
    """An interpreter (3.11+, for tomllib) that nobody may run, or None."""
    for python in (sys.executable, getattr(sys, "_base_executable", None), "/usr/bin/python3"):
        if not python:
            continue
        probe = [*NOBODY, python, "-c", "import sys; assert sys.version_info >= (3, 11)"]
        if subprocess.run(probe, capture_output=True, timeout=30).returncode == 0:
            return python
    return None


@dataclass(frozen=True)
class Nobody:
    folder: Path  # world-readable (and writable: `folder / "results"`), removed afterwards
    python: str

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`python -m ARGS` as nobody, from the copy."""
        return subprocess.run(
            [*NOBODY, self.python, "-m", *args],
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"},
        )


@contextmanager
def as_nobody() -> Iterator[Nobody]:
    """A world-readable copy of the package to run as nobody; skips the test where setpriv or an
    interpreter nobody may run is missing."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) runs it as nobody")
    python = python_for_nobody()
    if python is None:
        pytest.skip("no Python 3.11+ interpreter that nobody may run")
    folder = Path(tempfile.mkdtemp(prefix="lab-as-nobody-"))
    try:
        folder.chmod(0o755)
        shutil.copytree(
            REPO / "loadtests",
            folder / "loadtests",
            ignore=shutil.ignore_patterns("tests", "__pycache__", "results"),
        )
        (folder / "results").mkdir()
        (folder / "results").chmod(0o777)
        yield Nobody(folder, python)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
