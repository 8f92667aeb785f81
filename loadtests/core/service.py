"""A process the lab starts, waits for and stops: `Service`.

Start an argv (environment, working directory, log file; optionally inside a network namespace
through `ip netns exec`), wait until it is ready by a log line, an HTTP status or a TCP connect,
each bounded, and stop it by its PID (SIGTERM, a bounded wait, SIGKILL; its whole process group
when it runs in a session of its own). A process that exits before it is ready, or is not ready in
time, stops the caller with the tail of its log, after it has been stopped itself.

Ports are never probed and released (another process can take the port in between): delay-echo
binds `--listen 127.0.0.1:0` itself and says where in its `listening` log line, which `LISTENING`
reads back (`Service.port`); a child that can take a bound socket gets one (`pass_fds`, HAProxy's
`bind fd@N`).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

# delay-echo's "listening" line, in its text and its JSON log format (src/server.rs); not the
# separate "metrics listening" line of --metrics-listen.
LISTENING = re.compile(
    r'(?<!metrics )\blistening(?:",")?\s*address"?[=:]"?(?P<address>\[?[0-9A-Fa-f.:]+\]?:\d+)'
)
# A process that never answers a probe must not hold the caller past its own bound.
PROBE_TIMEOUT = 0.5
POLL_INTERVAL = 0.02


def listening(instance: str | None = None) -> re.Pattern[str]:
    """delay-echo's `listening` line; with `instance`, only that instance's (a shared log)."""
    if instance is None:
        return LISTENING
    return re.compile(
        LISTENING.pattern + r'(?:"?,"?|\s+)instance"?[=:]"?' + re.escape(instance) + r'(?=["\s]|$)'
    )


class ServiceError(RuntimeError):
    """A service could not start or was not ready in time; the message quotes its log's tail."""


@dataclass(frozen=True)
class LogLine:
    """Ready once a line of the log (written since the start) matches `pattern`; a group named
    `address` (host:port) becomes the service's address."""

    pattern: re.Pattern[str]

    def describe(self) -> str:
        return f"a log line matching {self.pattern.pattern!r}"


@dataclass(frozen=True)
class Http:
    """Ready once GET `path` answers `status`; `port` None means the port the service reported."""

    path: str = "/readyz"
    status: int = 200
    host: str = "127.0.0.1"
    port: int | None = None

    def describe(self) -> str:
        return f"HTTP {self.status} from GET {self.path}"


@dataclass(frozen=True)
class Tcp:
    """Ready once a TCP connection to host:port is accepted; `port` None as for `Http`."""

    host: str = "127.0.0.1"
    port: int | None = None

    def describe(self) -> str:
        return f"a TCP connection to {self.host}:{self.port or '<its port>'}"


@dataclass(frozen=True)
class Check:
    """Ready once `fn()` is true: for what only the caller can ask (HAProxy's runtime API)."""

    fn: Callable[[], bool]
    what: str

    def describe(self) -> str:
        return self.what


Ready = LogLine | Http | Tcp | Check

Spawn = Callable[..., "subprocess.Popen[Any]"]


def http_status(host: str, port: int, path: str, timeout: float = PROBE_TIMEOUT) -> int | None:
    """One GET on a fresh connection: its status, or None when nothing answered. No proxy: the
    lab's services are local, whatever http_proxy says."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def tcp_accepts(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> bool:
    try:
        socket.create_connection((host, port), timeout).close()
    except OSError:
        return False
    return True


# A probe run inside a network namespace: this interpreter, one connection, exit status 0 on success.
_NETNS_PROBE = f"""\
import http.client, socket, sys
host, port, path, want = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
if not path:
    socket.create_connection((host, port), {PROBE_TIMEOUT}).close()
    sys.exit(0)
