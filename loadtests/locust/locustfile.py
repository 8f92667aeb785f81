"""The locust side of a run: users that carry the planned arrival rate, the shape that sizes them,
and the sample transport (workers -> master -> raw.csv.gz).

Started by `python -m loadtests.locust run`, which passes everything as `--echo-*` arguments; locust
hands custom arguments from the master to every worker, so workers on other machines need nothing
but this file and the master's address.

Pacing: each user keeps a schedule of one request every `users / rate` seconds (a random phase per
user, so users do not fire together). An answer that comes back late makes the next request go at
once; slots a user could not use because it was still waiting are counted as dropped iterations,
as k6 counts arrivals it had no VU for. That is the difference from k6's open model: a locust user
waits for its answer, so a slow service lowers the offered load (coordinated omission) and the
report's offered-vs-planned and dropped rows show by how much.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any, ClassVar

import gevent

# Imported as a file by locust; the lab's package is installed in the venv (pip install -e .), so
# this works from any working directory.
from loadtests.core.plan import Plan
from loadtests.locust.plan import users_at
from loadtests.locust.samples import Sample, SampleWriter, sample_from_answer
from locust import FastHttpUser, LoadTestShape, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

FLUSH_SECONDS = 1.0
# The plan starts this long after the shape's first tick: workers take up to about a second to
# spawn their users, and users that start late would leave the plan's first second short.
LEAD_SECONDS = 3.0
DONE_WAIT_SECONDS = 15.0


class State:
    """What this process knows about the run; one per process (master, worker or local)."""

    plan: Plan = Plan(())
    path: str = "/"
    user_rate: float = 5.0
    timeout: float = 30.0
    t0: float | None = None  # epoch seconds of the plan's start, set by the master's first tick
    samples: ClassVar[list[Sample]] = []
    dropped: ClassVar[list[tuple[float, int]]] = []
    writer: SampleWriter | None = None
    dropped_total = 0
    workers_done: ClassVar[set[str]] = set()
    expected_workers = 0
    summary_path: Path | None = None


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument(
        "--echo-plan", default="[]", help="planned rate pieces [[t0,t1,r0,r1],...] (JSON)"
    )
    parser.add_argument("--echo-path", default="/", help="request path and query, knobs included")
    parser.add_argument(
        "--echo-user-rate", type=float, default=5.0, help="most req/s one user offers"
    )
    parser.add_argument(
        "--echo-timeout", type=float, default=30.0, help="client timeout per request, s"
    )
    parser.add_argument("--echo-samples", default="", help="master/local: where raw.csv.gz goes")


def _configure(env: Environment) -> None:
    o = env.parsed_options
    if o is None:
        return
    State.plan = Plan.from_json(json.loads(o.echo_plan))
    State.path = o.echo_path
    State.user_rate = float(o.echo_user_rate)
    State.timeout = float(o.echo_timeout)
    EchoUser.network_timeout = State.timeout
    EchoUser.connection_timeout = State.timeout


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    _configure(environment)
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.register_message("echo_start", _on_start_message)
    else:
        if environment.parsed_options is not None and environment.parsed_options.echo_samples:
            path = Path(environment.parsed_options.echo_samples)
            State.writer = SampleWriter(path)
            State.summary_path = path.with_name("locust-samples.json")
        if isinstance(runner, MasterRunner):
            runner.register_message("echo_samples", _on_samples_message)
            runner.register_message("echo_samples_done", _on_done_message)
    if runner is not None:
        gevent.spawn(_flush_forever, environment)


def _on_start_message(msg: Any, **_: Any) -> None:
    State.t0 = float(msg.data["t0"])


def _on_samples_message(msg: Any, **_: Any) -> None:
    samples, dropped = msg.data["samples"], msg.data["dropped"]
    _store([Sample.from_wire(r) for r in samples], [(float(t), int(n)) for t, n in dropped])


def _on_done_message(msg: Any, **_: Any) -> None:
    State.workers_done.add(str(msg.node_id))


def _store(samples: list[Sample], dropped: list[tuple[float, int]]) -> None:
    if State.writer is None:
        return
    State.writer.write(samples)
    State.writer.dropped(dropped)
    State.dropped_total += sum(n for _, n in dropped)


def _flush(env: Environment) -> None:
    samples, State.samples = State.samples, []
    dropped, State.dropped = State.dropped, []
    if not samples and not dropped:
        return
    if isinstance(env.runner, WorkerRunner):
        env.runner.send_message(
            "echo_samples", {"samples": [s.to_wire() for s in samples], "dropped": dropped}
        )
    else:
        _store(samples, dropped)


def _flush_forever(env: Environment) -> None:
    while True:
        gevent.sleep(FLUSH_SECONDS)
        _flush(env)


@events.test_start.add_listener
def _test_start(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        # The master's custom arguments (the plan, the path) arrive with the first spawn message,
        # after init: read them now.
        _configure(environment)
        return
    if State.t0 is None:
        State.t0 = time.time() + LEAD_SECONDS
    if State.writer is not None:
        State.writer.run_start(State.t0)
    if isinstance(runner, MasterRunner):
        State.expected_workers = len(runner.clients)
        # Sent before the spawn messages that follow this event, so every user knows the start.
        runner.send_message("echo_start", {"t0": State.t0})


@events.test_stop.add_listener
def _test_stop(environment: Environment, **_: Any) -> None:
    _flush(environment)
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.send_message("echo_samples_done", None)


@events.quitting.add_listener
def _quitting(environment: Environment, **_: Any) -> None:
    if State.writer is None:
        return
    # Every worker says when it has sent its last samples; wait for them (bounded), then say in
    # the summary which ones never did, so a lost share of the run cannot go unnoticed.
    deadline = time.monotonic() + DONE_WAIT_SECONDS
    while len(State.workers_done) < State.expected_workers and time.monotonic() < deadline:
        gevent.sleep(0.1)
    _flush(environment)
    State.writer.close()
    if State.summary_path is not None:
        State.summary_path.write_text(
            json.dumps(
                {
                    "samples": State.writer.count,
                    "dropped_iterations": State.dropped_total,
                    "workers_expected": State.expected_workers,
                    "workers_done": len(State.workers_done),
                }
            )
            + "\n"
        )


class PlanShape(LoadTestShape):
    """Users per second from the plan; None (stop) once the plan has ended."""

    def tick(self) -> tuple[int, float] | None:
        if State.t0 is None:
            State.t0 = time.time() + LEAD_SECONDS
        t = time.time() - State.t0
        if t >= State.plan.end:
            return None
        # Before the start, the users of the first second are spawned and wait for it.
        users = users_at(State.plan, max(t, 0.0), State.user_rate)
        # Every user at once: spawning over a second would leave the first second short.
        return users, max(float(users), 1.0) * 100


class EchoUser(FastHttpUser):
    """One paced user; the host comes from --host, the path (knobs included) from --echo-path."""

    _next: float | None = None

    def wait_time(self) -> float:
        return 0.0

    @task
    def echo(self) -> None:
        now = time.time()
        if State.t0 is None:
            gevent.sleep(0.05)
            return
        t = now - State.t0
        if t < 0:
            gevent.sleep(min(-t, 0.1))
            return
        rate = State.plan.rate(t)
        users = users_at(State.plan, t, State.user_rate)
        if t >= State.plan.end or rate <= 0 or users == 0:
            self._next = None
            gevent.sleep(min(0.1, max(State.plan.end - t, 0.01)))
            return
        interval = users / rate
        if self._next is None:
            self._next = now + random.uniform(0, interval)
        elif now > self._next + interval:
            missed = int((now - self._next) / interval)
            State.dropped.append((now * 1000.0, missed))
            self._next += missed * interval
        if self._next > now:
            gevent.sleep(self._next - now)
            if time.time() - State.t0 >= State.plan.end:
                return
        self._next += interval
        self._request()

    def _request(self) -> None:
        start = time.time()
        began = time.perf_counter()
        with self.client.get(State.path, name="echo", catch_response=True) as resp:
            latency_ms = (time.perf_counter() - began) * 1000.0
            status = int(resp.status_code or 0)
            headers = {k: resp.headers.get(k) for k in _HEADERS} if resp.headers else {}
            State.samples.append(
                sample_from_answer(
                    start, latency_ms, status, {k: v for k, v in headers.items() if v}
                )
            )
            if 200 <= status < 400:
                resp.success()
            else:
                resp.failure(f"status {status}")


_HEADERS = ("X-Instance-Id", "X-Instance-Start", "X-In-Flight", "Server-Timing")
