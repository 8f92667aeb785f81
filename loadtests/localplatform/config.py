"""Knobs (environment variables, as every load-test knob) turned once into a validated `Config`.

Every window and target of every policy is a knob whose default is the platform's published default;
`python -m loadtests.localplatform knobs` lists them. A bad value stops the run before anything starts,
with the knob's name and what is allowed.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from loadtests.core import durations, tools

from .faults import Fault, FaultSyntaxError, parse_faults
from .policies import AppRunner, Bounds, Hpa, Knative, Policy, Schedule

POLICIES = ("apprunner", "knative", "hpa", "schedule")
RUNTIMES = ("process", "container")
DURATION_FORMS = "a duration with a unit (us, ms, s, m, h), e.g. 500ms, 3s or 1m30s; bare 0"
# What can appear in delay-echo's distribution grammar; the grammar itself is the binary's to judge.
_COLD_START_CHARS = re.compile(r"[0-9a-zµ.,:() ]+")


class KnobError(ValueError):
    """A knob value that is refused, with what is allowed."""


@dataclass(frozen=True)
class ColdStart:
    """A new instance's provisioning delay: delay-echo's `--startup-delay` in its own grammar (`3s`,
    `2s..8s`, `1s:90,20s:10`, `lognormal(2s,15s)`), drawn by the instance at start from `seed`."""

    text: str
    seed: int | None = None

    def for_instance(self, number: int) -> ColdStart:
        """Instance `number`'s own seed, derived from this one: the same COLD_START_SEED gives the
        same cold starts in the same order."""
        digest = hashlib.blake2b(f"{self.seed}/{number}".encode(), digest_size=8).digest()
        return ColdStart(self.text, int.from_bytes(digest, "big"))

    def argv(self) -> list[str]:
        seed = [] if self.seed is None else ["--startup-seed", str(self.seed)]
        return ["--startup-delay", self.text, *seed]


# The instances that exist before the load: no cold start.
WARM = ColdStart("0")


@dataclass(frozen=True)
class Knob:
    name: str
    default: str
    help: str


# One table: the defaults, the help text of `knobs`, and what `Config.from_env` reads.
KNOBS: tuple[Knob, ...] = (
    Knob("POLICY", "", "apprunner | knative | hpa | schedule"),
    Knob("MIN_INSTANCES", "1", "instances the platform keeps at least (started before the load)"),
    Knob("MAX_INSTANCES", "5", "instances the platform never exceeds"),
    Knob(
        "COLD_START",
        "3s",
        "provisioning delay of each new instance: delay-echo's --startup-delay, which draws it (3s, 2s..8s, 1s:90,20s:10, lognormal(2s,15s))",
    ),
    Knob(
        "COLD_START_SEED",
        "1",
        "seed of the cold-start draws: instance N gets a --startup-seed derived from it and N (same seed, same draws in the same order)",
    ),
    Knob(
        "DRAIN_DELAY",
        "2s",
        "scale-in: how long a SIGTERMed instance keeps serving, unready (--drain-delay)",
    ),
    Knob(
        "LOCAL_CONCURRENCY",
        "10",
        "each instance's --max-concurrency (its capacity: C / delay req/s)",
    ),
    Knob("LOCAL_DELAY", "80ms", "each instance's --delay"),
    Knob("LOCAL_QUEUE", "100", "each instance's --max-queue"),
    Knob("SCRAPE_INTERVAL", "1s", "how often /metrics and HAProxy's stats are read"),
    Knob("CHECK_INTERVAL", "250ms", "HAProxy's /readyz health-check interval"),
    Knob("KPA_STABLE_WINDOW", "60s", "knative: stable window"),
    Knob("KPA_PANIC_WINDOW_PCT", "10", "knative: panic window, percent of the stable window"),
    Knob(
        "KPA_PANIC_THRESHOLD_PCT",
        "200",
        "knative: panic when panic-window demand reaches this % of ready capacity",
    ),
    Knob(
        "KPA_TARGET",
        "",
        "knative: concurrency target per instance (default LOCAL_CONCURRENCY, as containerConcurrency)",
    ),
    Knob("KPA_TARGET_UTILIZATION_PCT", "70", "knative: target utilisation, percent"),
    Knob("KPA_TICK", "2s", "knative: decision interval"),
    Knob(
        "KPA_MAX_SCALE_UP_RATE",
        "1000",
        "knative: at most this many times the ready instances per decision",
    ),
    Knob(
        "KPA_MAX_SCALE_DOWN_RATE",
        "2",
        "knative: at least ready / this many instances kept per decision",
    ),
    Knob(
        "HPA_TARGET",
        "",
        "hpa: average concurrency per instance (default 70 % of LOCAL_CONCURRENCY)",
    ),
    Knob("HPA_TOLERANCE", "0.1", "hpa: no change while metric/target is within 1 ± this"),
    Knob("HPA_SYNC", "15s", "hpa: decision interval (--horizontal-pod-autoscaler-sync-period)"),
    Knob(
        "HPA_METRIC_WINDOW", "", "hpa: the metric is the mean over this window (default HPA_SYNC)"
    ),
    Knob("HPA_SCALE_UP_PODS", "4", "hpa: scale-up policy, instances per period"),
    Knob(
        "HPA_SCALE_UP_PERCENT",
        "100",
        "hpa: scale-up policy, percent per period (the larger policy wins)",
    ),
    Knob("HPA_SCALE_UP_PERIOD", "15s", "hpa: scale-up policy period"),
    Knob("HPA_SCALE_DOWN_STABILIZATION", "300s", "hpa: scale-down stabilisation window"),
    Knob("APPRUNNER_MAX_CONCURRENCY", "", "apprunner: MaxConcurrency (default LOCAL_CONCURRENCY)"),
    Knob("APPRUNNER_TICK", "5s", "apprunner: decision interval (assumed: not published)"),
    Knob("APPRUNNER_WINDOW", "10s", "apprunner: concurrency averaged over this window (assumed)"),
    Knob(
        "APPRUNNER_SCALE_IN_DELAY",
        "60s",
        "apprunner: scale in only after demand stayed lower this long (assumed)",
    ),
    Knob(
        "SCHEDULE",
        "",
        "schedule: AFTER:COUNT,… e.g. 8:2,40:1 (seconds after the load began: instances)",
    ),
    Knob(
        "LOCAL_SCALE_OUT",
        "",
        "schedule: shorthand for SCHEDULE=<seconds>:2 (what loadtest-local always had)",
    ),
    Knob(
        "FAULTS",
        "",
        "faults at known times: kill@T[:WHICH], hang@T:DUR[:WHICH], slow@T:DUR:cpu=X[:WHICH] "
        "(also delay=X), comma-separated; WHICH newest|oldest|local-N (RUNTIME=process)",
    ),
    Knob("PROFILE", "spike", "the k6 profile driven through HAProxy (any k6 knob passes through)"),
    Knob("MAX_RUN_TIME", "900", "hard bound on the load, seconds"),
    Knob(
        "RUNTIME",
        "process",
        "process | container: each instance a delay-echo process, or a container of IMAGE pulled from a registry of the run (Podman)",
    ),
    Knob("IMAGE", "delay-echo:local", "RUNTIME=container: the image (make buildc builds it)"),
    Knob("HAPROXY", "haproxy", "the HAProxy binary (Debian's haproxy package)"),
    Knob("DELAY_ECHO_BIN", "target/release/delay-echo", "the delay-echo binary"),
    Knob("RESULTS", "loadtests/results", "where run folders go"),
)
DEFAULTS = {k.name: k.default for k in KNOBS}


@dataclass(frozen=True)
class Config:
    policy: str
    runtime: str
    image: str
    bounds: Bounds
    cold_start: ColdStart
    drain_delay: float
    concurrency: int
    delay: str
    queue: int
    scrape_interval: float
    check_interval: float
    profile: str
    max_run_time: int
    haproxy: str
    delay_echo: Path
    results: Path
    policy_knobs: dict[str, str] = field(default_factory=dict)
    schedule: tuple[tuple[float, int], ...] = ()
    faults: tuple[Fault, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str], repo: Path) -> Config:
        def get(name: str) -> str:
            return env.get(name, "").strip() or DEFAULTS[name]

        policy = get("POLICY")
        if policy not in POLICIES:
            raise KnobError(f"POLICY={policy!r}: allowed: {' | '.join(POLICIES)}")
        runtime = get("RUNTIME")
        if runtime not in RUNTIMES:
            raise KnobError(f"RUNTIME={runtime!r}: allowed: {' | '.join(RUNTIMES)}")
        lo, hi = _int(get, "MIN_INSTANCES", 1), _int(get, "MAX_INSTANCES", 1)
        if hi < lo:
            raise KnobError(f"MAX_INSTANCES={hi} is below MIN_INSTANCES={lo}")
        schedule = _schedule(env, hi) if policy == "schedule" else ()
        faults = _faults(env.get("FAULTS", "").strip(), runtime)
        knobs = {
            k.name: get(k.name)
            for k in KNOBS
            if k.name.split("_")[0] in ("KPA", "HPA", "APPRUNNER", "SCHEDULE")
        }
        cfg = cls(
            policy=policy,
            runtime=runtime,
            image=get("IMAGE"),
            bounds=Bounds(lo, hi),
            cold_start=ColdStart(_cold_start(get("COLD_START")), _int(get, "COLD_START_SEED", 0)),
            drain_delay=_dur(get, "DRAIN_DELAY"),
            concurrency=_int(get, "LOCAL_CONCURRENCY", 1),
            delay=get("LOCAL_DELAY"),
            queue=_int(get, "LOCAL_QUEUE", 0),
            scrape_interval=_dur(get, "SCRAPE_INTERVAL", positive=True),
            check_interval=_dur(get, "CHECK_INTERVAL", positive=True),
            profile=get("PROFILE"),
            max_run_time=_int(get, "MAX_RUN_TIME", 1),
            haproxy=get("HAPROXY"),
            delay_echo=(repo / get("DELAY_ECHO_BIN")).resolve(),
            results=(repo / get("RESULTS")).resolve(),
            policy_knobs=knobs,
            schedule=schedule,
            faults=faults,
        )
        cfg.build_policy()  # every policy knob is checked before anything starts
        return cfg

    def cold_start_judge(self) -> Path:
        """The binary that judges COLD_START before anything starts: the instances' own; for
        containers the image's static binary (make buildc builds it) when DELAY_ECHO_BIN is absent."""
        image_binary = tools.REPO / "target" / "image" / "delay-echo"
        if self.runtime == "container" and not self.delay_echo.is_file() and image_binary.is_file():
            return image_binary
        return self.delay_echo

    def build_policy(self) -> Policy:
        k = self.policy_knobs

        def get(name: str) -> str:
            return k.get(name) or DEFAULTS[name]

        c = float(self.concurrency)
        if self.policy == "knative":
            return Knative(
                self.bounds,
                target=_float(get, "KPA_TARGET", c) if k.get("KPA_TARGET") else c,
                utilization=_float(get, "KPA_TARGET_UTILIZATION_PCT", 1) / 100.0,
                stable_window=_dur(get, "KPA_STABLE_WINDOW", positive=True),
                panic_window_pct=_float(get, "KPA_PANIC_WINDOW_PCT", 1),
                panic_threshold_pct=_float(get, "KPA_PANIC_THRESHOLD_PCT", 1),
                tick=_dur(get, "KPA_TICK", positive=True),
                max_scale_up_rate=_float(get, "KPA_MAX_SCALE_UP_RATE", 1),
                max_scale_down_rate=_float(get, "KPA_MAX_SCALE_DOWN_RATE", 1),
            )
        if self.policy == "hpa":
            sync = _dur(get, "HPA_SYNC", positive=True)
            return Hpa(
                self.bounds,
                target=_float(get, "HPA_TARGET", 0.001) if k.get("HPA_TARGET") else 0.7 * c,
                tolerance=_float(get, "HPA_TOLERANCE", 0),
                sync=sync,
                metric_window=_dur(get, "HPA_METRIC_WINDOW", positive=True)
                if k.get("HPA_METRIC_WINDOW")
                else sync,
                scale_up_pods=_int(get, "HPA_SCALE_UP_PODS", 0),
                scale_up_percent=_float(get, "HPA_SCALE_UP_PERCENT", 0),
                scale_up_period=_dur(get, "HPA_SCALE_UP_PERIOD", positive=True),
                scale_down_stabilization=_dur(get, "HPA_SCALE_DOWN_STABILIZATION"),
            )
        if self.policy == "apprunner":
            return AppRunner(
                self.bounds,
                max_concurrency=_float(get, "APPRUNNER_MAX_CONCURRENCY", 1)
                if k.get("APPRUNNER_MAX_CONCURRENCY")
                else c,
                tick=_dur(get, "APPRUNNER_TICK", positive=True),
                window=_dur(get, "APPRUNNER_WINDOW", positive=True),
                scale_in_delay=_dur(get, "APPRUNNER_SCALE_IN_DELAY"),
            )
        return Schedule(self.bounds, self.schedule)


