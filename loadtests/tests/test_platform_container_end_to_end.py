"""The local platform with RUNTIME=container: every instance a Podman container of the image.

The image is built from the static binary `make test` builds (target/image/delay-echo) with the
project's Dockerfile, offline (a named build context stands in for the builder stage); the platform
pushes it to a registry of its own and each instance pulls it from there. A short scheduled scale-out
must run every instance as a container that served the clients, log the container's start phases
(pulled, created, started = running, listening, ready) with the cold start on top, and leave no
container, registry or storage behind, also when interrupted. Skipped only where Podman is not
installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from loadtests.analysis.runs import load_run
from loadtests.core import tools
from loadtests.core.events import read
from loadtests.tests.platform_runs import RUN, interrupted_run

HERE = Path(__file__).resolve().parent.parent
REPO = HERE.parent
# The image's binary: static, as the Dockerfile's builder stage makes it (make image-binary).
BIN = Path(os.environ.get("DELAY_ECHO_BIN") or REPO / "target" / "image" / "delay-echo")
K6 = str(tools.k6().path)

PHASES = ["requested", "pulled", "created", "started", "listening", "ready", "in_rotation"]
PHASES += ["first_request", "exit"]
# The project's Dockerfile offline: the builder stage comes from a named build context (the static
# binary), so no base image is pulled; --format docker keeps its HEALTHCHECK.
BUILD = ["podman", "build", "--quiet", "--format", "docker"]

pytestmark = [
    pytest.mark.live,
    pytest.mark.platform,
    pytest.mark.skipif(
        shutil.which("podman") is None,
        reason="no container engine: Podman is not installed (make deps installs it)",
    ),
]


@pytest.fixture(scope="module")
def image():
    """A tag of its own, built offline from the static binary; removed afterwards."""
    assert BIN.exists(), f"{BIN} is missing: build it with make image-binary (make test does)"
    tag = f"localhost/delay-echo:platform-test-{os.getpid()}"
    with tempfile.TemporaryDirectory() as ctx:
        (Path(ctx) / "out").mkdir()
        shutil.copy2(BIN, Path(ctx) / "out" / "delay-echo")
        p = subprocess.run(
            [*BUILD, "--build-context", f"builder={ctx}", "-f", "Dockerfile", "-t", tag, "."],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert p.returncode == 0, p.stderr[-3000:]
    yield tag
    subprocess.run(["podman", "rmi", tag], capture_output=True, timeout=60)


def platform_env(results: Path, image: str, **knobs: str) -> dict[str, str]:
    return {
        **os.environ,
        "K6": K6,
        "RESULTS": str(results),
        "PYTHON": sys.executable,
        "RUNTIME": "container",
        "IMAGE": image,
        "MAX_RUN_TIME": "60",
        **knobs,
    }


def assert_nothing_left(events: list[dict]) -> None:
    """No container, Podman process, registry or storage of this run survives it."""
    (platform,) = [e for e in events if e["event"] == "platform"]
    run_id = platform["runtime"]["pull"].rsplit(":", 1)[1]
    (closed,) = [e for e in events if e["event"] == "containers_removed"]
    assert closed["left"] == [] and closed["storage_removed"], closed
    assert not Path(platform["runtime"]["storage"]).exists()
    alive = []
    for cmd in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmd.read_bytes()
        except OSError:
            continue
        if run_id.encode() in text:  # conmon, podman run, the registry (its folder holds the id)
            alive.append(text.replace(b"\0", b" ")[:200])
    assert not alive, alive
    names = subprocess.run(
        ["podman", "ps", "--all", "--format", "{{.Names}}"], capture_output=True, text=True
    ).stdout
    assert run_id not in names


def test_a_scale_out_on_containers_pulls_runs_and_removes_every_instance(tmp_path, image):
    env = platform_env(
        tmp_path,
        image,
        POLICY="schedule",
        SCHEDULE="3:2",
        MAX_INSTANCES="2",
        COLD_START="1s",
        DRAIN_DELAY="1s",
        BASE_RATE="10",
        LEAD="3s",
        PEAK="60",
        HOLD="7s",
        TAIL="0s",
    )
    p = subprocess.run(
        [*RUN, "--no-report"], cwd=REPO, env=env, capture_output=True, text=True, timeout=150
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    (run_dir,) = [d for d in tmp_path.iterdir() if d.is_dir() and not d.name.startswith(".")]
    events = read(run_dir / "platform.jsonl")
    (platform,) = [e for e in events if e["event"] == "platform"]
    assert platform["runtime"]["name"] == "container"
    assert platform["runtime"]["pull"].startswith("127.0.0.1:")

    # Every instance went through a container's start, in order, and drained at the end (exit 0).
    by = {
        n: {e["event"]: e for e in events if e.get("instance") == n} for n in ("local-1", "local-2")
    }
    for name, ph in by.items():
        assert all(p in ph for p in PHASES), (name, ph.keys())
        times = [ph[p]["time"] for p in PHASES]
        assert times == sorted(times), (name, {p: ph[p]["time"] for p in PHASES})
        assert ph["requested"]["runtime"] == "container"
        assert ph["started"]["container"].endswith(f"-{name}") and ph["started"]["port"] > 0
        assert ph["exit"]["exit_code"] == 0, ph["exit"]
    # The first pull downloaded the image into the run's own storage; the second found it there.
    assert by["local-1"]["pulled"]["image_was_cached"] is False
    assert by["local-2"]["pulled"]["image_was_cached"] is True
    # The cold start comes on top of the container's start: it listens (503) once running, and is
    # ready 1 s after it ran (`listening` is the watch loop's probe, a poll late: not the clock).
    l2 = by["local-2"]
    assert l2["requested"]["cold_start"] == "1s" and l2["listening"]["status"] == 503
    assert l2["listening"].get("cold_start_s", l2["ready"].get("cold_start_s")) == 1.0
    assert l2["ready"]["time"] - l2["started"]["time"] >= 1.0
    assert "startup_delay=1s" in (run_dir / "service.log").read_text()
    (summary,) = [e for e in events if e["event"] == "summary"]
    s2 = summary["instances"]["local-2"]
    assert s2["requested_to_ready_s"] >= s2["requested_to_running_s"] + 1.0, s2

    # The clients were answered by both containers (X-Instance-Id), all of them 200.
    run = load_run([run_dir])
    seen = run.query("SELECT instance, count(*) AS n, bool_and(ok) AS ok FROM requests GROUP BY 1")
    answered = dict(zip(seen["instance"], seen["n"], strict=True))
    assert set(answered) == {"local-1", "local-2"} and seen["ok"].all(), seen
    assert_nothing_left(events)


def test_an_interrupted_study_on_containers_removes_them_all(tmp_path, image):
    env = platform_env(
        tmp_path,
        image,
        POLICY="schedule",
        SCHEDULE="0:3",
        MAX_INSTANCES="3",
        COLD_START="5s",  # local-2 and local-3 are still starting when the Ctrl-C arrives
        PROFILE="smoke",
        RATE="5",
        DURATION="60s",
    )
    run_dir = interrupted_run(
        tmp_path, env, lambda log: '"started","instance":"local-3"' in log, "local-3 ran"
    )
    events = read(run_dir / "platform.jsonl")
    assert any(e["event"] == "interrupted" for e in events)
    exits = {e["instance"] for e in events if e["event"] == "exit"}
    assert exits == {"local-1", "local-2", "local-3"}
    assert_nothing_left(events)
