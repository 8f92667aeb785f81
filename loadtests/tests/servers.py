"""Shared by the load-test tests: the real delay-echo on a loopback port it bound itself."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from loadtests.core import tools
from loadtests.core.service import LISTENING, Http, LogLine, Service

BIN = tools.delay_echo().path


def free_port() -> int:
    """A port the kernel just handed out, released again: only for locust's master, which cannot
    take a bound socket or report its port, while its workers need the port before it starts
    (ARCHITECTURE.md, "written by hand"). Everything else binds port 0 itself."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def delay_echo(*flags: str) -> Iterator[str]:
    """A delay-echo with these flags on 127.0.0.1:<port it bound>, ready; its URL. Stopped on exit."""
    binary = tools.delay_echo().require()
    service = Service(
        [str(binary), "--listen", "127.0.0.1:0", *flags],
        name="delay-echo",
        ready=[LogLine(LISTENING), Http("/readyz")],
        timeout=20,
        stop_timeout=20,
    )
    with service:
        yield f"http://127.0.0.1:{service.port}"