def parse_duration(text: str) -> float:
    """Seconds from `80ms`, `1.5s`, `1m30s` or `0`; KnobError otherwise."""
    try:
        return durations.seconds(text)
    except ValueError:
        raise KnobError(f"{text!r} is not a duration; allowed: {DURATION_FORMS}") from None


def render(seconds: float) -> str:
    """A duration as delay-echo's flags take it, to the millisecond (`0`, `2500ms`)."""
    ms = round(seconds * 1000)
    return "0" if ms == 0 else f"{ms}ms"


def _cold_start(text: str) -> str:
    if not _COLD_START_CHARS.fullmatch(text):
        raise KnobError(
            f"COLD_START={text!r} is not in delay-echo's grammar; allowed: a duration (3s), a range "
            "(2s..8s), a weighted list adding up to 100 (1s:90,20s:10) or lognormal(MEDIAN,P99)"
        )
    return text


def check_cold_start(binary: Path, cold_start: ColdStart) -> None:
    """Asks delay-echo whether it takes COLD_START (`--print-config` refuses what the server
    would); KnobError with its reason when it does not, or when there is no binary to ask."""
    if not binary.is_file():
        raise KnobError(
            f"COLD_START={cold_start.text!r} cannot be checked: no delay-echo at {binary} "
            "(allowed: DELAY_ECHO_BIN naming a built binary; make build builds one)"
        )
    p = subprocess.run(
        [str(binary), "--print-config", *cold_start.argv()],
        capture_output=True,
        text=True,
        env={},
        timeout=30,
        check=False,
    )
    if p.returncode == 0:
        return
    if "unexpected argument" in p.stderr:
        raise KnobError(
            f"COLD_START={cold_start.text!r} cannot be checked: {binary} is older than "
            "--print-config and --startup-seed (allowed: a current build; make build)"
        )
    # delay-echo: --startup-delay (env DELAY_ECHO_STARTUP_DELAY): <what was wrong>; allowed: …
    reason = p.stderr.strip().partition("): ")[2] or p.stderr.strip() or f"exit {p.returncode}"
    raise KnobError(f"COLD_START={cold_start.text!r}: {reason}")


