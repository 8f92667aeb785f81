"""The platform: HAProxy, a fleet of delay-echo instances, and the autoscaler that sizes it.

Two loops share the fleet. The control loop runs every SCRAPE_INTERVAL: it reads each instance's
/metrics and HAProxy's stats into one `Sample`, asks the policy when its period is due, and reconciles
the fleet to the desired count (start with a cold start, or drain). The watch loop runs every 100 ms
and records each instance's phases as they happen (listening, ready, in rotation, first request
served, exit), so platform.jsonl times them to about a tenth of a second, finer than the scrapes.

With RUNTIME=container an instance is a container (containers.py): it is launched in a thread of its
own (pull, run, until it runs with its port published) so the loops go on meanwhile, and joins
HAProxy once it runs.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from loadtests.core import durations
from loadtests.core.events import EventLog
from loadtests.core.service import ServiceError, listening

from .config import WARM, Config
from .containers import ContainerError, ContainerInstance, ContainerRuntime
from .faults import FaultRunner
from .haproxy import HEALTH_FALL, HEALTH_RISE, Haproxy
from .instances import Instance, ServiceArgs
from .policies import Decision, Sample, View

WATCH_INTERVAL = 0.1
SHUTDOWN_TIMEOUT = 10.0  # delay-echo's default --shutdown-timeout
HISTORY_SECONDS = 3600.0  # longest window a policy may look back (an hour of samples is ~100 kB)


class PlatformError(RuntimeError):
    """The platform could not reach a state it needs (e.g. its first instances never became ready)."""


class Platform:
    def __init__(self, cfg: Config, workdir: Path, log: EventLog):
        self.cfg = cfg
        self.policy = cfg.build_policy()
        self.log = log
        self.service_log = workdir / "service.log"
        self.haproxy = Haproxy(cfg.haproxy, workdir, workdir / "haproxy.log")
        # Only a run with faults opens PUT /config, and with a token of its own.
        token = secrets.token_hex(16) if cfg.faults else None
        self.service = ServiceArgs(cfg.concurrency, cfg.delay, cfg.queue, cfg.drain_delay, token)
        self.containers = ContainerRuntime(cfg.image) if cfg.runtime == "container" else None
        self.instances: list[Instance] = []
        self._launchers: list[threading.Thread] = []
        self.samples: deque[Sample] = deque()
        self.desired = cfg.bounds.min_instances
        self.load_started: float | None = None  # monotonic
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._count = 0
        self.drawn: dict[str, float] = {}  # instance -> its cold start as delay-echo drew it
        self.errors: list[str] = []
        self.faults = FaultRunner(
            cfg.faults, log, self._fleet, self._server_status, token=token or ""
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.haproxy.listen_port}"

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, ready_timeout: float = 30.0) -> None:
        """HAProxy, then MIN_INSTANCES warm instances (no cold start: they exist before the study)."""
        pid = self.haproxy.start()
        runtime: dict[str, object] = {"name": "process", "binary": str(self.cfg.delay_echo)}
        if self.containers is not None:
            try:
                runtime = self.containers.prepare()
            except (ContainerError, OSError, subprocess.SubprocessError) as e:
                raise PlatformError(f"RUNTIME=container: {e}") from e
        self.log.write(
            "platform",
            policy=self.cfg.policy,
            policy_period_s=self.policy.period,
            runtime=runtime,
            min_instances=self.cfg.bounds.min_instances,
            max_instances=self.cfg.bounds.max_instances,
            cold_start=self.cfg.cold_start.text,
            cold_start_seed=self.cfg.cold_start.seed,
            drain_delay_s=self.cfg.drain_delay,
            instance={
                "max_concurrency": self.cfg.concurrency,
                "delay": self.cfg.delay,
                "max_queue": self.cfg.queue,
            },
            scrape_interval_s=self.cfg.scrape_interval,
            check_interval_s=self.cfg.check_interval,
            health_check={
                "inter_s": self.cfg.check_interval,
                "fall": HEALTH_FALL,
                "rise": HEALTH_RISE,
            },
            faults=[f.spec for f in self.cfg.faults],
            knobs=self.cfg.policy_knobs,
            haproxy={"pid": pid, "version": self.haproxy.version(), "listen": self.url},
        )
        with self._lock:
            for _ in range(self.cfg.bounds.min_instances):
                self._request(cold=False, reason="minimum")
        for target, name in ((self._watch_loop, "watch"), (self._control_loop, "control")):
            t = threading.Thread(target=target, name=f"platform-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            with self._lock:
                if sum(i.ready for i in self.instances) >= self.cfg.bounds.min_instances:
                    return
                dead = [i for i in self.instances if i.exited]
            if dead:
                why = f" ({self.errors[-1]})" if self.errors else ""
                raise PlatformError(
                    f"{dead[0].name} exited before it was ready{why}; see {self.service_log}"
                )
            time.sleep(WATCH_INTERVAL)
        raise PlatformError(
            f"the first {self.cfg.bounds.min_instances} instance(s) were not ready within {ready_timeout:g} s"
        )

    def mark_load_start(self) -> None:
        self.load_started = time.monotonic()
        t = self.log.write("load_start", target=self.url)
        self.faults.start(self.load_started, t)

    def shutdown(self) -> None:
        """Undoes the faults, stops the loops, then every instance and HAProxy, each by its PID;
        logs every exit."""
        try:
            # First: a SIGSTOPped instance would sit out its SIGTERM until the grace ran out.
            self.faults.close()
        except Exception as e:
            self._guard_error("faults", f"{type(e).__name__}: {e}")
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        for t in list(self._launchers):  # each gives up at once on _stop, or after its own timeout
            t.join(timeout=180)
        with self._lock:
            # Also a container whose launch gave up (logged as exited) while `podman run` still runs.
            live = [
                i
                for i in self.instances
                if i.proc is not None and (not i.exited or i.proc.poll() is None)
            ]
            grace = self.cfg.drain_delay + SHUTDOWN_TIMEOUT + 5
            if self.containers is not None:
                # SIGTERM to every container at once, SIGKILL after the grace (podman stop).
                self.containers.stop(
                    [i.container for i in live if isinstance(i, ContainerInstance)], grace
                )
            else:
                for inst in live:
                    inst.signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            for inst in live:
                assert inst.proc is not None
                try:
                    inst.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    inst.signal(signal.SIGKILL)
                    inst.proc.wait()
                self._phase(inst, "exit", exit_code=inst.proc.returncode, at_shutdown=True)
        if self.containers is not None:
            try:
                closed = self.containers.close()
            except (OSError, subprocess.SubprocessError) as e:
                closed = {"error": f"{type(e).__name__}: {e}"}
            self.log.write("containers_removed", **closed)
        rc = self.haproxy.stop()
        if rc is not None:
            self.log.write(
                "haproxy_exit",
                pid=self.haproxy.proc.pid if self.haproxy.proc else None,
                exit_code=rc,
            )
        self.log.write(
            "summary",
            instances={
                i.name: {
                    "pid": i.pid,
                    "runtime": self.cfg.runtime,
                    "cold_start_s": self.drawn.get(i.name),
                    **startup_times(i.times),
                    **{k: round(v, 3) for k, v in i.times.items()},
                }
                for i in self.instances
            },
            errors=self.errors,
        )

    # -- instances -------------------------------------------------------------------------------

    def _fleet(self) -> list[Instance]:
        with self._lock:
            return list(self.instances)

    def _server_status(self, name: str) -> str | None:
        st = self.haproxy.stats().servers.get(name)
        return None if st is None else st.status

    def _phase(
        self, inst: Instance, phase: str, when: float | None = None, /, **fields: object
    ) -> None:
        if phase in inst.times:
            return
        # The phase is the event's name: the form loadtests/analysis/platform.py reads.
        inst.times[phase] = self.log.write(phase, when, instance=inst.name, **fields)

    def _request(self, cold: bool, reason: str) -> Instance:
        self._count += 1
        name = f"local-{self._count}"
        cold_start = self.cfg.cold_start.for_instance(self._count) if cold else WARM
        # What the instance will draw its cold start from; the value drawn comes with `listening`.
        asked: dict[str, object] = {
            "cold_start": cold_start.text,
            "cold_start_seed": cold_start.seed,
        }
        if self.containers is not None:
            cont = ContainerInstance(name, 0, cold_start, rt=self.containers)
            self.instances.append(cont)
            self._phase(cont, "requested", reason=reason, runtime="container", **asked)
            t = threading.Thread(
                target=self._launch, args=(cont,), name=f"launch-{name}", daemon=True
            )
            self._launchers.append(t)
            t.start()
            return cont
        inst = Instance(name, 0, cold_start)
        self.instances.append(inst)
        self._phase(inst, "requested", reason=reason, runtime="process", **asked)
        try:
            pid = inst.start(self.cfg.delay_echo, self.service, self.service_log)
        except ServiceError as e:
            # As an instance that crashed: the watch loop logs its exit, the control loop replaces it.
            self._guard_error("start", str(e))
            return inst
        self._phase(inst, "started", inst.launched_at, pid=pid, port=inst.port)
        # In HAProxy from the start, DOWN until its own /readyz check passes.
        self.haproxy.add_server(inst.name, inst.port, self.cfg.check_interval)
        inst.in_haproxy = True
        return inst

    def _launch(self, inst: ContainerInstance) -> None:
        """A container's start, off the loops: pull, run; into HAProxy once it runs."""
        assert self.containers is not None

        def phase(name: str, when: float | None = None, **fields: object) -> None:
            self._phase(inst, name, when, **fields)

        try:
            inst.launch(
                self.containers,
                self.service,
                self.service_log,
                phase,
                cancelled=lambda: self._stop.is_set() or inst.draining,
            )
            with self._lock:
                if not inst.draining and not self._stop.is_set():
                    # DOWN until its own /readyz check passes, as a process instance.
                    self.haproxy.add_server(inst.name, inst.port, self.cfg.check_interval)
                    inst.in_haproxy = True
                elif inst.draining:
                    inst.signal(signal.SIGTERM)  # scaled in while it was starting
        except Exception as e:
            # As an instance that crashed: the exit is logged (the watch loop would see it too) and
            # the control loop replaces it; a container that does run is stopped at shutdown.
            self._guard_error("launch", f"{inst.name}: {type(e).__name__}: {e}")
            if inst.proc is not None and inst.proc.poll() is None and not self._stop.is_set():
                self.containers.stop([inst.container], 1)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    inst.proc.wait(30)
            with self._lock:
                self._phase(inst, "exit", exit_code=inst.poll(), launch_failed=str(e)[:500])

    def _drain(self, inst: Instance) -> None:
        self._phase(inst, "drain", was_ready="ready" in inst.times)
        if inst.in_haproxy:
            self.haproxy.drain_server(inst.name)
        inst.signal(signal.SIGTERM)
        inst.kill_at = time.monotonic() + self.cfg.drain_delay + SHUTDOWN_TIMEOUT + 5

    def _reconcile(self) -> None:
        with self._lock:
            active = [i for i in self.instances if not i.draining and not i.exited]
            for _ in range(self.desired - len(active)):
                self._request(cold=True, reason="scale_out")
            if len(active) > self.desired:
                # As a ReplicaSet scales down: instances not ready yet first, then the newest.
                def newest_first(xs: list[Instance]) -> list[Instance]:
                    return sorted(xs, key=lambda i: i.times["requested"], reverse=True)

                victims = newest_first(
                    [i for i in active if "ready" not in i.times]
                ) + newest_first([i for i in active if "ready" in i.times])
                for inst in victims[: len(active) - self.desired]:
                    self._drain(inst)

    # -- loops -----------------------------------------------------------------------------------

    def _guard(self, what: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as e:
            # A failed scrape or command (or a bug) is logged and retried next tick: a loop that died
            # silently would leave the fleet unmanaged while the load runs on.
            self._guard_error(what, f"{type(e).__name__}: {e}")

    def _guard_error(self, what: str, message: str) -> None:
        msg = f"{what}: {message}"
        if msg not in self.errors:
            self.errors.append(msg)
            self.log.write("error", where=what, message=msg)

    def _watch_loop(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL):
            self._guard("watch", self._watch_once)

    def _watch_once(self) -> None:
        with self._lock:
            insts = list(self.instances)
        # HAProxy's view first, so `in_rotation` is never logged after a request it let through.
        waiting = [
            i
            for i in insts
            if "ready" in i.times and "in_rotation" not in i.times and not i.draining
        ]
        stats = self.haproxy.stats() if waiting else None
        for inst in insts:
            if "removed" in inst.times:
                continue
            rc = inst.poll()
            if rc is not None and not inst.exited:
                self._phase(inst, "exit", exit_code=rc)
            if inst.exited:
                if inst.in_haproxy and self.haproxy.remove_server(inst.name):
                    inst.in_haproxy = False
                    self._phase(inst, "removed")
                continue
            if inst.draining:
                if inst.kill_at is not None and time.monotonic() > inst.kill_at:
                    inst.kill_at = None
                    inst.signal(signal.SIGKILL)
                continue
            if not inst.port:
                continue  # a container still starting
            if "ready" not in inst.times:
                status = inst.probe()
                if status is not None and "listening" not in inst.times:
                    # Listening; delay-echo's /readyz answers 503 until its cold start has passed.
                    self._phase(inst, "listening", status=status, **self._cold_start(inst))
                if status == 200:
                    late = {} if inst.name in self.drawn else self._cold_start(inst)
                    self._phase(inst, "ready", **late)
            elif "in_rotation" not in inst.times:
                st = stats.servers.get(inst.name) if stats else None
                if st is not None and st.status.startswith("UP"):
                    self._phase(inst, "in_rotation")
            elif "first_request" not in inst.times:
                m = inst.scrape()
                if m is not None and m.echo_answered > 0:
                    self._phase(inst, "first_request")

    def _cold_start(self, inst: Instance) -> dict[str, float]:
        """`cold_start_s`: the delay the instance drew, from its `listening` line in service.log
        (nothing while a container's output has not reached the file yet: `ready` carries it then)."""
        if inst.name not in self.drawn:
            with open(self.service_log, "rb") as f:
                f.seek(inst.log_offset)
                drawn = drawn_cold_start(f.read().decode(errors="replace"), inst.name)
            if drawn is None:
                return {}
            self.drawn[inst.name] = drawn
        return {"cold_start_s": self.drawn[inst.name]}

    def _control_loop(self) -> None:
        next_decision = time.monotonic()
        while not self._stop.is_set():
            tick = time.monotonic()
            self._guard("observe", self._observe)
            if tick >= next_decision:
                self._guard("decide", self._decide)
                next_decision += self.policy.period
            self._guard("reconcile", self._reconcile)
            self._stop.wait(max(0.0, tick + self.cfg.scrape_interval - time.monotonic()))

    def _observe(self) -> None:
        now = time.monotonic()
        with self._lock:
            live = [i for i in self.instances if not i.exited and i.port]
        per: dict[str, dict[str, object]] = {}
        total = 0.0
        for inst in live:
            m = inst.scrape()
            per[inst.name] = {
                "in_flight": m.in_flight if m else None,
                "queued": m.queued if m else None,
            }
            total += m.in_flight if m else 0.0
        stats = self.haproxy.stats()
        for name, st in stats.servers.items():
            per.setdefault(name, {}).update(
                haproxy_status=st.status, haproxy_sessions=st.current_sessions
            )
        total += stats.backend_queue
        with self._lock:
            ready = sum(i.ready for i in self.instances)
            scale = sum(1 for i in self.instances if not i.draining and not i.exited)
            self.samples.append(Sample(now, total, ready))
            while self.samples and self.samples[0].time < now - HISTORY_SECONDS:
                self.samples.popleft()
        self.log.write(
            "observe",
            concurrency=total,
            haproxy_queue=stats.backend_queue,
            ready=ready,
            scale=scale,
            instances=per,
        )

    def _decide(self) -> None:
        now = time.monotonic()
        with self._lock:
            view = View(
                now=now,
                samples=list(self.samples),
                scale=sum(1 for i in self.instances if not i.draining and not i.exited),
                ready=sum(i.ready for i in self.instances),
                load_elapsed=None if self.load_started is None else now - self.load_started,
            )
            d: Decision = self.policy.decide(view)
            self.desired = d.desired
        self.log.write(
            "decision",
            policy=self.cfg.policy,
            load_elapsed_s=None if view.load_elapsed is None else round(view.load_elapsed, 3),
            current=view.scale,
            desired=d.desired,
            inputs=d.inputs,
        )


def drawn_cold_start(log: str, instance: str) -> float | None:
    """The `startup_delay` on `instance`'s `listening` line (text or JSON log format), in seconds."""
    line = re.compile(
        listening(instance).pattern + r'.*?\bstartup_delay"?[=:]"?(?P<drawn>[^\s",]+)'
    )
    m = line.search(log)
    return None if m is None else round(durations.seconds(m.group("drawn")), 6)


def startup_times(times: dict[str, float]) -> dict[str, float]:
    """How long an instance took to come up, from its phase times (epoch seconds).

    `requested_to_ready_s` is the whole start as the platform saw it; `requested_to_running_s` the
    part before delay-echo runs (for a container: pull, create, start), `listening_to_ready_s` the
    cold start (delay-echo's --startup-delay) as measured.
    """
    out = {}
    for key, a, b in (
        ("requested_to_ready_s", "requested", "ready"),
        ("requested_to_running_s", "requested", "started"),
        ("requested_to_listening_s", "requested", "listening"),
        ("listening_to_ready_s", "listening", "ready"),
    ):
        if a in times and b in times:
            out[key] = round(times[b] - times[a], 3)
    return out
