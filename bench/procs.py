"""Server processes under benchmark: start pinned, wait for ready, read their cost, stop.

Everything here reads the kernel's own accounting (/proc) rather than asking the servers,
so delay-echo, hyper-floor and the two reference servers are measured the same way: CPU time from
utime+stime of every process of the server (nginx: master and workers), memory from
VmRSS/VmHWM, the listen backlog and established connections from `ss`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from loadtests.core.service import Http, Service, ServiceError

CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A condition that makes a measurement meaningless; the message says what and how to fix it."""


def spawn_pinned(cmd, cpu: int, **kwargs) -> subprocess.Popen:
    """Start `cmd` with its CPU affinity set to `cpu` (what `taskset -c CPU cmd` does).

    The affinity is inherited across fork/exec, so setting our own for the instant of the
    spawn pins the child from its first instruction without a taskset process in between
    (which would blur the cold-start measurement) and without a pre-exec hook (which forces
    a slow fork in CPython).
    """
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        return subprocess.Popen(cmd, **kwargs)
    finally:
        os.sched_setaffinity(0, own)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def parse_status_line(head: bytes) -> int | None:
    parts = head.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1][:3].isdigit():
        return int(parts[1][:3])
    return None


# --- /proc readers -------------------------------------------------------------------------


def proc_stat_fields(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name (which may itself contain spaces)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()


def cpu_ticks(pid: int) -> int:
    # After the command name, field 0 is state; utime and stime are fields 14 and 15 of the
    # whole line, so 11 and 12 here. They include threads that have already exited.
    f = proc_stat_fields(pid)
    return int(f[11]) + int(f[12])


def children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(proc_stat_fields(int(entry))[1]) == pid:
                    kids.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue  # the process went away while we looked
    return kids


def status_kib(pid: int, key: str) -> int:
    """A `kB` line of /proc/PID/status (VmRSS, VmHWM), in KiB; 0 if the process has none."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def cpus_allowed(pid: int) -> str:
    """The CPUs a process may run on, as the kernel lists them ("0", "0-1")."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split()[1]
    return ""


def thread_count(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def listen_backlog(port: int) -> int | None:
    """The accept-queue limit of the listener on `port` (ss shows it as Send-Q for LISTEN)."""
    out = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], check=False, capture_output=True, text=True, timeout=10
    ).stdout
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 3 and cols[0] == "LISTEN":
            return int(cols[2])
    return None


def established(port: int) -> int:
    """Established TCP connections whose local port is the server's."""
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"sport = :{port}"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return sum(1 for line in out.splitlines() if line.strip())


# --- a running server ----------------------------------------------------------------------


@dataclass
class ServerSpec:
    """How to start one of the compared servers for a given port and delay."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    # nginx serves from worker processes; their CPU and memory belong to the server.
    count_children: bool = False
    # Folders the start script writes for this one start (nginx-echo: its configuration, pid and
    # log under /tmp/bench-nginx-<port>); the harness removes them when the run ends.
    leaves: tuple[Path, ...] = ()


@dataclass
class Server:
    spec: ServerSpec
    port: int
    service: Service

    @property
    def pid(self) -> int:
        return self.service.pid

    @property
    def log_path(self) -> Path:
        assert self.service.log is not None
        return self.service.log

    def pids(self) -> list[int]:
        pids = [self.pid]
        if self.spec.count_children:
            pids += children(self.pid)
        return pids

    def cpu_seconds(self) -> float:
        return sum(cpu_ticks(p) for p in self.pids()) / CLK_TCK

    def rss_kib(self) -> int:
        return sum(status_kib(p, "VmRSS") for p in self.pids())

    def hwm_kib(self) -> int:
        return sum(status_kib(p, "VmHWM") for p in self.pids())

    def threads(self) -> int:
        return sum(thread_count(p) for p in self.pids())

    def cpus(self) -> str:
        return ",".join(sorted({cpus_allowed(p) for p in self.pids()}))

    def alive(self) -> bool:
        return self.service.poll() is None

    def log_tail(self, n: int = 20) -> str:
        return self.service.log_tail(n)

    def stop(self, timeout: float = 15.0) -> None:
        self.service.stop(timeout)


def start_server(
    spec: ServerSpec, port: int, cpu: int, log_dir: Path, ready_timeout: float
) -> Server:
    """Start a server pinned to `cpu` and return once GET /readyz answers 200.

    The reference servers answer every path, so /readyz works for all three. They take their
    port from PORT and cannot report one they bound, so the harness hands out ports from its own
    range and checks each is free first (ARCHITECTURE.md, "written by hand"); delay-echo gets the
    same treatment so that every compared server starts the same way.
    """
    if not port_is_free(port):
        raise BenchError(f"port {port} on 127.0.0.1 is taken; pick another range with --base-port")
    log_dir.mkdir(parents=True, exist_ok=True)
    service = Service(
        spec.argv,
        name=spec.name,
        env=spec.env,
        log=log_dir / f"{spec.name}-{port}.log",
        append=False,
        ready=Http("/readyz", 200, port=port),
        timeout=ready_timeout,
        stop_timeout=15.0,
        spawn=functools.partial(spawn_pinned, cpu=cpu),
    )
    try:
        service.start()
    except ServiceError as e:
        raise BenchError(str(e)) from e
    return Server(spec, port, service)


@contextlib.contextmanager
def perf_profile(pid: int, out: Path, cpu: int, enabled: bool):
    """Sample `pid` with `perf record -g` while the block runs; write a text report beside it.

    Off unless asked (--perf): sampling costs the server a little CPU, so profiled figures are
    marked as such in the report. perf runs on the load core. Symbols need an unstripped
    binary (CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only)
    and call stacks need frame pointers (RUSTFLAGS="-C force-frame-pointers=yes").
    """
    if not enabled:
        yield
        return
    data = out.with_suffix(".perf.data")
    rec = spawn_pinned(
        # The software clock: a VM without a PMU has no hardware cycles event.
        ["perf", "record", "-e", "cpu-clock", "-F", "999", "-g", "-p", str(pid), "-o", str(data)],
        cpu,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        rec.send_signal(signal.SIGINT)
        try:
            rec.wait(60)
        except subprocess.TimeoutExpired:
            rec.kill()
            rec.wait()
    with open(out.with_suffix(".perf.txt"), "w") as report:
        subprocess.run(
            [
                "perf",
                "report",
                "--stdio",
                "--no-children",
                "--percent-limit",
                "0.5",
                "-i",
                str(data),
            ],
            check=False,
            stdout=report,
            stderr=subprocess.STDOUT,
            timeout=300,
        )