def check_faults(binary: Path, faults: tuple[Fault, ...]) -> None:
    """Asks delay-echo whether it takes each slow fault's values (`--print-config` refuses what
    PUT /config would: above --max-cpu, say), so a refusal stops the run before anything starts
    instead of failing the fault halfway through it."""
    for f in faults:
        if not f.settings or not binary.is_file():
            continue  # without a binary, check_cold_start has said so already
        flags = [a for key, value in f.settings for a in (f"--{key}", value)]
        p = subprocess.run(
            [str(binary), "--print-config", *flags],
            capture_output=True,
            text=True,
            env={},
            timeout=30,
            check=False,
        )
        if p.returncode != 0:
            # delay-echo: --cpu (env DELAY_ECHO_CPU): <what was wrong>; allowed: …
            reason = p.stderr.strip().partition("): ")[2] or p.stderr.strip()
            raise KnobError(f"FAULTS: {f.spec!r}: {reason or f'exit {p.returncode}'}")


def _int(get: Callable[[str], str], name: str, minimum: int) -> int:
    v = get(name)
    if not re.fullmatch(r"\d+", v) or int(v) < minimum:
        raise KnobError(f"{name}={v!r}: allowed: a whole number, at least {minimum}")
    return int(v)


def _float(get: Callable[[str], str], name: str, minimum: float) -> float:
    v = get(name)
    try:
        x = float(v)
    except ValueError:
        x = float("nan")
    if not x >= minimum:
        raise KnobError(f"{name}={v!r}: allowed: a number, at least {minimum:g}")
    return x


