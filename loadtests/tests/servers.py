"""Shared by the load-test tests: the real delay-echo on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("DELAY_ECHO_BIN") or REPO / "target" / "release" / "delay-echo")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def delay_echo(*flags: str) -> Iterator[str]:
    """A delay-echo with these flags on 127.0.0.1:<free port>, ready; its URL. Stopped on exit."""
    assert BIN.exists(), (
        f"{BIN} is missing: build it with cargo build --release --locked (make test does)"
    )
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN), "--listen", f"127.0.0.1:{port}", *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while subprocess.run(
            [str(BIN), "healthcheck", "--url", f"{url}/readyz"], capture_output=True
        ).returncode:
            assert proc.poll() is None, (
                f"delay-echo exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
            assert time.monotonic() < deadline, "delay-echo did not become ready within 20 s"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
