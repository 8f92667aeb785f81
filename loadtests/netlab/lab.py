"""Build an emulated network from a topology, hand out hosts and addresses, and always remove it.

One Linux network namespace per host, each joined by a veth pair to one bridge that lives in a
namespace of its own (the "switch"), so nothing is added to the machine's own network and no
packet leaves the namespaces. Every host has one address (on its loopback) by which every other
host reaches it, the same from everywhere, so a study writes `lab.address("origin")` into an nginx
config as it would a DNS name.

Delays per ordered pair of hosts, by one of two mechanisms (`Lab.mechanism` says which):
- `netem`: on each host's veth, an htb class per linked peer (matched by destination address)
  with a netem qdisc holding that peer's one-way delay and jitter. Every port is delayed.
- `userspace`: where the kernel has no netem. Each link gets a namespace of its own (a "wire",
  on the bridge too) where both ends' addresses are local; a and b route each other's address to
  the wire, where `delay-echo-link` processes listen on the ports the far end declares and connect
  onward to it over the bridge, holding each chunk for that direction's delay. Only declared ports
  are reachable through a link, and servers must listen on every address (0.0.0.0) or their
  transport address (`HostInfo.transport`), since the link arrives there.

Wake-ups: what runs in a lab mostly waits, and on a machine whose CPUs are otherwise idle each
wake-up first brings a CPU out of its idle state; on a virtual machine whose idle CPUs halt that is
the host's business and can take a few tenths of a millisecond, per packet's hop, more after long
waits than short ones. `Lab(awake=True)` holds a PM QoS request for zero wake-up latency
(/dev/cpu_dma_latency, as cyclictest does) while the lab is up, so idle CPUs poll instead; the
kernel drops the request when the lab lets go of it, also if the process dies.

Cleanup is guaranteed: `with Lab(topology) as lab:` removes every process it started and every
namespace it made on leaving, also on an exception, Ctrl-C or SIGTERM (turned into
KeyboardInterrupt while the lab is up). A run's namespaces are named
`<prefix>-<pid>-<token>.<host>`, so parallel runs never collide and `cleanup()` can tell leftovers
(their pid is gone) from live runs.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal

from loadtests.core import tools
from loadtests.core.service import LogLine, Ready, Service, ServiceError, probe_in_netns

from .topology import Topology

PREFIX = "netlab"
SWITCH = "switch"
# Private ranges that exist only inside the lab's namespaces.
TRANSPORT_NET = "10.213.0"  # hosts on the bridge (10.213.0.0/16)
WIRE_NET = "10.213.1"  # user-space links' wire namespaces, on the same bridge
HOST_NET = "10.214.0"  # the hosts' own addresses
# SCHED_FIFO priority for `realtime` processes: above every normal process, below the kernel's
# own threads (which run at 50).
REALTIME_PRIORITY = 20
# delay-echo-link prints this line alone once it listens on every route.
LINK_READY = re.compile(r"^ready$")
# The kernel's PM QoS interface: while a process holds it open with a value written, no CPU enters
# an idle state whose exit latency exceeds that many microseconds.
CPU_LATENCY_QOS = Path("/dev/cpu_dma_latency")

Mechanism = Literal["netem", "userspace"]


class NetlabError(RuntimeError):
    """The lab cannot be built or used; the message says why and what to do."""


def _say(msg: str) -> None:
    print(f"netlab: {msg}", file=sys.stderr, flush=True)


def check_prerequisites(
    euid: int | None = None, which: Callable[[str], str | None] = shutil.which
) -> None:
    """Stops at once, with what to do, unless this runs as root with iproute2 installed."""
    euid = os.geteuid() if euid is None else euid
    missing = [tool for tool in ("ip", "tc") if which(tool) is None]
    if missing:
        raise NetlabError(
            f"netlab needs iproute2 ({' and '.join(missing)} not found on PATH); on Debian: apt-get install iproute2"
        )
    if euid != 0:
        raise NetlabError(
            f"netlab needs root to create network namespaces (running as uid {euid}); run it as root, e.g. with sudo"
        )


def _ip(*args: str, check: bool = True, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise NetlabError(f"ip {' '.join(args)} failed: {r.stderr.strip() or r.returncode}")
    return r


def _plug(switch: str, port: str, ns: str, address: str) -> None:
    """A veth from the switch's bridge (as `port`) to `ns` (as eth0, with `address`), both up."""
    _ip("-n", switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
    _ip("-n", switch, "link", "set", port, "master", "br0", "up")
    _ip("-n", ns, "addr", "add", address, "dev", "eth0")
    _ip("-n", ns, "link", "set", "eth0", "up")


def _tc(ns: str, *args: str) -> None:
    r = subprocess.run(
        ["ip", "netns", "exec", ns, "tc", *args], capture_output=True, text=True, timeout=10
    )
    if r.returncode != 0:
        raise NetlabError(f"tc {' '.join(args)} (in {ns}) failed: {r.stderr.strip()}")


def netem_available(ns: str) -> tuple[bool, str]:
    """Tries a netem qdisc on the loopback of namespace `ns`: (works, the kernel's answer)."""
    r = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ns,
            "tc",
            "qdisc",
            "add",
            "dev",
            "lo",
            "root",
            "netem",
            "delay",
            "1ms",
        ],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if r.returncode == 0:
        subprocess.run(
            ["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", "lo", "root"],
            capture_output=True,
            timeout=10,
        )
        return True, "tc netem works"
    return False, r.stderr.strip().splitlines()[
        0
    ] if r.stderr.strip() else f"tc exited {r.returncode}"


