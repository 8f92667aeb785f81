"""A local-platform study interrupted the way a person interrupts it (Ctrl-C once the fleet is up),
for the end-to-end tests on processes and on containers."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from loadtests.core import tools

REPO = tools.REPO
RUN = [sys.executable, "-m", "loadtests.localplatform", "run"]


def interrupted_run(
    results: Path,
    env: dict[str, str],
    ready: Callable[[str], bool],
    what: str,
    settle_s: float = 0.0,
) -> Path:
    """Runs a study without a report, sends SIGINT once `ready(platform.jsonl's text)` holds (and
    `settle_s` more), checks it exits 130, and returns its run folder. Fails naming `what` if the
    platform never gets there within 60 s; the study is killed if it does not stop."""
    proc = subprocess.Popen(
        [*RUN, "--no-report"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            logs = list(results.glob(".platform-*/platform.jsonl"))
            if logs and ready(logs[0].read_text()):
                break
            assert proc.poll() is None, proc.communicate()[0][-3000:]
            assert time.monotonic() < deadline, f"{what} within 60 s"
            time.sleep(0.1)
        time.sleep(settle_s)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out[-3000:]
    (run_dir,) = [d for d in results.iterdir() if d.is_dir() and not d.name.startswith(".")]
    return run_dir
