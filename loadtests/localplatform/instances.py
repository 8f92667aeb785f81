"""One delay-echo process as a platform instance: started with its cold start, probed, drained.

(RUNTIME=container runs the same flags in a container of the image: containers.py.)

The cold start is delay-echo's own `--startup-delay`, so the process listens at once but its /readyz
answers 503 until the delay has passed: readiness, not a timer in the platform, is the signal, as on a
real platform. Scale-in is delay-echo's own drain: SIGTERM makes it unready, it keeps serving for
`--drain-delay`, finishes what is in flight and exits.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .durations import render

# Loopback only: never through a proxy the environment may name (http_proxy).
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_METRIC = re.compile(r"^(delay_echo_[a-z_]+)(\{[^}]*\})?\s+([0-9.eE+-]+|NaN)\s*$")


def free_port() -> int:
    """A port the kernel just handed out; the window until delay-echo binds it is tiny (loopback only)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Metrics:
    in_flight: float
    queued: float
    echo_answered: float


def parse_metrics(text: str) -> Metrics:
    """The few delay-echo metrics the platform reads (names from src/metrics.rs)."""
    in_flight = queued = answered = 0.0
    for line in text.splitlines():
        m = _METRIC.match(line)
        if not m:
            continue
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        if name == "delay_echo_in_flight_requests":
            in_flight = value
        elif name == "delay_echo_queued_requests":
            queued = value
        elif name == "delay_echo_requests_total" and 'route="echo"' in labels:
            answered += value
    return Metrics(in_flight, queued, answered)


@dataclass(frozen=True)
class ServiceArgs:
    """delay-echo's flags for one instance, the same as a process or in a container."""

    concurrency: int
    delay: str
    queue: int
    drain_delay: float

    def argv(self, instance: str, cold_start: float) -> list[str]:
        return [
            "--instance-id",
            instance,
            "--max-concurrency",
            str(self.concurrency),
            "--delay",
            self.delay,
            "--max-queue",
            str(self.queue),
            "--queue-timeout",
            "2s",
            "--startup-delay",
            render(cold_start),
            "--drain-delay",
            render(self.drain_delay),
        ]


@dataclass
class Instance:
    name: str
    port: int  # 0 until known (a container's is read back once it runs)
    cold_start: float
    proc: subprocess.Popen[bytes] | None = None
    in_haproxy: bool = False  # added to HAProxy (a container only once it runs)
    times: dict[str, float] = field(default_factory=dict)  # phase -> epoch seconds
    kill_at: float | None = None  # monotonic deadline for SIGKILL once draining

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def draining(self) -> bool:
        return "drain" in self.times

    @property
    def exited(self) -> bool:
        return "exit" in self.times

    @property
    def ready(self) -> bool:
        return "ready" in self.times and not self.draining and not self.exited

    def start(self, binary: Path, service: ServiceArgs, log: Path) -> int:
        args = [str(binary), "--listen", f"127.0.0.1:{self.port}"]
        args += service.argv(self.name, self.cold_start)
        with open(log, "ab") as f:
            # Own session: Ctrl-C reaches the platform only, which then stops each instance by PID.
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=f, stderr=f, start_new_session=True
            )
        return self.proc.pid

    def signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def poll(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def probe(self, timeout: float = 0.5) -> int | None:
        """/readyz's status (503 while the cold start lasts, 200 once ready); None: no answer."""
        try:
            with _OPENER.open(f"{self.url}/readyz", timeout=timeout) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def scrape(self, timeout: float = 0.5) -> Metrics | None:
        try:
            with _OPENER.open(f"{self.url}/metrics", timeout=timeout) as r:
                return parse_metrics(r.read().decode(errors="replace"))
        except (urllib.error.URLError, OSError, ValueError):
            return None
