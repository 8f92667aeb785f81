"""Shared fixtures for the image-contract tests (`make test-image`).

The binary under test is the one `make image-binary` builds exactly as the Dockerfile does
(scripts/image/build-static.sh on the .dockerignore'd context); make passes its path in
IMAGE_BINARY. Tests that need it fail, rather than skip, when it is missing: a skipped
contract check would read as a pass.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "image"


@pytest.fixture(scope="session")
def binary() -> Path:
    path = os.environ.get("IMAGE_BINARY")
    if not path:
        pytest.fail(
            "IMAGE_BINARY is not set: run these tests through `make test-image`, which builds the binary first"
        )
    p = Path(path)
    if not p.is_file():
        pytest.fail(f"IMAGE_BINARY '{p}' does not exist: `make image-binary` builds it")
    return p


def dockerfile_stages(text: str) -> list[dict]:
    """The Dockerfile as a list of stages, each with its FROM line and its instructions.

    Continuation lines are joined and comments dropped; enough structure for the contract
    checks without a Dockerfile parser dependency.
    """
    logical, buf = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        logical.append((buf + line).strip())
        buf = ""
    stages: list[dict] = []
    for line in logical:
        m = re.match(r"(\w+)\s+(.*)", line)
        if not m:
            continue
        op, args = m.group(1).upper(), m.group(2)
        if op == "FROM":
            fm = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            stages.append({"from": fm.group(1), "name": fm.group(2), "ops": []})
        elif stages:
            stages[-1]["ops"].append((op, args))
    return stages
