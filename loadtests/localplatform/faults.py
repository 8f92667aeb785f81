"""Faults caused on purpose at known times (FAULTS=kill@30s,hang@45s:10s,slow@60s:20s:cpu=40ms).

`parse_faults` turns the knob into frozen `Fault`s before anything starts. `FaultRunner` applies them
on a thread of its own, timed from the load's start, and undoes each one (SIGCONT, the instance's
previous configuration) when its span ends, or at `close()`: a platform that stops for any reason
leaves no instance stopped or slowed. Every step is an event in platform.jsonl, named `fault_…`,
with the fault's `fault` number (its place in FAULTS), `kind` and `spec`, so the analysis can pair a
fault with what the clients felt and with what the platform did (replaced, ejected or waited).
"""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loadtests.core import faults as common
from loadtests.core.events import EventLog
from loadtests.core.faults import FaultSyntaxError

if TYPE_CHECKING:  # instances.py imports config.py, which parses FAULTS with this module
    from .instances import Instance

KINDS = ("kill", "hang", "slow")
SETTINGS = ("cpu", "delay")  # the per-request work PUT /config can raise
WHICH = ("newest", "oldest")
ALLOWED = (
    "comma-separated faults, each kill@T[:WHICH], hang@T:DUR[:WHICH] or "
    "slow@T:DUR:cpu=X[:delay=X][:WHICH]; T seconds after the load began, DUR and X durations "
    "(30s, 1m30s, 250ms); WHICH newest (the default), oldest or an instance name (local-2); "
    "e.g. kill@30s,hang@45s:10s,slow@60s:20s:cpu=40ms"
)
_NAME = re.compile(r"local-\d+")
# How often the runner looks at the clock and, while a hung instance is watched, at HAProxy.
POLL_INTERVAL = 0.05
# How long after SIGCONT the runner waits for HAProxy to put a hung instance back.
READMIT_TIMEOUT = 30.0
CONTROL_TIMEOUT = 2.0
# Loopback only: never through a proxy the environment may name (http_proxy).
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Fault:
    number: int  # its place in FAULTS, from 1: the `fault` of its events
    kind: str
    at: float  # seconds after the load began
    duration: float  # 0 for a kill
    which: str  # newest | oldest | an instance name
    settings: tuple[tuple[str, str], ...] = ()  # slow: (knob, value as delay-echo takes it)
    spec: str = ""

    @property
    def end(self) -> float:
        return self.at + self.duration

    def fields(self) -> dict[str, Any]:
        return {"fault": self.number, "kind": self.kind, "spec": self.spec}


def parse_faults(text: str) -> tuple[Fault, ...]:
    """Every fault in FAULTS, in the order given; FaultSyntaxError with what is allowed."""
    faults = [
        _parse_one(n, part.strip())
        for n, part in enumerate((p for p in text.split(",") if p.strip()), 1)
    ]
    # One undo per kind at a time: a second hang's SIGCONT, or a second slow's restore, would end
    # the first early on an instance both picked.
    common.no_overlaps(
        (f for f in faults if f.kind != "kill"), lambda f: (f.kind,), lambda f: f.kind
    )
    return tuple(faults)


