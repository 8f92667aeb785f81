"""One delay-echo process as a platform instance: started with its cold start, probed, drained.

(RUNTIME=container runs the same flags in a container of the image: containers.py.)

The cold start is delay-echo's own `--startup-delay`, so the process listens at once but its /readyz
answers 503 until the delay has passed: readiness, not a timer in the platform, is the signal, as on a
real platform. Scale-in is delay-echo's own drain: SIGTERM makes it unready, it keeps serving for
`--drain-delay`, finishes what is in flight and exits.
"""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from loadtests.core.service import LogLine, Service, listening

from .config import ColdStart, render

# Loopback only: never through a proxy the environment may name (http_proxy).
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# How long a new process may take to bind and say where (not its cold start, which comes after).
LISTEN_TIMEOUT = 10.0


@dataclass
class Metrics:
    in_flight: float
    queued: float
    echo_answered: float


def parse_metrics(text: str) -> Metrics:
    """The few delay-echo metrics the platform reads (names from src/metrics.rs); a scrape that is
    not the Prometheus text format raises ValueError."""
    in_flight = queued = answered = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "delay_echo_in_flight_requests":
                in_flight = sample.value
            elif sample.name == "delay_echo_queued_requests":
                queued = sample.value
            elif (
                sample.name == "delay_echo_requests_total" and sample.labels.get("route") == "echo"
            ):
                answered += sample.value
    return Metrics(in_flight, queued, answered)


@dataclass(frozen=True)
class ServiceArgs:
    """delay-echo's flags for one instance, the same as a process or in a container."""

    concurrency: int
    delay: str
    queue: int
    drain_delay: float
    # PUT /config's bearer token (FAULTS' slow); handed over in the environment, off the argv
    # that `ps` shows.
    control_token: str | None = None

    def env(self) -> dict[str, str] | None:
        return (
            None if self.control_token is None else {"DELAY_ECHO_CONTROL_TOKEN": self.control_token}
        )

    def argv(self, instance: str, cold_start: ColdStart) -> list[str]:
        return [
            "--instance-id",
            instance,
            # Its records (docs/records.md) go to service.log; the run folder's records.parquet
            # is made from them at the end (study.py).
            "--access-log",
            "--max-concurrency",
            str(self.concurrency),
            "--delay",
            self.delay,
            "--max-queue",
            str(self.queue),
            "--queue-timeout",
            "2s",
            *cold_start.argv(),
            "--drain-delay",
            render(self.drain_delay),
        ]


@dataclass
class Instance:
    name: str
    port: int  # 0 until known (the one a process bound, or a container's published one)
    cold_start: ColdStart
    proc: subprocess.Popen[bytes] | None = None
    in_haproxy: bool = False  # added to HAProxy (a container only once it runs)
    times: dict[str, float] = field(default_factory=dict)  # phase -> epoch seconds
    kill_at: float | None = None  # monotonic deadline for SIGKILL once draining
    launched_at: float | None = None  # epoch seconds the process was started
    # Where its lines begin in the shared service.log: the log holds every instance's records,
    # so its own lines are looked for from there, not in the whole file.
    log_offset: int = 0

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
        """Starts the process on a port it binds itself and learns that port from its
        `listening` line in the shared log; raises ServiceError (with the log's tail) if it exits
        or says nothing first. Its readiness is the platform's watch loop's to see."""
        args = [str(binary), "--listen", "127.0.0.1:0"]
        args += service.argv(self.name, self.cold_start)
        self.log_offset = log.stat().st_size if log.exists() else 0
        # Own session: Ctrl-C reaches the platform only, which then stops each instance by PID.
        svc = Service(
            args,
            name=self.name,
            log=log,
            env=service.env(),
            ready=LogLine(listening(self.name)),
            timeout=LISTEN_TIMEOUT,
            group=True,
        )
        svc.launch()
        # When the process began, not when its listening line was read: its cold start counts
        # from here (the `started` event), and reading the line lags by up to the log's poll.
        self.launched_at = time.time()
        self.proc = svc.proc
        svc.wait_ready()
        self.port = svc.port
        return svc.pid

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
