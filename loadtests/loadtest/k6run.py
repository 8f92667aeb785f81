"""One k6 profile against a target, everything about the run kept in its own folder:

    <results>/<UTC start>-<profile>[-seg<i>of<n>]/
      raw.csv.gz      every sample, timestamps in ms
      records.jsonl.gz  one JSON line per request (loadtests/k6/lib/echo.js, RECORDS=1): what the
                      analysis reads, with raw.csv.gz's dropped_iterations when there were any
      summary.txt     k6's end-of-test summary as printed
      summary.json    the same, machine-readable (--summary-export)
      dashboard.html  k6's web-dashboard export (1 s resolution)
      options.json    the resolved k6 options (scenario, stages, VUs, thresholds) from `k6 inspect`
      run.json        loadtests/core/run.py RunMeta: profile, knobs, target, start/end, segment, …
      k6.log          k6's own log (stderr)

A run is an experiment record: the folder must say exactly what was run, so every knob comes from
the environment (loadtests/README.md) and is written back resolved, defaults included.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from loadtests.cloudview.offer import offer
from loadtests.core import tools
from loadtests.core.run import RunMeta, generator, git_state, utc_stamp
from loadtests.locust import runner as locust_runner

from .settings import Settings, UsageError

# k6's exit code when a threshold was crossed: for a spike study a finding, not a failed run.
THRESHOLDS_CROSSED = 99
# timeout(1)'s exit codes and the shell's 128 + signal: what callers of a bounded run have always read.
TIMED_OUT = 124
KILLED = 128 + signal.SIGKILL
# After MAX_RUN_TIME k6 gets SIGINT (it stops and still writes its outputs); KILL only after this.
KILL_AFTER = 30.0
# k6's console output: the record lines, compressed once k6 has exited (not by k6, so the gzip
# costs the generator nothing while it drives the load).
RECORDS = "records.jsonl"


def run(s: Settings, env: Mapping[str, str]) -> int:
    """The run; its exit code (k6's, 0 when k6 only crossed thresholds, 124 after MAX_RUN_TIME).
    UsageError, before any folder exists, when the profile refuses its knobs."""
    env = {**env, **s.service}
    if s.tool == "locust":
        return _locust(s, env)
    k6_env = {**env, "BASE_URL": s.target}
    options = inspect(s, k6_env)
    _wait_until(s)

    run_dir = s.results / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{s.profile}{s.folder_suffix}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "options.json").write_text(options)
    revision, dirty = git_state(tools.REPO)
    k6_version = _k6_version(s)
    started = utc_stamp(datetime.now(UTC))

    print(f"loadtest: {s.profile} → {s.target}; results in {run_dir}", flush=True)
    argv = [
        str(s.k6.path),
        "run",
        "--no-usage-report",
        "--quiet",
        "--out",
        f"csv={run_dir / 'raw.csv.gz'}",
        # The record lines go to their own file; raw, so that each is the JSON alone (this makes
        # k6's own log lines in k6.log bare messages too).
        "--log-format",
        "raw",
        "--console-output",
        str(run_dir / RECORDS),
        "--summary-export",
        str(run_dir / "summary.json"),
    ]
    if s.segment:
        argv += [
            "--execution-segment",
            s.segment.segment,
            "--execution-segment-sequence",
            s.segment.sequence,
        ]
    argv.append(str(s.script))
    rc = _k6(
        argv,
        {
            **k6_env,
            "RECORDS": "1",
            "K6_CSV_TIME_FORMAT": "unix_milli",
            "K6_WEB_DASHBOARD": "true",
            "K6_WEB_DASHBOARD_PORT": "-1",
            "K6_WEB_DASHBOARD_PERIOD": "1s",
            "K6_WEB_DASHBOARD_EXPORT": str(run_dir / "dashboard.html"),
        },
        run_dir,
        s.max_run_time,
    )
    ended = utc_stamp(datetime.now(UTC))
    _compress(run_dir / RECORDS)

    scenario: dict[str, Any] = next(iter((json.loads(options).get("scenarios") or {}).values()), {})
    meta = RunMeta(
        profile=s.profile,
        target=s.target,
        parameters={k: str(v) for k, v in (scenario.get("env") or {}).items()},
        service=s.service,
        segment=s.segment,
        start_utc=started,
        end_utc=ended,
        git_revision=revision,
        git_dirty=dirty,
        k6_version=k6_version,
        k6_path=str(s.k6.path),
        k6_exit_code=rc,
        dropped_iterations=_dropped(run_dir),
        generator=generator(),
    )
    meta.write(run_dir)
    (s.results / ".last").write_text(f"{run_dir}\n")

    if rc == TIMED_OUT and s.max_run_time is not None:
        print(
            f"loadtest: stopped after MAX_RUN_TIME={s.max_run_time:g}s, before the plan ended; "
            f"{run_dir} has what was recorded until then",
            file=sys.stderr,
        )
        return rc
    if rc not in (0, THRESHOLDS_CROSSED):
        print(
            f"loadtest: k6 exited {rc} (see {run_dir / 'k6.log'}); the folder keeps what was recorded",
            file=sys.stderr,
        )
        return rc
    if rc == THRESHOLDS_CROSSED:
        print("loadtest: thresholds crossed (the report shows when and for how long)")
    if meta.dropped_iterations:
        print(
            f"loadtest: {meta.dropped_iterations} iterations dropped: k6 had too few VUs to keep "
            "the planned rate (raise MAX_VUS or EXPECTED_LATENCY)"
        )
    print(f"loadtest: done: {run_dir}")
    if hint := offer(s.target, run_dir):
        print(hint)
    return 0


def inspect(s: Settings, env: Mapping[str, str]) -> str:
    """`k6 inspect`'s resolved options (options.json's text): the knobs validated by the profile
    itself before any time is spent on the run."""
    p = subprocess.run(
        [str(s.k6.path), "inspect", "--log-format=raw", "--include-system-env-vars", str(s.script)],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if p.returncode != 0:
        # The first line is the script's own message (e.g. PEAK="5OO" is not a number); the rest
        # is a stack.
        reason = next(
            (ln for ln in p.stderr.splitlines() if not ln.lstrip().startswith("at ")), ""
        ).removeprefix("Error: ")
        raise UsageError(
            f'profile "{s.profile}" refused its knobs: {reason or "k6 inspect failed"}'
        )
    return p.stdout


def _locust(s: Settings, env: dict[str, str]) -> int:
    """The same profile carried by locust (loadtests/locust), into the same kind of run folder."""
    given = {"PROFILE": s.profile, "TARGET": s.target, "RESULTS": str(s.results)}
    given["K6"] = str(s.k6.path)
    if s.max_run_time is not None:
        given["MAX_RUN_TIME"] = f"{s.max_run_time:g}"
    merged = {**env, **given}
    try:
        rc = locust_runner.run(locust_runner.settings_from(merged), merged)
    except locust_runner.UsageError as e:
        raise UsageError(str(e)) from None
    last = s.results / ".last"  # the runner names its run folder there, as the k6 run does
    if rc == 0 and last.exists() and (hint := offer(s.target, Path(last.read_text().strip()))):
        print(hint)
    return rc


def _wait_until(s: Settings) -> None:
    if s.start_at is None:
        return
    wait = (s.start_at - datetime.now(UTC)).total_seconds()
    if wait > 0:
        print(f"loadtest: waiting {wait:.0f}s until {s.start_at.isoformat()}", flush=True)
        time.sleep(wait)


def _compress(path: Path) -> None:
    """`path` → `path`.gz (gzip's default level), the plain file removed; nothing when k6 never
    wrote it."""
    if not path.exists():
        return
    with (
        path.open("rb") as src,
        gzip.open(path.with_name(path.name + ".gz"), "wb", compresslevel=6) as out,
    ):
        shutil.copyfileobj(src, out, 1 << 20)
    path.unlink()


def _k6_version(s: Settings) -> str:
    try:
        out = subprocess.run(
            [str(s.k6.path), "version"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.splitlines()[0] if out else ""


def _dropped(run_dir: Path) -> int:
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return 0
    count = summary.get("metrics", {}).get("dropped_iterations", {}).get("count", 0)
    return int(count)


def _tee(source: IO[bytes], path: Path, echo: IO[bytes]) -> threading.Thread:
    """Copies what k6 writes to `path` and to our own stream as it comes."""

    def copy() -> None:
        with path.open("wb") as out:
            while chunk := os.read(source.fileno(), 65536):
                out.write(chunk)
                echo.write(chunk)
                echo.flush()

    t = threading.Thread(target=copy, daemon=True)
    t.start()
    return t


def _k6(argv: list[str], env: dict[str, str], run_dir: Path, bound: float | None) -> int:
    """k6 run, its output teed into the folder. A Ctrl-C reaches k6 from the terminal, and k6
    stops the scenario and still writes its results: this process waits for that instead of
    dying first, so run.json is written too. After `bound` seconds k6 gets one SIGINT itself."""
    sys.stdout.flush()
    # A Python handler, not SIG_IGN: k6 must keep the default (exec resets handlers, not ignores).
    # Signal handlers belong to the main thread; elsewhere the caller's own handling stands.
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: None) if main else None
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    copies = [
        _tee(proc.stdout, run_dir / "summary.txt", sys.stdout.buffer),
        _tee(proc.stderr, run_dir / "k6.log", sys.stderr.buffer),
    ]
    try:
        try:
            rc = proc.wait(timeout=bound)
            if rc < 0:
                rc = 128 - rc
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=KILL_AFTER)
                rc = TIMED_OUT
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                rc = KILLED
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
        for t in copies:
            t.join(timeout=10)
    return rc