def _parse_one(number: int, spec: str) -> Fault:
    kind, parts = common.split(spec, KINDS, ALLOWED)
    at = common.duration(spec, "T", parts.pop(0))
    duration = 0.0
    if kind != "kill":
        if not parts:
            raise FaultSyntaxError(f"{spec!r}: a {kind} needs its duration, e.g. {kind}@45s:10s")
        duration = common.duration(spec, "DUR", parts.pop(0))
        if duration <= 0:
            raise FaultSyntaxError(f"{spec!r}: the duration must be above 0")
    settings: list[tuple[str, str]] = []
    while parts and "=" in parts[0]:
        key, _, value = parts.pop(0).partition("=")
        if kind != "slow":
            raise FaultSyntaxError(f"{spec!r}: only slow takes {key}=…; allowed: {ALLOWED}")
        if key not in SETTINGS:
            raise FaultSyntaxError(
                f"{spec!r}: {key!r} is not a setting slow can raise; allowed: {' | '.join(SETTINGS)}"
            )
        if any(k == key for k, _ in settings):
            raise FaultSyntaxError(f"{spec!r}: {key} is given twice")
        settings.append((key, _render(common.duration(spec, key, value))))
    if kind == "slow" and not settings:
        raise FaultSyntaxError(
            f"{spec!r}: a slow needs what to raise, e.g. slow@60s:20s:cpu=40ms (cpu, delay)"
        )
    which = parts.pop(0) if parts else "newest"
    if which not in WHICH and not _NAME.fullmatch(which):
        raise FaultSyntaxError(
            f"{spec!r}: {which!r} names no instance; allowed: newest, oldest or local-N"
        )
    if parts:
        raise FaultSyntaxError(f"{spec!r}: unexpected {':'.join(parts)!r}; allowed: {ALLOWED}")
    return Fault(number, kind, at, duration, which, tuple(settings), spec)


def _render(seconds: float) -> str:
    """As delay-echo's grammar takes it, to the microsecond (`40ms`, `1500us`)."""
    us = round(seconds * 1e6)
    return f"{us // 1000}ms" if us % 1000 == 0 else f"{us}us"


# -- applying them -----------------------------------------------------------------------------


@dataclass
class Applied:
    """One fault as it happened: its target and when each step came."""

    fault: Fault
    instance: Instance
    applied: float  # epoch seconds
    previous: dict[str, Any] = field(default_factory=dict)  # slow: the values restored
    restored: float | None = None
    ejected: float | None = None  # hang: HAProxy took it out of rotation
    readmitted: float | None = None  # hang: back in rotation after SIGCONT
    watching: bool = False  # hang: still following its HAProxy status


def control(url: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET (no body) or PUT an instance's /config; its JSON answer. OSError / HTTPError as urllib
    raises them, the latter with delay-echo's reason in its body."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"{url}/config", data=data, method="GET" if data is None else "PUT"
    )
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    with _OPENER.open(req, timeout=CONTROL_TIMEOUT) as r:
        answer: dict[str, Any] = json.loads(r.read())
        return answer


