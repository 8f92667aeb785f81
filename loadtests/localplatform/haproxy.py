"""HAProxy as the platform's balancer, changed at run time through its runtime API (the stats socket).

Servers are dynamic (`add server` / `del server`, HAProxy ≥ 2.4; Debian 12 ships 2.6), so scaling
never reloads HAProxy and never drops a connection. A new server must not take traffic before its
/readyz says so, and a server leaving maintenance starts UP in 2.6 (it would get requests until its
first check fails), so it goes in through drain: `add server` (maintenance) → `enable health` →
`state drain` (weight 0) → `health down` → `state ready`, after which only a passing check makes it
UP. Scale-in is the reverse: `state drain`, the instance is SIGTERMed and drains, and once it has
exited `state maint` and `del server` remove it.
See `management.txt` of the haproxy package ("add server", "del server", "set server").
"""

from __future__ import annotations

import csv
import io
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from loadtests.core.service import Check, Service, ServiceError

BACKEND = "be"
# The handed-over socket's accept queue: at least the configuration's maxconn, as HAProxy's own
# bind would have had.
LISTEN_BACKLOG = 4096
# Each server's health check: one failed check takes it out, one passing check puts it back. A check
# that gets no answer fails after `inter` (no `timeout check` is set, so HAProxy uses `inter`).
HEALTH_FALL = 1
HEALTH_RISE = 1


class HaproxyError(RuntimeError):
    """HAProxy refused a command or could not start."""


def render_config(listen_fd: int, socket_path: Path) -> str:
    """The whole configuration: one frontend on the loopback socket handed over as `listen_fd`
    (bound by the platform, so its port is known without probing for a free one), one backend
    whose servers come at run time."""
    return f"""# Written by loadtests/localplatform for one run; servers are added and removed at run time.
global
    stats socket {socket_path} mode 600 level admin
    # Far above what a local study opens, and within a default open-file limit (2 fds each).
    maxconn 4000

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout queue 10s
    # A connection refused by an exiting instance is retried once on another server.
    retries 1
    option redispatch

frontend fe
    bind fd@{listen_fd}
    default_backend {BACKEND}

backend {BACKEND}
    # No request log: server state changes (checks, drain) reach stderr as warnings all the same.
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
"""


def find_binary(name: str) -> str:
    """A path as given, else PATH, else /usr/sbin (where Debian puts haproxy, off a user's PATH)."""
    path = name if "/" in name and Path(name).is_file() else None
    path = path or shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if path is None:
        raise HaproxyError(
            f"no HAProxy binary {name!r} on PATH (nor in /usr/sbin): install Debian's haproxy "
            "(make deps does) or point HAPROXY at one"
        )
    return path


@dataclass
class ServerStat:
    name: str
    status: str  # UP, DOWN, MAINT, DRAIN, "no check"…
    current_sessions: int
    queued: int
    total_sessions: int


@dataclass
class Stats:
    servers: dict[str, ServerStat]
    backend_queue: int
    backend_sessions: int