def namespaces() -> list[str]:
    """Every named network namespace on the machine."""
    out = _ip("netns", "list").stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace(ns: str) -> None:
    """Kills whatever still runs in `ns`, then deletes it."""
    pids = _ip("netns", "pids", ns, check=False).stdout.split()
    for p in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(p), signal.SIGKILL)
    # A killed process may hold the namespace for a moment; `ip netns del` unmounts the name anyway.
    _ip("netns", "del", ns, check=False)


def cleanup(
    prefix: str = PREFIX, everything: bool = False, say: Callable[[str], None] = _say
) -> list[str]:
    """Removes leftover namespaces of `prefix` (their run's process is gone), with what runs in
    them; `everything` also removes those of runs still alive. Returns the names removed."""
    check_prerequisites()
    removed = []
    for ns in namespaces():
        run = ns.split(".", 1)[0]
        parts = run.split("-")
        if not ns.startswith(prefix + "-") or len(parts) < 3 or not parts[-2].isdigit():
            continue
        if not everything and _pid_alive(int(parts[-2])):
            continue
        _kill_namespace(ns)
        removed.append(ns)
    say(
        f"removed {len(removed)} namespace(s) of prefix {prefix!r}"
        + (f": {', '.join(removed)}" if removed else "")
    )
    return removed


@dataclass(frozen=True)
class HostInfo:
    """A ready host: its namespace and the address every host reaches it by."""

    name: str
    namespace: str
    address: str
    ports: tuple[int, ...]
    # The host's address on the bridge (where traffic through a user-space link arrives).
    transport: str