class FaultRunner(common.Runner[Fault]):
    """Applies `faults` at their times after `start()`; `close()` undoes whatever is still applied.

    `instances()` gives the fleet (the platform's list, read under its lock), `status(name)` a
    server's state in HAProxy (None when it has none).
    """

    thread_name = "platform-faults"

    def __init__(
        self,
        faults: Sequence[Fault],
        log: EventLog,
        instances: Callable[[], list[Instance]],
        status: Callable[[str], str | None],
        token: str,
        poll: float = POLL_INTERVAL,
    ):
        super().__init__(faults, log, poll)
        self._instances = instances
        self._status = status
        self._token = token
        self.applied: list[Applied] = []

    def step(self, elapsed: float) -> None:
        """What is due is applied or undone, hung instances watched."""
        while self.pending and self.pending[0].at <= elapsed:
            self._apply(self.pending.pop(0))
        for a in self.applied:
            due = a.restored is None and a.fault.duration and elapsed >= a.fault.end
            # A stopped instance cannot take its configuration back: after its SIGCONT, then.
            if due and not (a.fault.kind == "slow" and self._hung(a.instance)):
                self._restore(a)
            if a.watching:
                self._watch(a)

    def close(self, why: str = "the platform stopped first") -> None:
        super().close(why)

    def finish(self) -> None:
        # Hangs first, so that a slowed instance that is also hung can take its PUT.
        for a in sorted(self.applied, key=lambda a: a.fault.kind != "hang"):
            if a.restored is None and a.fault.kind != "kill":
                self._restore(a, at_shutdown=True)

    # -- steps -----------------------------------------------------------------------------------

    def _hung(self, inst: Instance) -> bool:
        return any(
            a.instance is inst and a.fault.kind == "hang" and a.restored is None
            for a in self.applied
        )

    def _target(self, f: Fault) -> Instance | None:
        serving = [
            i
            for i in self._instances()
            if "in_rotation" in i.times
            and not i.draining
            and not i.exited
            and i.poll() is None
            and not self._hung(i)
        ]
        if f.which in WHICH:
            serving.sort(key=lambda i: i.times["requested"])
            return (serving[-1] if f.which == "newest" else serving[0]) if serving else None
        return next((i for i in serving if i.name == f.which), None)

    def _apply(self, f: Fault) -> None:
        planned = self.planned(f)
        inst = self._target(f)
        if inst is None or inst.proc is None:
            names = [i.name for i in self._instances() if not i.exited]
            self.log.write(
                "fault_skipped",
                **planned,
                reason=f"no serving instance {f.which!r} (live: {', '.join(names) or 'none'})",
            )
            return
        out: dict[str, Any] = {}
        if f.kind == "slow":
            try:
                current = control(inst.url, self._token)["defaults"]
                previous = {k: current.get(k) for k, _ in f.settings}
                control(inst.url, self._token, dict(f.settings))
            except (OSError, ValueError, KeyError) as e:
                self.log.write("fault_failed", **planned, instance=inst.name, reason=_reason(e))
                return
            out = {"settings": dict(f.settings), "previous": previous}
        elif f.kind == "hang":
            inst.proc.send_signal(signal.SIGSTOP)
            out = {"signal": "SIGSTOP"}
        else:
            inst.proc.send_signal(signal.SIGKILL)
        applied = self.log.write(
            "fault_applied", **planned, instance=inst.name, pid=inst.pid, **out
        )
        a = Applied(f, inst, applied, previous=out.get("previous", {}))
        self.applied.append(a)
        if f.kind == "hang":
            a.watching = True
        if f.kind == "kill":
            # Its exit status, as the watch loop will also log it: SIGKILL leaves no doubt.
            try:
                rc = inst.proc.wait(2)
            except Exception as e:
                rc = None
                self.log.write("error", where="faults", message=f"{inst.name}: {e}")
            self.log.write("fault_exit", **f.fields(), instance=inst.name, exit_code=rc)

    def _restore(self, a: Applied, at_shutdown: bool = False) -> None:
        f, inst = a.fault, a.instance
        extra: dict[str, Any] = {"at_shutdown": True} if at_shutdown else {}
        gone = inst.proc is None or inst.proc.poll() is not None
        if f.kind == "hang":
            if not gone:
                assert inst.proc is not None
                inst.proc.send_signal(signal.SIGCONT)
            extra["signal"] = "SIGCONT"
        elif not gone:
            try:
                control(inst.url, self._token, a.previous)
                extra["restored"] = a.previous
            except (OSError, ValueError) as e:
                extra["error"] = _reason(e)
        if gone:
            extra["error"] = "the instance had exited"
        a.restored = self.log.write("fault_restored", **f.fields(), instance=inst.name, **extra)
        if f.kind == "hang" and (gone or at_shutdown):
            a.watching = False

    def _watch(self, a: Applied) -> None:
        """HAProxy's view of a hung instance: when its check took it out, when it put it back."""
        try:
            status = self._status(a.instance.name)
        except OSError:
            return  # the runtime API did not answer this time: the next tick asks again
        up = status is not None and status.startswith("UP")
        if a.ejected is None and status is not None and not up:
            a.ejected = self.log.write(
                "fault_ejected", **a.fault.fields(), instance=a.instance.name, status=status
            )
        elif a.restored is not None and up:
            if a.ejected is not None:
                a.readmitted = self.log.write(
                    "fault_readmitted", **a.fault.fields(), instance=a.instance.name, status=status
                )
            a.watching = False  # back, or never taken out: the analysis says which
        elif a.restored is not None and time.time() - a.restored > READMIT_TIMEOUT:
            a.watching = False
        if a.instance.poll() is not None:
            a.watching = False


def _reason(e: BaseException) -> str:
    if isinstance(e, urllib.error.HTTPError):
        body = e.read().decode(errors="replace")[:300]
        return f"HTTP {e.code}: {body}"
    return f"{type(e).__name__}: {e}"
