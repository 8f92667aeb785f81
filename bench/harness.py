"""`make bench`: measure delay-echo beside two reference servers (go-sleep, nginx-echo) and the
floor of its own stack (hyper-floor, bench/hyper_floor.rs).

Each scenario runs every server in alternation (the order rotates each round, so a slow
minute on the shared machine does not always fall on the same server), each run on a freshly
started server pinned to one core with the load generator on the other, bounded in time and
against 127.0.0.1 only. Writes <out>/<UTC>.md, <out>/latest.md and the raw numbers under
<out>/raw/<UTC>/, and prints the Markdown. Timings are not pass/fail: the exit status is 0
whatever the verdicts, and non-zero only when the harness itself could not measure.

    python -m bench                          # full run (8 to 10 minutes)
    python -m bench --quick                  # every scenario and server for a second or two
    python -m bench --servers go-sleep,nginx-echo --scenarios S0,S3
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

from bench import coldstart, loadgen, procs, report
from bench.procs import BenchError, ServerSpec
from bench.results import (
    ClosedRun,
    ClosedSeries,
    ColdStart,
    Idle,
    Measured,
    Meta,
    OpenRun,
    OpenSeries,
    Results,
    to_json,
)
from loadtests.core import tools as core_tools

REPO = core_tools.REPO
SCENARIOS = ["S0", "S1", "S2", "S3", "S4"]
# The delay S3's first and second requests ask delay-echo for (the issue's `?delay=20ms`).
FIRST_DELAY_MS = 20
# delay-echo's admission limit for the benchmark: on (as users run it) but above the 10,000
# connections of S2, so nothing is rejected and the figures measure serving, not shedding.
DE_MAX_CONCURRENCY = 20000
DE_MAX_CONNECTIONS = 20000

Run = TypeVar("Run", bound=Measured)


@dataclass(frozen=True)
class Profile:
    rounds: int
    s0_conns: int
    s0_seconds: int
    s0_warm: int
    s1_rates: tuple[int, ...]
    s1_seconds: float
    s1_warm: float
    s2_conns: int
    s2_seconds: int
    s2_warm: int
    s3_starts: int
    s4_idle_s: float


FULL = Profile(
    rounds=2,
    s0_conns=64,
    s0_seconds=10,
    s0_warm=2,
    s1_rates=(1000, 4000, 8000),
    s1_seconds=10,
    s1_warm=2,
    s2_conns=10000,
    s2_seconds=15,
    s2_warm=2,
    s3_starts=20,
    s4_idle_s=1.0,
)
# Seconds per run: enough to exercise every code path (start, warm-up, load, /proc readings,
# parsing, report) so the harness cannot rot, not to produce meaningful figures.
QUICK = Profile(
    rounds=1,
    s0_conns=64,
    s0_seconds=1,
    s0_warm=0,
    s1_rates=(1000, 4000, 8000),
    s1_seconds=1.0,
    s1_warm=0.5,
    s2_conns=2000,
    s2_seconds=2,
    s2_warm=0,
    s3_starts=3,
    s4_idle_s=1.0,
)


class Bench:
    def __init__(self, args: argparse.Namespace, profile: Profile, raw_dir: Path):
        self.args = args
        self.p = profile
        self.raw = raw_dir
        self.next_port = args.base_port
        self.foreign_cpu: list[float] = []  # share of the server core used by others, per run
        self.retry_spent_s = 0.0  # time spent on repeats, bounded by --retry-budget
        # What the servers' start scripts left behind; kept until the run ends, since S3
        # re-executes a reference server from the configuration its start script wrote.
        self.leftovers: set[Path] = set()

    # --- servers ---------------------------------------------------------------------------

    def port(self) -> int:
        """A fresh port per server start: a server never inherits the last one's TIME_WAITs."""
        while True:
            port = self.next_port
            self.next_port += 1
            if self.next_port > self.args.base_port + 500:
                raise BenchError(
                    f"no free port in {self.args.base_port}..{self.args.base_port + 500}; pick another --base-port"
                )
            if procs.port_is_free(port):
                return port

    def spec(self, name: str, port: int, delay_ms: int | None) -> ServerSpec:
        """The command for a server; delay_ms None means the server's own default (80 ms)."""
        reference = self.args.reference
        if name == "delay-echo":
            argv = [
                str(self.args.binary),
                "--listen",
                f"127.0.0.1:{port}",
                "--max-concurrency",
                str(DE_MAX_CONCURRENCY),
                "--max-connections",
                str(DE_MAX_CONNECTIONS),
            ]
            if delay_ms is not None:
                argv += ["--delay", "0" if delay_ms == 0 else f"{delay_ms}ms"]
            return ServerSpec(name, argv, {"RUST_LOG": "warn"})
        env = {"PORT": str(port), "DELAY_MS": str(80 if delay_ms is None else delay_ms)}
        if not any(k in os.environ for k in ("GOCACHE", "XDG_CACHE_HOME", "HOME")):
            env["GOCACHE"] = str(
                REPO / ".tools" / "go-cache"
            )  # go build refuses to run without one
        if name == "hyper-floor":
            return ServerSpec(name, [str(self.args.floor_binary)], env)
        if name == "go-sleep":
            return ServerSpec(name, [str(reference / "go-sleep" / "start.sh")], env)
        if name == "nginx-echo":
            return ServerSpec(
                name,
                [str(reference / "nginx-echo" / "start.sh"), "1"],
                env,
                count_children=True,
                leaves=(Path(f"/tmp/bench-nginx-{port}"),),
            )
        raise BenchError(f"unknown server {name!r}; known: {', '.join(report.SERVERS)}")

    def start(self, name: str, delay_ms: int | None) -> procs.Server:
        port = self.port()
        spec = self.spec(name, port, delay_ms)
        self.leftovers.update(spec.leaves)
        # The first go-sleep start compiles it; later starts take milliseconds.
        return procs.start_server(
            spec,
            port,
            self.args.server_cpu,
            self.raw / "logs",
            ready_timeout=300,
        )

    def clean_up(self) -> None:
        for path in self.leftovers:
            shutil.rmtree(path, ignore_errors=True)
        self.leftovers.clear()

    def rotation(self, r: int) -> list[str]:
        s = self.args.servers
        return s[r % len(s) :] + s[: r % len(s)]

    def core_busy(self) -> float:
        """Busy seconds of the server core so far (from /proc/stat, all processes)."""
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith(f"cpu{self.args.server_cpu} "):
                f = [int(x) for x in line.split()[1:]]
                # user nice system idle iowait irq softirq steal: all but idle and iowait.
                return (sum(f[:8]) - f[3] - f[4]) / procs.CLK_TCK
        return 0.0

    def foreign(self, server: procs.Server, busy0: float, cpu0: float, t0: float) -> float:
        """Percent of the server core used by anything but the server during a run: noise."""
        elapsed = time.monotonic() - t0
        others = (self.core_busy() - busy0) - (server.cpu_seconds() - cpu0)
        pct = max(0.0, 100 * others / elapsed) if elapsed > 0 else 0.0
        self.foreign_cpu.append(pct)
        return pct

    def profiled(self, server: procs.Server, tag: str) -> contextlib.AbstractContextManager[None]:
        """perf on delay-echo's and hyper-floor's measured runs when --perf is given (the floor's
        profile is what delay-echo's is read against); a no-op otherwise."""
        enabled = self.args.perf and server.spec.name in ("delay-echo", "hyper-floor")
        return procs.perf_profile(server.pid, self.raw / tag, self.args.load_cpu, enabled)

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/"

    def log(self, msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    # --- scenarios -------------------------------------------------------------------------

    def quietest(self, measure: Callable[[str], Run], tag: str) -> Run:
        """Run `measure(tag)`; while other work took more than --max-noise of the server core,
        measure again on a fresh server (up to --retries times, within the time budget) and keep
        the quietest attempt. For the saturating runs (S0, S2), where a shared core cuts the
        figures directly. Every attempt's files stay in the raw folder."""
        attempts = [measure(tag)]
        while (
            attempts[-1].foreign_cpu_pct > self.args.max_noise
            and len(attempts) <= self.args.retries
            and self.retry_spent_s < self.args.retry_budget_s
        ):
            self.log(
                f"{tag}: other work took {attempts[-1].foreign_cpu_pct:.0f} % of the server core; measuring again"
            )
            t0 = time.monotonic()
            attempts.append(measure(f"{tag}-a{len(attempts) + 1}"))
            self.retry_spent_s += time.monotonic() - t0
        best = min(attempts, key=lambda run: run.foreign_cpu_pct)
        best.attempts = len(attempts)
        best.attempts_foreign_cpu_pct = [round(a.foreign_cpu_pct, 1) for a in attempts]
        return best

    def measured(self, server: procs.Server, tag: str, load: Callable[[], Run]) -> Run:
        """Runs `load()` (the measured run) with the server's CPU time, the other work on its core
        and the load average taken around it, profiled when --perf is on."""
        cpu0, busy0, t0, load1 = (
            server.cpu_seconds(),
            self.core_busy(),
            time.monotonic(),
            os.getloadavg()[0],
        )
        with self.profiled(server, tag):
            run = load()
        run.server_cpu_s = server.cpu_seconds() - cpu0
        run.threads = server.threads()
        run.server_cpus = server.cpus()
        run.load1 = load1
        run.foreign_cpu_pct = self.foreign(server, busy0, cpu0, t0)
        return run

    def saturated_rounds(
        self, prefix: str, run_one: Callable[[str, str], ClosedRun]
    ) -> dict[str, list[ClosedRun]]:
        """Every round, every server in rotation, each run repeated while noisy (quietest kept)."""
        out: dict[str, list[ClosedRun]] = {s: [] for s in self.args.servers}
        for r in range(self.p.rounds):
            for name in self.rotation(r):
                out[name].append(self.quietest(partial(run_one, name), f"{prefix}-{name}-r{r}"))
        return out

    def s0_run(self, name: str, tag: str) -> ClosedRun:
        server = self.start(name, 0)
        try:
            url = self.url(server.port)
            if self.p.s0_warm:
                loadgen.run_wrk(
                    url,
                    self.p.s0_conns,
                    self.p.s0_warm,
                    self.args.load_cpu,
                    self.raw / f"{tag}-warm.txt",
                )
            run = self.measured(
                server,
                tag,
                lambda: loadgen.run_wrk(
                    url,
                    self.p.s0_conns,
                    self.p.s0_seconds,
                    self.args.load_cpu,
                    self.raw / f"{tag}.txt",
                ),
            )
            if run.requests and run.server_cpu_s is not None:
                run.cpu_us_per_req = run.server_cpu_s / run.requests * 1e6
        finally:
            server.stop()
        self.log(
            f"S0 {tag}: {run.rps:.0f} req/s, {run.cpu_us_per_req or 0:.2f} µs CPU/req, {run.errors} errors, "
            f"other work {run.foreign_cpu_pct:.0f} %"
        )
        return run

    def s0(self) -> dict[str, ClosedSeries]:
        return closed_series(self.saturated_rounds("s0", self.s0_run))

    def s1_run(self, name: str, rate: int, delay_ms: int, tag: str) -> OpenRun:
        server = self.start(name, delay_ms)
        try:
            # Connections sized for 80 ms in every run, the floor's too, so the client does the
            # same work in all of them.
            load = loadgen.OpenLoad(
                url=self.url(server.port),
                rate=rate,
                seconds=self.p.s1_seconds,
                warmup_s=self.p.s1_warm,
                delay_s=0.080,
                cpu=self.args.load_cpu,
                out_dir=self.raw,
                tag=tag,
            )
            run = self.measured(
                server,
                tag,
                lambda: loadgen.run_open(self.args.open_client, self.open_binary(), load),
            )
        finally:
            server.stop()
        self.log(
            f"S1 {tag}: min {run.min_ms:.3f} p50 {run.p50_ms:.2f} p99 {run.p99_ms:.2f} ms, "
            f"{run.answers} answers, {run.errors + run.non_200} errors, other work {run.foreign_cpu_pct:.0f} %"
        )
        return run

    def open_binary(self) -> str:
        return str(self.args.oha if self.args.open_client == "oha" else self.args.h2load)

    def s1(self) -> dict[str, dict[str, OpenSeries]]:
        out = {}
        for rate in self.p.s1_rates:
            per: dict[str, list[OpenRun]] = {s: [] for s in self.args.servers}
            for r in range(self.p.rounds):
                for name in self.rotation(r):
                    # Not repeated when noisy: at these rates the server idles most of the time,
                    # so others' use of its core says little about its latency, and a repeat
                    # would spend the time budget the saturated runs of S0 and S2 need.
                    per[name].append(self.s1_run(name, rate, 80, f"s1-{rate}-{name}-r{r}"))
            if "nginx-echo" in self.args.servers:
                # What the client and the kernel add on their own at this rate: nginx-echo with
                # no delay at all.
                per[report.FLOOR] = [self.s1_run("nginx-echo", rate, 0, f"s1-{rate}-floor")]
            out[str(rate)] = {
                name: OpenSeries(runs=runs, summary=report.summarize_open(runs))
                for name, runs in per.items()
            }
        return out

    def s2_run(self, name: str, delay_ms: int, tag: str) -> ClosedRun:
        conns = self.p.s2_conns
        server = self.start(name, delay_ms)
        seen: dict[str, int] = {}
        try:
            url = self.url(server.port)
            backlog = procs.listen_backlog(server.port)
            if self.p.s2_warm:
                loadgen.run_wrk(
                    url, conns, self.p.s2_warm, self.args.load_cpu, self.raw / f"{tag}-warm.txt"
                )
            run = self.measured(
                server,
                tag,
                lambda: loadgen.run_wrk(
                    url,
                    conns,
                    self.p.s2_seconds,
                    self.args.load_cpu,
                    self.raw / f"{tag}.txt",
                    during=partial(count_established, server.port, seen),
                ),
            )
            run.peak_rss_kib = server.hwm_kib()
            run.established = seen.get("n")
            run.backlog = backlog
        finally:
            server.stop()
        self.log(
            f"S2 {tag}: {run.rps:.0f} req/s, p99 {run.p99_ms:.1f} ms, peak RSS {run.peak_rss_kib / 1024:.1f} MiB, "
            f"{run.established} connections seen, backlog {backlog}, {run.errors} errors, "
            f"other work {run.foreign_cpu_pct:.0f} %"
        )
        return run

    def s2(self) -> dict[str, ClosedSeries]:
        out = self.saturated_rounds("s2", lambda name, tag: self.s2_run(name, 80, tag))
        if "nginx-echo" in self.args.servers:
            # The most one wrk thread drives through this many connections when the server
            # does not wait at all: the ceiling any server's req/s at 80 ms is measured against.
            out[report.FLOOR] = [
                self.quietest(lambda tag: self.s2_run("nginx-echo", 0, tag), "s2-ceiling")
            ]
        return closed_series(out)

    def exec_form(self, name: str) -> tuple[list[str], dict[str, str], int]:
        """The exact command a server runs as (what its start script execs) and its port.

        Reference servers run with delay 0 here: they have no /readyz of their own and answer
        every path, so any delay would be added to their start time.
        """
        if name == "delay-echo":
            port = self.port()
            spec = self.spec(name, port, None)
            return spec.argv, dict(os.environ, **spec.env), port
        server = self.start(name, 0)
        try:
            argv, env = coldstart.exec_command_of(server.pid), coldstart.environ_of(server.pid)
        finally:
            server.stop()
        coldstart.wait_port_closed(server.port)
        return argv, env, server.port

    def s3(self) -> dict[str, ColdStart]:
        out = {}
        forms = {name: self.exec_form(name) for name in self.args.servers}
        starts: dict[str, list[coldstart.Start]] = {name: [] for name in self.args.servers}
        for i in range(self.p.s3_starts):
            for name in self.rotation(i):
                argv, env, port = forms[name]
                # Only delay-echo reads a delay from the request (and says how long it slept).
                path = f"/?delay={FIRST_DELAY_MS}ms" if name == "delay-echo" else "/"
                starts[name].append(
                    coldstart.time_to_ready(argv, env, port, self.args.server_cpu, path)
                )
                coldstart.wait_port_closed(port)
        for name, runs in starts.items():
            ms = [r.ready_ms for r in runs]
            first = [r.first.round_trip_ms for r in runs]
            second = [r.second.round_trip_ms for r in runs]
            slept = [
                (r.first.sleep_ms, r.second.sleep_ms)
                for r in runs
                if r.first.sleep_ms is not None and r.second.sleep_ms is not None
            ]
            out[name] = ColdStart(
                starts_ms=ms,
                median_ms=report.median(ms),
                min_ms=min(ms),
                max_ms=max(ms),
                argv=forms[name][0],
                first_ms=first,
                second_ms=second,
                first_sleep_ms=[a for a, _ in slept],
                second_sleep_ms=[b for _, b in slept],
                first_later_ms=report.median(
                    [r.first.round_trip_ms - r.second.round_trip_ms for r in runs]
                ),
                first_overshoot_ms=report.median([a - FIRST_DELAY_MS for a, _ in slept]),
                second_overshoot_ms=report.median([b - FIRST_DELAY_MS for _, b in slept]),
            )
            self.log(
                f"S3 {name}: median {report.fmt(out[name].median_ms, '.2f')} ms over {len(ms)} "
                f"starts; first request later than the second by "
                f"{report.fmt(out[name].first_later_ms, '.3f')} ms (median)"
            )
        return out

    def s4(self) -> dict[str, Idle]:
        out = {}
        for name in self.args.servers:
            server = self.start(name, None)
            try:
                time.sleep(self.p.s4_idle_s)
                exe = os.readlink(f"/proc/{server.pid}/exe")
                out[name] = Idle(
                    idle_rss_kib=server.rss_kib(),
                    threads=server.threads(),
                    server_cpus=server.cpus(),
                    binary=shown_path(Path(exe)),
                    binary_bytes=os.path.getsize(exe),
                )
            finally:
                server.stop()
            self.log(
                f"S4 {name}: idle RSS {out[name].idle_rss_kib / 1024:.2f} MiB, executable {out[name].binary_bytes / 1e6:.2f} MB"
            )
        return out


def count_established(port: int, into: dict[str, int]) -> None:
    into["n"] = procs.established(port)


def closed_series(runs: dict[str, list[ClosedRun]]) -> dict[str, ClosedSeries]:
    return {
        name: ClosedSeries(runs=r, summary=report.summarize_closed(r)) for name, r in runs.items()
    }


# --- environment -----------------------------------------------------------------------------


def raise_nofile(need: int) -> int:
    """Raise the open-file limit to what S2 needs in each process.

    The limit is per process and inherited: wrk and the server each hold one end of every
    connection, so each needs the connection count plus a margin for its other files.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return need
        except (ValueError, OSError):
            raise BenchError(
                f"the open-file limit is {hard} and cannot be raised here; S2 needs {need} per process "
                f"(its connections plus a margin); raise `ulimit -Hn`"
            ) from None
    target = hard if hard != resource.RLIM_INFINITY else max(soft, need)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def sh(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=30)
        return (r.stdout + r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        ),
        0,
    )
    return f"{os.cpu_count()} × {model}, {mem / 1024 / 1024:.0f} GiB, Linux {platform.release()}"


def tools(args: argparse.Namespace) -> str:
    def first(text: str) -> str:
        return text.splitlines()[0] if text else "?"

    parts = [first(sh(["wrk", "-v"])).split(" [")[0]]
    if "S1" in args.scenarios:
        binary = args.oha if args.open_client == "oha" else args.h2load
        parts.append(first(sh([str(binary), "--version"])))
    if "go-sleep" in args.servers:
        parts.append(first(sh(["go", "version"])).removeprefix("go version "))
    if "nginx-echo" in args.servers:
        parts.append(first(sh(["nginx", "-v"])).removeprefix("nginx version: "))
    if "delay-echo" in args.servers:
        parts.append(first(sh([str(args.binary), "--version"])))
    return " · ".join(parts)


def shown_path(path: Path) -> str:
    """A path relative to the repository when inside it (so committed reports hold no host paths)."""
    path = path.resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def git_rev() -> str:
    rev = sh(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = sh(
        [
            "git",
            "-C",
            str(REPO),
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            "src",
            "Cargo.toml",
            "Cargo.lock",
        ]
    )
    return rev + ("+dirty" if dirty else "")


def preflight(args: argparse.Namespace) -> None:
    """Fail early, with the fix, on anything that would waste a run."""
    need = {"wrk": "apt-get install wrk (make deps)", "ss": "apt-get install iproute2"}
    if "S1" in args.scenarios and args.open_client == "oha" and not Path(args.oha).exists():
        raise BenchError(
            f"oha not found at {args.oha}; `make bench-tools` installs the pinned version under .tools/"
        )
    if "S1" in args.scenarios and args.open_client == "h2load":
        need[str(args.h2load)] = "apt-get install nghttp2-client (make deps)"
    if "go-sleep" in args.servers:
        need["go"] = "apt-get install golang-go (make deps)"
    if "nginx-echo" in args.servers:
        need["nginx"] = "apt-get install nginx libnginx-mod-http-echo (make deps)"
    for tool, fix in need.items():
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is not installed; {fix}")
    if (
        "nginx-echo" in args.servers
        and not Path("/usr/lib/nginx/modules/ngx_http_echo_module.so").exists()
    ):
        raise BenchError(
            "nginx's echo module is missing; apt-get install libnginx-mod-http-echo (make deps)"
        )
    for name in ("go-sleep", "nginx-echo"):
        if name in args.servers and not (args.reference / name / "start.sh").exists():
            raise BenchError(
                f"reference server {name} not found under {args.reference}; pass --reference DIR"
                " (a folder holding go-sleep/ and nginx-echo/, as bench/reference does)"
            )
    if "hyper-floor" in args.servers and not os.access(args.floor_binary, os.X_OK):
        raise BenchError(
            f"hyper-floor not found at {args.floor_binary}; `cargo build --release --example hyper-floor` builds it"
        )
    if "delay-echo" in args.servers:
        if not os.access(args.binary, os.X_OK):
            raise BenchError(
                f"delay-echo binary not found at {args.binary}; `make build` builds it"
            )
        help_text = sh([str(args.binary), "--help"])
        for flag in ("--listen", "--delay", "--max-concurrency", "--max-connections"):
            if flag not in help_text:
                raise BenchError(
                    f"{args.binary} --help does not list {flag}; the harness starts delay-echo with it (bench/harness.py spec())"
                )
    cpus = os.sched_getaffinity(0)
    if args.server_cpu == args.load_cpu or not {args.server_cpu, args.load_cpu} <= cpus:
        raise BenchError(
            f"--server-cpu {args.server_cpu} and --load-cpu {args.load_cpu} must be two different CPUs of {sorted(cpus)}"
        )


def default_oha() -> Path:
    """The oha that `make bench-tools` installed (.tools/oha-<version>/bin/oha), newest first."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(
            int(x) for x in path.parent.parent.name.removeprefix("oha-").split(".") if x.isdigit()
        )

    found = sorted((REPO / ".tools").glob("oha-*/bin/oha"), key=version)
    return found[-1] if found else REPO / ".tools" / "oha-1.16.0" / "bin" / "oha"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="a second or two per run: checks the harness, figures are not meaningful",
    )
    ap.add_argument(
        "--out",
        type=Path,
        help="results folder (default bench/results, quick: bench/results/raw/quick)",
    )
    ap.add_argument(
        "--servers", default=",".join(report.SERVERS), help="comma-separated subset of %(default)s"
    )
    ap.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated subset of %(default)s"
    )
    ap.add_argument("--rounds", type=int, help="rounds per scenario (default 2, quick 1)")
    ap.add_argument(
        "--binary",
        type=Path,
        default=core_tools.delay_echo().path,
        help="delay-echo (default $DELAY_ECHO_BIN, else the release build)",
    )
    ap.add_argument(
        "--floor-binary",
        type=Path,
        default=REPO / "target" / "release" / "examples" / "hyper-floor",
        help="the stack floor (cargo build --release --example hyper-floor; default %(default)s)",
    )
    ap.add_argument(
        "--reference",
        type=Path,
        default=REPO / "bench" / "reference",
        help="the reference servers go-sleep/ and nginx-echo/ (default %(default)s)",
    )
    ap.add_argument(
        "--oha",
        type=Path,
        default=default_oha(),
        help="oha binary (default: the newest under .tools/, where make puts it)",
    )
    ap.add_argument(
        "--open-client",
        choices=loadgen.OPEN_CLIENTS,
        help="S1's open-model load generator (default oha; quick: h2load, from Debian's nghttp2-client)",
    )
    ap.add_argument("--h2load", default="h2load", help="h2load binary (default: the one on PATH)")
    ap.add_argument(
        "--perf",
        action="store_true",
        help="profile delay-echo's and hyper-floor's measured runs with perf record -g (reports under the raw folder; adds overhead)",
    )
    ap.add_argument(
        "--max-noise",
        type=float,
        default=None,
        help="measure a run again when other work took more than this %% of the server core (default 20, quick: off)",
    )
    ap.add_argument(
        "--retries", type=int, default=2, help="most repeats of a noisy run (default %(default)s)"
    )
    ap.add_argument(
        "--retry-budget",
        dest="retry_budget_s",
        type=float,
        default=90,
        help="seconds all repeats together may take, so a full run stays near 10 minutes (default %(default)s)",
    )
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--load-cpu", type=int, default=1)
    ap.add_argument(
        "--base-port",
        type=int,
        default=18100,
        help="first of the ports servers are started on (default %(default)s)",
    )
    args = ap.parse_args(argv)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    args.scenarios = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
    for s in args.servers:
        if s not in report.SERVERS:
            ap.error(f"unknown server {s!r}; allowed: {', '.join(report.SERVERS)}")
    for s in args.scenarios:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s!r}; allowed: {', '.join(SCENARIOS)}")
    if args.open_client is None:
        args.open_client = "h2load" if args.quick else "oha"
    if args.max_noise is None:
        args.max_noise = 1000.0 if args.quick else 20.0
    if args.out is None:
        args.out = REPO / "bench" / "results" / ("raw/quick" if args.quick else "")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = QUICK if args.quick else FULL
    if args.rounds:
        profile = replace(profile, rounds=args.rounds)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    raw_dir = args.out / "raw" / stamp
    bench: Bench | None = None
    try:
        preflight(args)
        raw_dir.mkdir(parents=True, exist_ok=True)
        # The harness itself (polling, /proc reads) stays off the server's core.
        os.sched_setaffinity(0, {args.load_cpu})
        nofile = raise_nofile(profile.s2_conns + 1000 if "S2" in args.scenarios else 4096)
        bench = Bench(args, profile, raw_dir)
        load1 = os.getloadavg()[0]
        if load1 > 1.0:
            bench.log(
                f"load average is {load1:.2f}: other work shares the cores, expect noisy figures (the report records it)"
            )
        meta = Meta(
            started_utc=started.strftime("%Y-%m-%d %H:%M UTC"),
            mode="quick" if args.quick else "full",
            git=git_rev(),
            machine=machine(),
            tools=tools(args),
            servers=args.servers,
            scenarios=args.scenarios,
            profile={**asdict(profile), "s1_rates": list(profile.s1_rates)},
            server_cpu=args.server_cpu,
            load_cpu=args.load_cpu,
            nofile=nofile,
            perf=args.perf,
            max_noise_pct=args.max_noise,
            load_before=" ".join(f"{x:.2f}" for x in os.getloadavg()),
            raw_dir=shown_path(raw_dir),
            delay_echo_flags=f"`--listen 127.0.0.1:PORT --max-concurrency {DE_MAX_CONCURRENCY} "
            f"--max-connections {DE_MAX_CONNECTIONS}` (`--delay 0` in S0), RUST_LOG=warn",
            open_client=args.open_client,
        )
        results = Results(meta=meta)
        for scenario in SCENARIOS:
            if scenario in args.scenarios:
                bench.log(f"{scenario} …")
                setattr(results, scenario.lower(), getattr(bench, scenario.lower())())
        meta.load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
        meta.foreign_cpu_max_pct = max(bench.foreign_cpu) if bench.foreign_cpu else None
        meta.foreign_cpu_median_pct = report.median(bench.foreign_cpu)
        meta.seconds = round((datetime.now(UTC) - started).total_seconds())
        meta.targets = report.evaluate(results)
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    finally:
        if bench is not None:
            bench.clean_up()
    (raw_dir / "results.json").write_text(to_json(results))
    md = report.markdown(results)
    (args.out / f"{stamp}.md").write_text(md)
    (args.out / "latest.md").write_text(md)
    print(md)
    print(
        f"bench: wrote {shown_path(args.out / 'latest.md')} and {meta.raw_dir}/ in {meta.seconds} s",
        file=sys.stderr,
    )
    return 0