def _dur(get: Callable[[str], str], name: str, positive: bool = False) -> float:
    v = get(name)
    try:
        x = parse_duration(v)
    except KnobError as e:
        raise KnobError(f"{name}: {e}") from None
    if positive and x <= 0:
        raise KnobError(f"{name}={v!r}: allowed: a duration above 0, e.g. 1s")
    return x


def _schedule(env: Mapping[str, str], max_instances: int) -> tuple[tuple[float, int], ...]:
    text = env.get("SCHEDULE", "").strip()
    scale_out = env.get("LOCAL_SCALE_OUT", "").strip()
    if scale_out:
        if text:
            raise KnobError("give SCHEDULE or LOCAL_SCALE_OUT, not both")
        if not re.fullmatch(r"\d+", scale_out):
            raise KnobError(
                f"LOCAL_SCALE_OUT={scale_out!r} must be whole seconds after the load starts"
            )
        text = f"{scale_out}:2"
    steps = []
    for part in filter(None, text.split(",")):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*:\s*(\d+)\s*", part)
        if not m:
            raise KnobError(f"SCHEDULE: {part!r} is not AFTER:COUNT; allowed: e.g. 8:2,40:1")
        n = int(m.group(2))
        if n > max_instances:
            raise KnobError(
                f"SCHEDULE: {part!r} asks for {n} instances, above MAX_INSTANCES={max_instances}"
            )
        steps.append((float(m.group(1)), n))
    return tuple(steps)


def _faults(text: str, runtime: str) -> tuple[Fault, ...]:
    try:
        faults = parse_faults(text)
    except FaultSyntaxError as e:
        raise KnobError(f"FAULTS: {e}") from None
    if faults and runtime != "process":
        # SIGSTOP and SIGKILL would reach `podman run`, not the container it attached to.
        raise KnobError(f"FAULTS with RUNTIME={runtime}: allowed: RUNTIME=process only")
    return faults


def describe_knobs() -> str:
    return "\n".join(f"{k.name:30} {k.default or '-':>10}  {k.help}" for k in KNOBS)
