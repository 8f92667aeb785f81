"""Cold start (S3): time from exec of a server to its first 200 on /readyz.

A poller in a tight loop on the load core: connect (a refused connect returns in
microseconds), send GET /readyz, read the status line, retry after 100 us on anything but
200. Its resolution is a fraction of a millisecond, where `curl` in a shell loop would add a
process start (several ms) per try. The clock starts just before the spawn (fork + exec, a
fraction of a millisecond from CPython) and stops on the 200, so what is counted is what a
platform's health checker would see, minus the network.

Once ready, each start also sends two requests, one after the other, each on a fresh
connection as a new instance's first clients arrive: the first request of a fresh process
against the second, which has no one-time work left to do. delay-echo is asked for
`?delay=20ms` and says how long it slept (Server-Timing), so its overshoot of the delay is read
from the server's own figure; the reference servers (started with delay 0 here) are read from
the client's round trip alone.

The server is the exact command its start script execs (read from /proc/PID/cmdline of a
first start), so the reference servers are not charged for bash, a Go build or config
rendering; delay-echo is exec'd directly.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import time
from dataclasses import dataclass

from bench.procs import BenchError, parse_status_line, spawn_pinned

REQUEST = b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def try_readyz(port: int) -> int | None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(1.0)
        s.connect(("127.0.0.1", port))
        s.sendall(REQUEST)
        return parse_status_line(s.recv(64))
    except OSError as e:
        if e.errno not in (errno.ECONNREFUSED, errno.ECONNRESET, None):
            raise
        return None
    finally:
        s.close()


@dataclass(frozen=True)
class Answer:
    """One request's figures: the client's round trip and, where the server says, its sleep."""

    round_trip_ms: float
    sleep_ms: float | None


def ask(port: int, path: str, limit_s: float = 10.0) -> Answer:
    """GET `path` on a fresh connection; the answer must be a 200."""
    with socket.create_connection(("127.0.0.1", port), timeout=limit_s) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = time.perf_counter_ns()
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        round_trip = (time.perf_counter_ns() - t0) / 1e6
    if parse_status_line(data[:64]) != 200:
        raise BenchError(f"GET {path} on port {port} answered {data[:64]!r}, not 200")
    return Answer(round_trip, server_sleep_ms(data))


def server_sleep_ms(answer: bytes) -> float | None:
    """The `sleep` entry of an answer's Server-Timing header, if it has one."""
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() != "server-timing":
            continue
        for entry in value.split(","):
            metric, _, dur = entry.strip().partition(";dur=")
            if metric == "sleep":
                return float(dur)
    return None


@dataclass(frozen=True)
class Start:
    """One cold start: exec to the first 200 on /readyz, then the first and second request."""

    ready_ms: float
    first: Answer
    second: Answer


def time_to_ready(
    argv: list[str],
    env: dict[str, str],
    port: int,
    cpu: int,
    first_path: str,
    limit_s: float = 10.0,
) -> Start:
    """A cold start: milliseconds from spawn to the first 200 on /readyz, then two requests for
    `first_path`; the server is stopped before returning."""
    t0 = time.perf_counter_ns()
    proc = spawn_pinned(
        argv,
        cpu,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        while True:
            if try_readyz(port) == 200:
                ready_ms = (time.perf_counter_ns() - t0) / 1e6
                first = ask(port, first_path)
                return Start(ready_ms, first, ask(port, first_path))
            if proc.poll() is not None:
                raise BenchError(
                    f"{argv[0]} exited with {proc.returncode} before answering 200 on /readyz"
                )
            if (time.perf_counter_ns() - t0) / 1e9 > limit_s:
                raise BenchError(f"{argv[0]} did not answer 200 on /readyz within {limit_s:.0f} s")
            time.sleep(0.0001)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def exec_command_of(pid: int) -> list[str]:
    """The argv a start script exec'd into, with argv[0] resolved to the executable's path."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\0") if a]
    # nginx overwrites its argv with a title ("nginx: master process nginx -p DIR -c FILE");
    # the original arguments follow the title (the reference servers' paths hold no spaces).
    if len(argv) == 1 and argv[0].startswith("nginx: master process "):
        argv = argv[0].removeprefix("nginx: master process ").split()
    return [os.readlink(f"/proc/{pid}/exe"), *argv[1:]]


def environ_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = [a.split(b"=", 1) for a in f.read().split(b"\0") if b"=" in a]
    return {k.decode(): v.decode() for k, v in pairs}


def wait_port_closed(port: int, limit_s: float = 10.0) -> None:
    """Wait until nothing listens on `port`, so the next start cannot be answered by the last."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.01)
    raise BenchError(
        f"something still listens on 127.0.0.1:{port} {limit_s:.0f} s after the server stopped"
    )