c = http.client.HTTPConnection(host, port, timeout={PROBE_TIMEOUT})
c.request("GET", path, headers={{"Connection": "close"}})
sys.exit(0 if c.getresponse().status == want else 1)
"""


def probe_in_netns(netns: str, host: str, port: int, path: str = "", status: int = 0) -> bool:
    """A TCP connect (or, with `path`, a GET answering `status`) from inside namespace `netns`."""
    argv = ["ip", "netns", "exec", netns, sys.executable, "-c", _NETNS_PROBE]
    argv += [host, str(port), path, str(status)]
    r = subprocess.run(argv, capture_output=True, timeout=PROBE_TIMEOUT + 10, check=False)
    return r.returncode == 0


class Service:
    """One started process (a context manager: `with Service(...) as s:` starts it, waits until
    it is ready, and stops it on leaving, also on an exception).

    `ready`: the conditions, waited for in order within one `timeout`. `group`: a session of its
    own (a Ctrl-C in the terminal reaches only the caller, which stops it in order), and stopped
    as a process group. `netns`: run through `ip netns exec`; TCP and HTTP probes then run inside
    the namespace too. `log`: stdout and stderr (appended unless `append=False`); without one a
    temporary file holds them until the service is stopped. `spawn`: what starts the process
    (subprocess.Popen, or bench's CPU-pinned spawn), given only the arguments that differ from
    Popen's defaults, so a spawn that must stay cheap (no pre-exec hook) stays so.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        log: Path | None = None,
        append: bool = True,
        ready: Ready | Sequence[Ready] = (),
        timeout: float = 10.0,
        netns: str | None = None,
        group: bool = False,
        stop_timeout: float = 10.0,
        pass_fds: Sequence[int] = (),
        spawn: Spawn = subprocess.Popen,
    ) -> None:
        self.argv = [str(a) for a in argv]
        self.name = name or Path(self.argv[0]).name
        self.env = env
        self.cwd = cwd
        self._own_log = log is None
        self.log = log
        self.append = append
        self.ready: tuple[Ready, ...] = (ready,) if isinstance(ready, Ready) else tuple(ready)
        self.timeout = timeout
        self.netns = netns
        self.group = group
        self.stop_timeout = stop_timeout
        self.pass_fds = tuple(pass_fds)
        self._spawn = spawn
        self.proc: subprocess.Popen[Any] | None = None
        self.address: str | None = None
        self.match: re.Match[str] | None = None
        self._log_start = 0

    # --- the interface -------------------------------------------------------------------------

    def start(self) -> Service:
        """Launches the process and waits until it is ready (see the class doc)."""
        self.launch()
        self.wait_ready()
        return self

    def launch(self) -> Service:
        """Launches the process without waiting for anything."""
        if self.proc is not None:
            raise ServiceError(
                f"{self.name} was already started (pid {self.proc.pid}); a Service starts once: "
                "make a new one to start the command again"
            )
        if self.log is None:
            fd, path = tempfile.mkstemp(prefix=f"service-{self.name}-", suffix=".log")
            os.close(fd)
            self.log = Path(path)
        argv = self.argv if self.netns is None else ["ip", "netns", "exec", self.netns, *self.argv]
        with contextlib.suppress(OSError):
            self._log_start = self.log.stat().st_size if self.append else 0
        kwargs: dict[str, Any] = {"stdin": subprocess.DEVNULL}
        if self.env is not None:
            kwargs["env"] = {**os.environ, **self.env}
        if self.cwd is not None:
            kwargs["cwd"] = self.cwd
        if self.group:
            kwargs["start_new_session"] = True
        if self.pass_fds:
            kwargs["pass_fds"] = self.pass_fds
        with open(self.log, "ab" if self.append else "wb") as log:
            kwargs["stdout"] = log
            kwargs["stderr"] = subprocess.STDOUT
            self.proc = self._spawn(argv, **kwargs)
        return self

    def wait_ready(self) -> None:
        """Waits for each readiness condition in turn within `timeout`; on an early exit, or when
        the time is up (the process is then stopped: SIGTERM, SIGKILL a second later), raises
        ServiceError with the tail of the log."""
        deadline = time.monotonic() + self.timeout
        for cond in self.ready:
            while not self._met(cond):
                if self.poll() is not None:
                    why = f"exited with status {self.returncode} before it was ready"
                elif time.monotonic() > deadline:
                    why = f"was not ready within {self.timeout:g} s, and was stopped"
                else:
                    time.sleep(POLL_INTERVAL)
                    continue
                message = (
                    f"{self.name} ({' '.join(self.argv)}) {why} (waiting for {cond.describe()}); "
                    f"its log ({self.log}) ends with:\n{self.log_tail()}"
                )
                # Nothing outlives the failure: the process (and its group), a temporary log.
                self.stop(timeout=1.0)
                raise ServiceError(message)

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM, up to `timeout` (default `stop_timeout`) seconds for the exit, then SIGKILL;
        returns the exit status (None if it was never started). A temporary log goes too."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait()
        elif self.group:
            # The leader is gone, but what it started in its group may not be.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self._own_log and self.log is not None:
            self.log.unlink(missing_ok=True)
        return self.proc.returncode

    def signal(self, sig: int) -> None:
        """Sends `sig` to the process (its group with `group`) if it still runs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            if self.group:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)

    def poll(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        if self.proc is None:
            raise ServiceError(f"{self.name} was never started")
        return self.proc.wait(timeout)

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise ServiceError(f"{self.name} was never started")
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    @property
    def port(self) -> int:
        """The port from the address the service reported in its log (a LogLine's `address`)."""
        if self.address is None:
            raise ServiceError(
                f"{self.name} has reported no address: wait for a LogLine with an `address` group "
                "(delay-echo's `listening`) before asking for its port"
            )
        return int(self.address.rsplit(":", 1)[1])

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of what the process wrote since it started."""
        if self.log is None:
            return ""
        try:
            with open(self.log, "rb") as f:
                f.seek(self._log_start)
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Service:
        """Starts the service unless `start` already did (so `with Service(...).start()` and
        ExitStack.enter_context on a started one both mean: stop it on leaving)."""
        if self.proc is not None:
            return self
        try:
            return self.start()
        except BaseException:
            self.stop(timeout=1.0)
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- readiness -----------------------------------------------------------------------------

    def _met(self, cond: Ready) -> bool:
        if isinstance(cond, LogLine):
            return self._log_matches(cond.pattern)
        if isinstance(cond, Check):
            return cond.fn()
        port = cond.port if cond.port is not None else self.port
        if isinstance(cond, Http):
            if self.netns is not None:
                return probe_in_netns(self.netns, cond.host, port, cond.path, cond.status)
            return http_status(cond.host, port, cond.path) == cond.status
        if self.netns is not None:
            return probe_in_netns(self.netns, cond.host, port)
        return tcp_accepts(cond.host, port)

    def _log_matches(self, pattern: re.Pattern[str]) -> bool:
        assert self.log is not None
        try:
            with open(self.log, "rb") as f:
                f.seek(self._log_start)
                text = f.read().decode(errors="replace")
        except OSError:
            return False
        # Whole lines only: a line still being written could match a prefix of its address.
        for line in text[: text.rfind("\n") + 1].splitlines():
            m = pattern.search(line)
            if m:
                self.match = m
                if "address" in pattern.groupindex and m.group("address"):
                    self.address = m.group("address")
                return True
        return False