class Lab:
    """An emulated network, built on entering and removed on leaving (see the module doc).

    `mechanism`: "auto" (netem where the kernel has it, else the user-space link), or force one.
    `link_bin`: the user-space link's binary, delay-echo-link (default $DELAY_ECHO_LINK_BIN, else
    target/release/delay-echo-link). `log_dir`: where the output of started processes goes (default:
    a temporary folder, kept for reading after the run). `realtime_links`: run the user-space
    links at a real-time priority (see `run`). `awake`: keep idle CPUs polling while the lab is
    up (see the module doc), for studies whose timings are a ground truth.
    """

    def __init__(
        self,
        topology: Topology,
        *,
        mechanism: Literal["auto", "netem", "userspace"] = "auto",
        link_bin: Path | None = None,
        prefix: str = PREFIX,
        log_dir: Path | None = None,
        say: Callable[[str], None] = _say,
        realtime_links: bool = True,
        awake: bool = False,
    ) -> None:
        self.topology = topology
        self._want = mechanism
        self._link_bin = link_bin or tools.link().path
        self._realtime_links = realtime_links
        self._realtime: bool | None = None
        self._awake = awake
        self._qos_fd: int | None = None
        # The kernel's answer when netem was tried and refused.
        self._netem_note = ""
        self._prefix = prefix
        self.log_dir = log_dir
        self._say = say
        self.run_id = ""
        self.mechanism: Mechanism | None = None
        self.hosts: dict[str, HostInfo] = {}
        self._procs: list[Service] = []
        # userspace: each link's processes (one per direction whose far end serves ports) and
        # their --control files, by the link's index in the topology (impair.degrade uses them).
        self.link_controls: dict[int, list[tuple[Service, Path]]] = {}
        self._created: list[str] = []
        self._old_handlers: dict[int, Any] = {}

    # --- the interface -----------------------------------------------------------------------

    def address(self, host: str) -> str:
        """The address every host reaches `host` by."""
        return self._info(host).address

    def namespace(self, host: str) -> str:
        return self._info(host).namespace

    def url(self, host: str, port: int, path: str = "") -> str:
        return f"http://{self.address(host)}:{port}{path}"

    def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        realtime: bool = False,
        ready: Ready | Sequence[Ready] = (),
        timeout: float = 10.0,
    ) -> Service:
        """Starts `argv` inside `host` (any command: delay-echo, nginx, k6, locust…); it is
        stopped when the lab goes down. Output goes to `<log_dir>/<host>-<name>.log`. With
        `ready` it returns once the process is ready (TCP and HTTP probed from inside `host`),
        or raises NetlabError with its log's tail. `realtime` runs it under SCHED_FIFO (chrt): on
        a busy shared machine a process that is part of the measured path (a link, a server
        whose timings are the ground truth) then runs when its packet arrives instead of queueing
        for a CPU behind unrelated work; only for processes that mostly wait, since they pre-empt
        everything else."""
        label = f"{host}-{name or Path(argv[0]).name}"
        ns = self.namespace(host)
        service = self._spawn(
            ns, argv, label, env=env, realtime=realtime, ready=ready, timeout=timeout
        )
        self._await(service, label)
        return service

    def _realtime_works(self) -> bool:
        """Whether chrt can give real-time priority here (a container may lack CAP_SYS_NICE);
        without it processes run at normal priority, which only costs precision on a busy machine."""
        if self._realtime is None:
            probe = ["chrt", "--fifo", str(REALTIME_PRIORITY), "true"]
            self._realtime = (
                bool(shutil.which("chrt"))
                and subprocess.run(probe, capture_output=True).returncode == 0
            )
            if not self._realtime:
                self._say(
                    "no real-time priority (chrt missing or not permitted): timings may be noisier on a busy machine"
                )
        return self._realtime

    def _spawn(
        self,
        ns: str,
        argv: Sequence[str],
        label: str,
        *,
        env: Mapping[str, str] | None = None,
        realtime: bool = False,
        ready: Ready | Sequence[Ready] = (),
        timeout: float = 10.0,
    ) -> Service:
        if realtime and self._realtime_works():
            argv = ["chrt", "--fifo", str(REALTIME_PRIORITY), *argv]
        assert self.log_dir is not None
        service = Service(
            argv,
            name=label,
            env=env,
            log=self.log_dir / f"{label}.log",
            netns=ns,
            ready=ready,
            timeout=timeout,
            # Its own process group: stopped as a group, and not hit by the terminal's Ctrl-C
            # before the lab has had its chance to stop it in order.
            group=True,
            stop_timeout=3.0,
        )
        self._procs.append(service)
        service.launch()
        return service

    def _await(self, service: Service, what: str) -> None:
        try:
            service.wait_ready()
        except ServiceError as e:
            raise NetlabError(f"{what}: {e}") from e

    def exec(
        self,
        host: str,
        argv: Sequence[str],
        *,
        timeout: float,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Runs `argv` inside `host` to completion (bounded by `timeout`), output captured."""
        r = subprocess.run(
            ["ip", "netns", "exec", self.namespace(host), *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env=None if env is None else {**os.environ, **env},
        )
        if check and r.returncode != 0:
            raise NetlabError(
                f"{' '.join(argv)} in {host} exited {r.returncode}: {r.stderr.strip()[-2000:]}"
            )
        return r

    def wait_tcp(self, host: str, port: int, timeout: float = 10.0) -> None:
        """Waits until `host` accepts connections on `port` at its own address, probed from
        inside `host` (through a user-space link a connection is accepted before the link's
        onward one, so probing from another host would say nothing about the server)."""
        deadline = time.monotonic() + timeout
        while not probe_in_netns(self.namespace(host), self.address(host), port):
            if time.monotonic() > deadline:
                raise NetlabError(
                    f"{host} did not accept connections on port {port} within {timeout:g}s"
                )
            time.sleep(0.05)

    def describe(self) -> str:
        """The hosts, addresses and delays, for logs and reports."""
        lines = [f"mechanism: {self.mechanism}"]
        for h in self.hosts.values():
            lines.append(
                f"{h.name}: {h.address} (namespace {h.namespace}, ports {list(h.ports) or '-'})"
            )
        for link in self.topology.links:
            lines.append(
                f"{link.a} -> {link.b} {link.one_way_ms(link.a, link.b):g} ms, {link.b} -> {link.a} {link.one_way_ms(link.b, link.a):g} ms"
                + (f", jitter {link.jitter_ms:g} ms" if link.jitter_ms else "")
            )
        return "\n".join(lines)

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> Lab:
        self._trap_signals()
        try:
            self.up()
        except BaseException:
            self.down()
            self._restore_signals()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.down()
        finally:
            self._restore_signals()

    def up(self) -> None:
        check_prerequisites()
        if self.log_dir is None:
            self.log_dir = Path(tempfile.mkdtemp(prefix="netlab-logs-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self._awake:
            self._hold_cpus_awake()
        self.run_id = f"{self._prefix}-{os.getpid()}-{secrets.token_hex(3)}"
        switch = self._add_namespace(SWITCH)
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        self.mechanism = self._choose_mechanism(switch)
        for i, h in enumerate(self.topology.hosts):
            ns = self._add_namespace(h.name)
            _plug(switch, f"h{i}", ns, f"{TRANSPORT_NET}.{i + 2}/16")
            _ip("-n", ns, "addr", "add", f"{HOST_NET}.{i + 2}/32", "dev", "lo")
            self.hosts[h.name] = HostInfo(
                h.name, ns, f"{HOST_NET}.{i + 2}", h.ports, f"{TRANSPORT_NET}.{i + 2}"
            )
        for i, a in enumerate(self.topology.hosts):
            self._route_from(i, a.name)
        if self.mechanism == "netem":
            for i, a in enumerate(self.topology.hosts):
                self._shape(i, a.name)
        else:
            self._start_links(switch)
        self._say(
            f"up: {len(self.hosts)} hosts, run {self.run_id}, link delays by {self._mechanism_text()}"
            + ("; idle CPUs held awake" if self.awake else "")
        )

    def down(self) -> None:
        """Stops every started process, then removes every namespace of this run. Never raises:
        a failure to remove something is reported (and `cleanup` can finish the job)."""
        for service in reversed(self._procs):
            service.stop()
        self._procs.clear()
        self.link_controls.clear()
        left = []
        for ns in reversed(self._created):
            try:
                _kill_namespace(ns)
            except Exception as e:  # keep going: the rest must still go
                self._say(f"could not remove {ns}: {e}")
        if self.run_id:
            try:
                left = [ns for ns in namespaces() if ns.startswith(self.run_id + ".")]
            except Exception as e:
                self._say(f"could not list namespaces: {e}")
        if left:
            self._say(
                f"left behind: {', '.join(left)}; remove with: python -m loadtests.netlab cleanup"
            )
        elif self._created:
            self._say(f"down: removed {len(self._created)} namespaces of run {self.run_id}")
        self._created.clear()
        self.hosts.clear()
        if self._qos_fd is not None:
            os.close(self._qos_fd)
            self._qos_fd = None

    @property
    def realtime(self) -> bool | None:
        """Whether processes asked to run at real-time priority got it (None: none was asked)."""
        return self._realtime

    @property
    def awake(self) -> bool:
        """Whether idle CPUs are held polling right now (`awake=True` and the kernel agreed)."""
        return self._qos_fd is not None

    def _hold_cpus_awake(self) -> None:
        """The PM QoS request of `awake`: 0 µs written to /dev/cpu_dma_latency, held until
        `down` closes it (the descriptor is not inherited by what the lab starts). Where that
        cannot be done, say so and go on: timings may then include idle CPUs' wake-ups."""
        try:
            fd = os.open(CPU_LATENCY_QOS, os.O_WRONLY)
        except OSError as e:
            self._say(
                f"cannot keep idle CPUs awake ({CPU_LATENCY_QOS}: {e.strerror}): on an idle machine wake-ups may add to timings"
            )
            return
        try:
            os.write(fd, struct.pack("i", 0))
        except OSError as e:
            os.close(fd)
            self._say(f"cannot keep idle CPUs awake ({CPU_LATENCY_QOS}: {e.strerror})")
            return
        self._qos_fd = fd

    # --- building --------------------------------------------------------------------------------

    def _info(self, host: str) -> HostInfo:
        try:
            return self.hosts[host]
        except KeyError:
            raise NetlabError(
                f"unknown host {host!r} (or the lab is not up); hosts: {', '.join(self.hosts)}"
            ) from None

    def _add_namespace(self, name: str) -> str:
        ns = f"{self.run_id}.{name}"
        _ip("netns", "add", ns)
        self._created.append(ns)
        _ip("-n", ns, "link", "set", "lo", "up")
        return ns

    def _choose_mechanism(self, probe_ns: str) -> Mechanism:
        works, why = netem_available(probe_ns)
        if self._want == "netem" and not works:
            raise NetlabError(f"mechanism netem was asked for but this kernel has none ({why})")
        if self._want == "userspace" or not works:
            if not (self._link_bin.is_file() and os.access(self._link_bin, os.X_OK)):
                raise NetlabError(
                    f"the user-space link needs the delay-echo-link binary, not found at {self._link_bin}: "
                    "run `make build` or set DELAY_ECHO_LINK_BIN"
                )
            if not works:
                self._netem_note = why
            return "userspace"
        return "netem"

    def _mechanism_text(self) -> str:
        if self.mechanism == "netem":
            return "tc netem"
        note = f"; no netem: {self._netem_note}" if self._netem_note else " (asked for)"
        return "the user-space link (delay-echo-link)" + note

    def _wire(self, k: int) -> str:
        """The bridge address of link k's wire namespace (userspace)."""
        return f"{WIRE_NET}.{k + 2}"

    def _route_from(self, i: int, a: str) -> None:
        ns = self.hosts[a].namespace
        for j, b in enumerate(self.topology.hosts):
            if j == i:
                continue
            link = self.topology.link(a, b.name)
            if self.mechanism == "userspace" and link is not None:
                # Through the link's wire; from the bridge address, since the wire holds a's own
                # address too (it listens there for b's connections to a).
                via = self._wire(self.topology.links.index(link))
                _ip("-n", ns, "route", "add", f"{HOST_NET}.{j + 2}/32", "via", via)
            else:
                _ip(
                    "-n", ns, "route", "add", f"{HOST_NET}.{j + 2}/32",
                    "via", f"{TRANSPORT_NET}.{j + 2}", "src", f"{HOST_NET}.{i + 2}",
                )  # fmt: skip

    def _shape(self, i: int, a: str) -> None:
        """netem: one htb class per linked peer on a's veth, holding the a->peer delay."""
        ns = self.hosts[a].namespace
        peers = [
            (j, b)
            for j, b in enumerate(self.topology.hosts)
            if j != i and self.topology.link(a, b.name)
        ]
        if not peers:
            return
        _tc(ns, "qdisc", "add", "dev", "eth0", "root", "handle", "1:", "htb", "default", "1")
        _tc(
            ns,
            "class",
            "add",
            "dev",
            "eth0",
            "parent",
            "1:",
            "classid",
            "1:1",
            "htb",
            "rate",
            "10gbit",
        )
        for j, b in peers:
            link = self.topology.link(a, b.name)
            assert link is not None
            cls = f"{10 + j}"
            netem = ["delay", f"{link.one_way_ms(a, b.name)}ms"]
            if link.jitter_ms:
                netem.append(f"{link.jitter_ms}ms")
            _tc(
                ns,
                "class",
                "add",
                "dev",
                "eth0",
                "parent",
                "1:",
                "classid",
                f"1:{cls}",
                "htb",
                "rate",
                "10gbit",
            )
            _tc(
                ns,
                "qdisc",
                "add",
                "dev",
                "eth0",
                "parent",
                f"1:{cls}",
                "handle",
                f"{cls}:",
                "netem",
                *netem,
            )
            for dst in (f"{HOST_NET}.{j + 2}", f"{TRANSPORT_NET}.{j + 2}"):
                _tc(
                    ns, "filter", "add", "dev", "eth0", "parent", "1:", "protocol", "ip", "prio", "1",
                    "u32", "match", "ip", "dst", f"{dst}/32", "flowid", f"1:{cls}",
                )  # fmt: skip

    def _start_links(self, switch: str) -> None:
        """userspace: a wire namespace per link, with a link process per direction whose far
        end serves ports."""
        assert self.log_dir is not None
        starting = []
        for k, link in enumerate(self.topology.links):
            wire = self._add_namespace(f"{link.a}={link.b}")
            _plug(switch, f"w{k}", wire, f"{self._wire(k)}/16")
            for src, dst in ((link.a, link.b), (link.b, link.a)):
                far = self.hosts[dst]
                _ip("-n", wire, "addr", "add", f"{far.address}/32", "dev", "lo")
                if not far.ports:
                    continue
                routes = ",".join(f"{far.address}:{p}={far.transport}:{p}" for p in far.ports)
                argv = [
                    str(self._link_bin), "--route", routes,
                    "--delay", f"{link.one_way_ms(src, dst)}ms",
                    "--return-delay", f"{link.one_way_ms(dst, src)}ms",
                    "--jitter", f"{link.jitter_ms}ms",
                ]  # fmt: skip
                label = f"link-{src}-to-{dst}"
                control = self.log_dir / f"{label}.control"
                argv += ["--control", str(control)]
                link_proc = self._spawn(
                    wire, argv, label, realtime=self._realtime_links, ready=LogLine(LINK_READY)
                )
                self.link_controls.setdefault(k, []).append((link_proc, control))
                starting.append((link_proc, f"link {src} -> {dst}"))
        for link_proc, what in starting:
            self._await(link_proc, what)

    # --- signals ---------------------------------------------------------------------------------

    def _trap_signals(self) -> None:
        """SIGTERM and SIGHUP become KeyboardInterrupt while the lab is up, so `with` unwinds and
        removes everything, as it does on Ctrl-C (the default action would just exit)."""
        if threading.current_thread() is not threading.main_thread():
            return

        def interrupt(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

        for s in (signal.SIGTERM, signal.SIGHUP):
            self._old_handlers[s] = signal.signal(s, interrupt)

    def _restore_signals(self) -> None:
        for s, h in self._old_handlers.items():
            signal.signal(s, h)
        self._old_handlers.clear()


def hosts_env(lab: Lab) -> Iterator[tuple[str, str]]:
    """NETLAB_NS_<HOST> and NETLAB_ADDR_<HOST> for each host, for commands run beside the lab."""
    for h in lab.hosts.values():
        key = h.name.upper().replace("-", "_")
        yield f"NETLAB_NS_{key}", h.namespace
        yield f"NETLAB_ADDR_{key}", h.address
