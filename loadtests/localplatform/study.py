"""One study on the local platform: start it, drive k6 through HAProxy, stop everything, report.

The load is the loadtest (loadtests/loadtest, the one that loads a cloud target), pointed at HAProxy,
so the run folder is the usual one plus the platform's files: platform.jsonl, service.log (the
instances' own logs), haproxy.log and haproxy.cfg, and records.parquet (the instances' records,
loadtests/records). Whatever happens (k6 failing, an instance that
never starts, Ctrl-C, SIGTERM), every process the platform started is stopped by its PID before it
returns, and the event log is kept.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from loadtests.core.events import EventLog

from .config import Config
from .containers import ContainerError, ContainerRuntime
from .haproxy import HaproxyError
from .platform import Platform, PlatformError

# What `make loadtest-local` always spiked with; only for the spike profile (others have their own).
SPIKE_DEFAULTS = {"BASE_RATE": "40", "LEAD": "10s", "PEAK": "200", "HOLD": "20s", "TAIL": "10s"}
LOAD_DEFAULTS = {"EXPECTED_LATENCY": "1s", "TIMEOUT": "10s"}
PLATFORM_FILES = ("platform.jsonl", "service.log", "haproxy.log", "haproxy.cfg")


class Interrupted(Exception):
    """SIGINT or SIGTERM reached the platform."""


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def _last_run(results: Path) -> str | None:
    try:
        return (results / ".last").read_text().strip() or None
    except OSError:
        return None


def load_environment(cfg: Config, env: Mapping[str, str], target: str) -> dict[str, str]:
    out = dict(env)
    if cfg.profile == "spike":
        for k, v in SPIKE_DEFAULTS.items():
            out.setdefault(k, v)
    for k, v in LOAD_DEFAULTS.items():
        out.setdefault(k, v)
    out.update(
        PROFILE=cfg.profile,
        TARGET=target,
        RESULTS=str(cfg.results),
        MAX_RUN_TIME=str(cfg.max_run_time),
    )
    out["MAX_CONCURRENCY"] = str(cfg.concurrency)
    out.setdefault(
        "STUDY",
        f"local platform: {cfg.policy}, {cfg.bounds.min_instances}..{cfg.bounds.max_instances} instances of "
        f"delay-echo --max-concurrency {cfg.concurrency} --delay {cfg.delay}, cold start {cfg.cold_start.text}"
        + (f", each a container of {cfg.image}" if cfg.runtime == "container" else ""),
    )
    return out


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(PID, command name) of every process below `pid`, from /proc."""
    children: dict[int, list[tuple[int, str]]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # The name is in parentheses and may hold spaces; the parent PID is the 2nd field after it.
        name = text[text.index("(") + 1 : text.rindex(")")]
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append((int(stat.parent.name), name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child[0])
    return out


def _wait_load(proc: subprocess.Popen[bytes]) -> int:
    """Waits for the load; on an interrupt, stops k6 the way Ctrl-C would, so it still writes."""
    try:
        return proc.wait()
    except Interrupted:
        print("platform: interrupted; stopping k6 (it still writes what it has)", file=sys.stderr)
        # A second SIGINT would make k6 quit without its results: exactly one, to k6 itself.
        k6 = [pid for pid, name in _descendants(proc.pid) if name == "k6"]
        with contextlib.suppress(ProcessLookupError):
            for pid in k6:
                os.kill(pid, signal.SIGINT)
            if not k6:
                os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            for pid, _ in _descendants(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait()
        raise


def _records(run_dir: Path) -> int:
    """The instances' records (service.log) as the run folder's records.parquet; 0, or 1 when
    they could not be collected (the run and its report stand without them)."""
    # Imported here: DuckDB is only needed once the run is over.
    from loadtests.records.store import RecordsError, collect

    log = run_dir / "service.log"
    try:
        got = collect([log] if log.exists() else [], run_dir)
    except RecordsError as e:
        print(f"platform: no records.parquet: {e}", file=sys.stderr)
        return 1
    print(f"platform: wrote {got.records} records in {got.path}")
    return 0


def run(cfg: Config, env: Mapping[str, str], repo: Path, report: bool = True) -> int:
    if cfg.runtime == "process" and not cfg.delay_echo.is_file():
        print(
            f"platform: no delay-echo binary at {cfg.delay_echo}; run make build", file=sys.stderr
        )
        return 2
    if cfg.runtime == "container":
        try:
            ContainerRuntime(cfg.image).preflight()
        except ContainerError as e:
            print(f"platform: {e}", file=sys.stderr)
            return 2
    cfg.results.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=".platform-", dir=cfg.results))
    log = EventLog(workdir / "platform.jsonl")
    before = _last_run(cfg.results)
    previous = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    platform = Platform(cfg, workdir, log)
    rc = 1
    try:
        platform.start()
        print(
            f"platform: {cfg.policy} on {cfg.bounds.min_instances}..{cfg.bounds.max_instances} instances "
            f"({'containers' if cfg.runtime == 'container' else 'processes'}) behind HAProxy {platform.url}; cold start {cfg.cold_start.text}; "
            "events in platform.jsonl"
        )
        platform.mark_load_start()
        # A process in its own session, not a call: the platform's signal handlers stay in charge,
        # and an interrupt reaches k6 once (below) while the loadtest records the run.
        load = subprocess.Popen(
            [sys.executable, "-m", "loadtests.loadtest"],
            env=load_environment(cfg, env, platform.url),
            start_new_session=True,
        )
        rc = _wait_load(load)
        log.write("load_end", exit_code=rc)
    except (HaproxyError, PlatformError) as e:
        print(f"platform: {e}", file=sys.stderr)
        log.write("error", where="start", message=str(e))
        rc = 1
    except Interrupted as e:
        log.write("interrupted", signal=str(e))
        rc = 130
    finally:
        # Teardown must finish even if a second Ctrl-C arrives.
        for s in previous:
            signal.signal(s, signal.SIG_IGN)
        try:
            platform.shutdown()
        finally:
            log.close()
            for s, h in previous.items():
                signal.signal(s, h)
    after = _last_run(cfg.results)
    run_dir = Path(after) if after and after != before else None
    if run_dir is None:
        kept = cfg.results / f"platform-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-no-run"
        workdir.rename(kept)
        print(
            f"platform: no run folder was written; the platform's files are in {kept}",
            file=sys.stderr,
        )
        return rc or 1
    for name in PLATFORM_FILES:
        if (workdir / name).exists():
            shutil.move(str(workdir / name), run_dir / name)
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"platform: wrote {run_dir / 'platform.jsonl'}")
    collected = _records(run_dir)
    rc = rc or collected
    if report:
        # Imported here: the analysis brings pandas, DuckDB and matplotlib, which only a report needs.
        from loadtests.analysis import commands as analysis
        from loadtests.analysis.runs import RunError

        try:
            print(f"platform: wrote the report in {analysis.report([run_dir])}")
        except RunError as e:
            print(f"platform: no report: {e}", file=sys.stderr)
            rc = rc or 2
    return rc