class Haproxy:
    """One HAProxy process on 127.0.0.1 and its runtime API."""

    def __init__(self, binary: str, workdir: Path, log_path: Path):
        self.binary = find_binary(binary)
        # A Unix socket's path has a short limit (HAProxy: 97 bytes), which a run folder deep in a
        # campaign exceeds: the runtime API's socket lives in a short folder of its own.
        self._socket_dir = Path(tempfile.mkdtemp(prefix="haproxy-"))
        self.socket_path = self._socket_dir / "api.sock"
        self.config_path = workdir / "haproxy.cfg"
        self.log_path = log_path
        # Bound here and handed to HAProxy (`bind fd@N`): the port is ours from the start.
        self._listener: socket.socket | None = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(LISTEN_BACKLOG)
        self.listen_port: int = self._listener.getsockname()[1]
        self.service: Service | None = None

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return None if self.service is None else self.service.proc

    def version(self) -> str:
        out = subprocess.run(
            [self.binary, "-v"], capture_output=True, text=True, check=False
        ).stdout
        return out.splitlines()[0] if out else "unknown"

    def start(self, timeout: float = 10.0) -> int:
        """Starts HAProxy in the foreground (-db) in its own session; returns its PID."""
        assert self._listener is not None, "HAProxy was already started"
        fd = self._listener.fileno()
        self.config_path.write_text(render_config(fd, self.socket_path))
        check = subprocess.run(
            [self.binary, "-c", "-f", str(self.config_path)],
            capture_output=True,
            text=True,
            pass_fds=(fd,),
        )
        if check.returncode != 0:
            self._close_listener()
            alerts = [ln for ln in (check.stderr + check.stdout).splitlines() if "ALERT" in ln]
            raise HaproxyError(
                f"HAProxy refused its configuration ({self.binary} -c exited {check.returncode}): "
                + ("; ".join(alerts) or check.stderr.strip() or "no output")
            )
        # Its own session: a Ctrl-C in the terminal reaches the platform, which stops HAProxy last.
        self.service = Service(
            [self.binary, "-db", "-f", str(self.config_path)],
            name="haproxy",
            log=self.log_path,
            ready=Check(self._answers, "an answer from HAProxy's runtime API"),
            timeout=timeout,
            group=True,
            pass_fds=(fd,),
        )
        try:
            self.service.start()
        except ServiceError as e:
            raise HaproxyError(str(e)) from e
        finally:
            self._close_listener()  # HAProxy holds its own copy
        return self.service.pid

    def _answers(self) -> bool:
        try:
            self.command("show info")
        except OSError:
            return False
        return True

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM by PID, SIGKILL after `timeout`; returns the exit status (None if never started)."""
        self._close_listener()
        try:
            return None if self.service is None else self.service.stop(timeout)
        finally:
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    def command(self, cmd: str, timeout: float = 5.0) -> str:
        """One runtime-API command line (several may be joined with `;`); returns HAProxy's answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(self.socket_path))
            s.sendall(cmd.encode() + b"\n")
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks).decode(errors="replace")

    def _checked(self, cmd: str, ok: str = "") -> str:
        out = self.command(cmd)
        text = out.strip()
        # The runtime API answers success with nothing or a fixed sentence, and errors in prose.
        if (ok and ok not in text) or (not ok and text):
            raise HaproxyError(f"HAProxy refused {cmd!r}: {text or 'no answer'}")
        return out

    def add_server(self, name: str, port: int, check_interval: float) -> None:
        """Adds a server that takes no request until HAProxy's own /readyz check passes."""
        inter = max(1, round(check_interval * 1000))
        srv = f"{BACKEND}/{name}"
        self._checked(
            f"add server {srv} 127.0.0.1:{port} check inter {inter} fastinter {inter} "
            f"downinter {inter} rise {HEALTH_RISE} fall {HEALTH_FALL} weight 1",
            ok="New server registered",
        )
        for cmd in (
            f"enable health {srv}",
            f"set server {srv} state drain",
            f"set server {srv} health down",
            f"set server {srv} state ready",
        ):
            self._checked(cmd)

    def drain_server(self, name: str) -> None:
        """No new requests for this server (weight 0); those in flight finish."""
        self._checked(f"set server {BACKEND}/{name} state drain")

    def remove_server(self, name: str) -> bool:
        """Maintenance then delete; False while HAProxy still holds connections to it (retry later)."""
        srv = f"{BACKEND}/{name}"
        self._checked(f"set server {srv} state maint")
        out = self.command(f"del server {srv}").strip()
        if "Server deleted" in out:
            return True
        if "connection" in out.lower() or "queue" in out.lower():
            return False
        raise HaproxyError(f"HAProxy refused 'del server {srv}': {out}")

    def stats(self) -> Stats:
        rows = list(csv.DictReader(io.StringIO(self.command("show stat").lstrip("# "))))
        servers: dict[str, ServerStat] = {}
        queue = sessions = 0
        for r in rows:
            if r.get("pxname") != BACKEND:
                continue
            if r["svname"] == "BACKEND":
                queue, sessions = _int(r.get("qcur")), _int(r.get("scur"))
            elif r["svname"] != "FRONTEND":
                servers[r["svname"]] = ServerStat(
                    r["svname"],
                    r.get("status", ""),
                    _int(r.get("scur")),
                    _int(r.get("qcur")),
                    _int(r.get("stot")),
                )
        return Stats(servers, queue, sessions)


def _int(v: str | None) -> int:
    try:
        return int(v or 0)
    except ValueError:
        return 0
