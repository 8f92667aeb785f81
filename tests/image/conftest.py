"""Shared fixtures for the image-contract tests (`make test-image`, `make test-container`).

The binary under test is the one `make image-binary` builds exactly as the Dockerfile does
(scripts/image/build-static.sh on the .dockerignore'd context); make passes its path in
IMAGE_BINARY. Tests that need it fail, rather than skip, when it is missing: a skipped
contract check would read as a pass.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
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
            assert fm is not None, f"FROM {args!r}"
            stages.append({"from": fm.group(1), "name": fm.group(2), "ops": []})
        elif stages:
            stages[-1]["ops"].append((op, args))
    return stages


# --- The container gate (`make test-container`): the image built and run in Podman ------------

CONTAINER_SH = SCRIPTS / "container.sh"
# Bounds on hangs, generous for a shared machine; they measure nothing.
BUILD_TIMEOUT_S = 600
START_TIMEOUT_S = 30


def podman(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        pytest.fail(f"podman {' '.join(args)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r


def container_env(**settings: str) -> dict[str, str]:
    """The environment for scripts/image/container.sh on its Podman path, as make gives it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DELAY_ECHO_")}
    env.pop("MAKEFLAGS", None)
    env.update(ENGINE="podman", **settings)
    return env


def git_head() -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory):
    """The real Dockerfile built by `container.sh build` on its offline path (no base image
    pull: the binary is built as the builder stage builds it and given to the Dockerfile as
    the `builder` build context), under a tag of its own, removed afterwards."""
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: `make deps` installs it (mk/image.mk APT_PACKAGES)")
    run_id = uuid.uuid4().hex[:12]
    tag = f"localhost/delay-echo-test:{run_id}"
    revision = git_head()
    # Unique per build: the labels must be this build's, not a cached layer's.
    source = f"https://example.invalid/delay-echo/{run_id}"
    r = subprocess.run(
        [str(CONTAINER_SH), "build"],
        env=container_env(
            IMAGE=tag,
            BUILD="offline",
            VERSION=CARGO_VERSION,
            REVISION=revision,
            SOURCE=source,
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    try:
        assert r.returncode == 0, f"container.sh build failed:\n{r.stdout}\n{r.stderr}"
        assert "offline build with podman" in r.stderr, r.stderr
        yield {"tag": tag, "revision": revision, "source": source, "build_log": r.stderr}
    finally:
        # Only this tag: the image's layers may be shared with other tags, which stay.
        podman("rmi", "--force", tag, check=False)


_version = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.MULTILINE)
assert _version is not None, "Cargo.toml has a version"
CARGO_VERSION = _version.group(1)
