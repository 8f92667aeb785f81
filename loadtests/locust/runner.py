"""One profile with locust, into a run folder the analysis reads.

The profile is resolved by `k6 inspect` on the same script a k6 run uses, so the knobs, their
defaults and their validation are k6's; locust then carries that plan (see plan.py). The settings
come as environment variables (the flags of `delay-echo-locust` and `delay-echo-loadtest --tool
locust` are their twins): PROFILE, TARGET, LOCUST_WORKERS, LOCUST_EXTERNAL_WORKERS,
LOCUST_MASTER_BIND_PORT, MAX_RUN_TIME (default: the plan's length + 60 s), RESULTS, K6.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from loadtests.core import tools
from loadtests.core.plan import PlanError
from loadtests.core.run import RunMeta, generator, git_state, utc_stamp

from .plan import runnable, seconds

HERE = Path(__file__).resolve().parent
REPO = tools.REPO
K6_DIR = REPO / "loadtests" / "k6"
# The service knobs k6's echo.js forwards as query parameters (loadtests/k6/lib/echo.js FORWARDED).
FORWARDED = {
    "ECHO_DELAY": "delay",
    "ECHO_CPU": "cpu",
    "ECHO_STATUS": "status",
    "ECHO_SIZE": "size",
    "ECHO_SEED": "seed",
}


class UsageError(Exception):
    """Bad input: exit 2 with the message."""


@dataclass(frozen=True)
class Settings:
    profile: str
    target: str
    workers: int
    external_workers: int
    master_port: int
    results: Path
    k6: str
    max_run_time: float | None


def _int(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{name}={raw!r} is not a whole number; allowed: {low}..{high}") from None
    if not low <= value <= high:
        raise UsageError(f"{name}={value} is out of range; allowed: {low}..{high}")
    return value


def settings_from(env: dict[str, str]) -> Settings:
    profiles = sorted(p.stem for p in K6_DIR.glob("*.js"))
    profile = env.get("PROFILE", "")
    if profile not in profiles:
        raise UsageError(f"PROFILE={profile!r} is not a profile; allowed: {', '.join(profiles)}")
    target = (env.get("TARGET") or env.get("BASE_URL") or "").rstrip("/")
    if not target.startswith(("http://", "https://")) or "/" in target.split("://", 1)[1]:
        raise UsageError(
            f"TARGET={target!r} must be scheme://host[:port] (http or https) with no path; "
            "put the path in ECHO_PATH"
        )
    k6 = tools.k6(env)
    if not k6.exists():
        raise UsageError(
            f"no k6 at {k6}: locust runs resolve the profile with `k6 inspect` (make venv)"
        )
    max_run = env.get("MAX_RUN_TIME", "").strip()
    try:
        max_run_time = float(max_run) if max_run else None
    except ValueError:
        raise UsageError(f"MAX_RUN_TIME={max_run!r} is not a number of seconds") from None
    return Settings(
        profile=profile,
        target=target,
        workers=_int(env, "LOCUST_WORKERS", 0, 0, 64),
        external_workers=_int(env, "LOCUST_EXTERNAL_WORKERS", 0, 0, 1024),
        master_port=_int(env, "LOCUST_MASTER_BIND_PORT", 5557, 1, 65535),
        results=Path(env.get("RESULTS") or REPO / "loadtests" / "results"),
        k6=str(k6),
        max_run_time=max_run_time,
    )


def resolve_profile(s: Settings, env: dict[str, str]) -> dict:
    """k6's resolved options for the profile: the same knobs and validation as a k6 run."""
    p = subprocess.run(
        [
            s.k6,
            "inspect",
            "--log-format=raw",
            "--include-system-env-vars",
            str(K6_DIR / f"{s.profile}.js"),
        ],
        env={**env, "BASE_URL": s.target},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if p.returncode != 0:
        reason = next(
            (
                ln
                for ln in p.stderr.splitlines()
                if ln.strip() and not ln.lstrip().startswith("at ")
            ),
            "",
        )
        raise UsageError(
            f'profile "{s.profile}" refused its knobs: {reason.removeprefix("Error: ") or "k6 inspect failed"}'
        )
    options: dict = json.loads(p.stdout)
    return options


def request_path(knobs: dict[str, str]) -> str:
    path = knobs.get("ECHO_PATH") or "/"
    query = "&".join(
        f"{param}={quote(str(knobs[k]), safe='')}" for k, param in FORWARDED.items() if knobs.get(k)
    )
    if not query:
        return path
    return f"{path}{'&' if '?' in path else '?'}{query}"


def user_rate(knobs: dict[str, str]) -> float:
    """The most one user offers: one request per EXPECTED_LATENCY x VU_HEADROOM, k6's VU sizing."""
    expected = seconds(knobs.get("EXPECTED_LATENCY") or "150ms")
    headroom = float(knobs.get("VU_HEADROOM") or 2)
    return 1.0 / max(expected * headroom, 1e-3)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for p in procs:
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run(s: Settings, env: dict[str, str]) -> int:
    options = resolve_profile(s, env)
    try:
        plan = runnable(options)
    except PlanError as e:
        raise UsageError(str(e)) from None
    scenario: dict[str, Any] = next(iter((options.get("scenarios") or {}).values()), {})
    knobs: dict[str, str] = {k: str(v) for k, v in (scenario.get("env") or {}).items()}

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = s.results / f"{stamp}-{s.profile}-locust"
    run_dir.mkdir(parents=True, exist_ok=False)
    (run_dir / "options.json").write_text(json.dumps(options, indent=2) + "\n")

    locust = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py")]
    common = [
        "--host",
        s.target,
        "--echo-plan",
        json.dumps(plan.to_json()),
        "--echo-path",
        request_path(knobs),
        "--echo-user-rate",
        f"{user_rate(knobs):.6f}",
        "--echo-timeout",
        f"{seconds(knobs.get('TIMEOUT') or '30s'):.3f}",
    ]
    master = [
        *locust,
        *common,
        "--headless",
        "--only-summary",
        "--echo-samples",
        str(run_dir / "raw.csv.gz"),
        "--csv",
        str(run_dir / "locust"),
        "--html",
        str(run_dir / "locust.html"),
        "--stop-timeout",
        "0",
    ]
    total_workers = s.workers + s.external_workers
    if total_workers:
        master += [
            "--master",
            "--master-bind-host",
            "127.0.0.1" if not s.external_workers else "*",
            "--master-bind-port",
            str(s.master_port),
            "--expect-workers",
            str(total_workers),
        ]
    started = datetime.now(UTC)
    bound = s.max_run_time if s.max_run_time is not None else plan.end + 60
    print(
        f"loadtest: {s.profile} with locust ({s.workers} local workers"
        f"{f', {s.external_workers} external' if s.external_workers else ''}) → {s.target}; results in {run_dir}"
    )
    if s.external_workers:
        print(
            f"loadtest: start each external worker with: locust -f loadtests/locust/locustfile.py --worker "
            f"--master-host <this machine> --master-port {s.master_port}"
        )
    log = (run_dir / "locust.log").open("wb")
    procs: list[subprocess.Popen[bytes]] = []
    timed_out = False
    try:
        procs.append(subprocess.Popen(master, stdout=log, stderr=subprocess.STDOUT, cwd=REPO))
        for _ in range(s.workers):
            procs.append(
                subprocess.Popen(
                    [
                        *locust,
                        "--worker",
                        "--master-host",
                        "127.0.0.1",
                        "--master-port",
                        str(s.master_port),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=REPO,
                )
            )
        try:
            rc = procs[0].wait(timeout=bound)
        except subprocess.TimeoutExpired:
            timed_out = True
            procs[0].send_signal(signal.SIGINT)
            try:
                rc = procs[0].wait(timeout=30)
            except subprocess.TimeoutExpired:
                procs[0].kill()
                rc = procs[0].wait()
    finally:
        _stop(procs)
        log.close()
    ended = datetime.now(UTC)

    summary: dict = {}
    summary_file = run_dir / "locust-samples.json"
    if summary_file.exists():
        summary = json.loads(summary_file.read_text())
    lost_workers = summary.get("workers_expected", 0) - summary.get("workers_done", 0)
    import locust as locust_pkg

    revision, dirty = git_state(REPO)
    meta = RunMeta(
        profile=s.profile,
        target=s.target,
        parameters=knobs,
        service={k: env[k] for k in ("MAX_CONCURRENCY", "STUDY") if env.get(k)},
        start_utc=utc_stamp(started),
        end_utc=utc_stamp(ended),
        git_revision=revision,
        git_dirty=dirty,
        generator=generator(),
        tool="locust",
        locust_version=locust_pkg.__version__,
        locust_workers=total_workers,
        locust_exit_code=rc,
        planned_requests=round(plan.requests(), 1),
        requests=summary.get("samples", 0),
        dropped_iterations=summary.get("dropped_iterations", 0),
    )
    meta.write(run_dir)
    s.results.mkdir(parents=True, exist_ok=True)
    (s.results / ".last").write_text(f"{run_dir}\n")

    if not summary.get("samples"):
        print(
            f"loadtest: locust recorded no answers (exit {rc}); see {run_dir / 'locust.log'}",
            file=sys.stderr,
        )
        return 1
    if lost_workers > 0:
        print(
            f"loadtest: {lost_workers} worker(s) never sent their last samples; the run is incomplete",
            file=sys.stderr,
        )
        return 1
    if timed_out:
        print(
            f"loadtest: stopped after MAX_RUN_TIME={bound:g}s; {run_dir} has what was recorded",
            file=sys.stderr,
        )
        return 1
    print(
        f"loadtest: {summary['samples']} requests ({plan.requests():.1f} planned), "
        f"{summary.get('dropped_iterations', 0)} dropped; done: {run_dir}"
    )
    # locust exits 1 when any request failed: for a load study that is a finding, not a failed run.
    return 0 if rc in (0, 1) else 1
