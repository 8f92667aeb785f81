"""Faults on an emulated network, caused at known times (`MESH_FAULTS=` of make mesh-local, and of
the studies): `partition@20s:10s:eu-us` cuts eu from us for 10 s from 20 s after the load began;
`degrade@40s:10s:eu-ap:+30ms` adds 30 ms to each direction of the eu–ap link for 10 s.

`parse_faults` judges the knob against the topology before anything starts. `FaultRunner` applies
each fault on a thread of its own, timed from the load's start, undoes it when its span ends, and
undoes whatever is still applied at `close()`, so a run that stops for any reason leaves no link cut
or slowed. Every step is an event in the run folder's faults.jsonl (core/events.py): `fault_applied`
(with the planned time, the pair, and when the cut or delay was in force), `fault_restored`,
`fault_failed`, `fault_skipped`, each with the fault's `fault` number, `kind`, `spec` and `pair`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from loadtests.core import faults as common
from loadtests.core.events import EventLog
from loadtests.core.faults import FaultSyntaxError

from . import impair
from .lab import Lab

KINDS = ("partition", "degrade")
ALLOWED = (
    "comma-separated faults, each partition@T:DUR:A-B or degrade@T:DUR:A-B:+X; T seconds after "
    "the load began, DUR and X durations (10s, 250ms); A-B two hosts (or A/B), for a degrade two "
    "joined by a link; e.g. partition@20s:10s:eu-us,degrade@40s:10s:eu-ap:+30ms"
)
POLL_INTERVAL = 0.02


@dataclass(frozen=True)
class Fault:
    number: int  # its place in the knob, from 1: the `fault` of its events
    kind: str
    at: float  # seconds after the load began
    duration: float
    a: str
    b: str
    extra_ms: float = 0.0  # degrade: added to each direction
    spec: str = ""

    @property
    def end(self) -> float:
        return self.at + self.duration

    @property
    def pair(self) -> str:
        return f"{self.a}-{self.b}"

    def fields(self) -> dict[str, Any]:
        return {"fault": self.number, "kind": self.kind, "spec": self.spec, "pair": self.pair}


def parse_faults(
    text: str, hosts: Sequence[str], linked: Callable[[str, str], bool]
) -> tuple[Fault, ...]:
    """Every fault in the knob, in the order given; FaultSyntaxError with what is allowed.
    `linked(a, b)`: whether a link joins the two (a degrade needs one)."""
    faults = [
        _parse_one(n, part.strip(), hosts, linked)
        for n, part in enumerate((p for p in text.split(",") if p.strip()), 1)
    ]
    # The undo of one would end the other early: one fault per pair at a time.
    common.no_overlaps(
        faults, lambda f: tuple(sorted((f.a, f.b))), lambda f: f"fault on {f.a}–{f.b}"
    )
    return tuple(faults)


def _parse_one(
    number: int, spec: str, hosts: Sequence[str], linked: Callable[[str, str], bool]
) -> Fault:
    kind, parts = common.split(spec, KINDS, ALLOWED)
    if len(parts) != (3 if kind == "partition" else 4):
        form = "partition@T:DUR:A-B" if kind == "partition" else "degrade@T:DUR:A-B:+X"
        raise FaultSyntaxError(f"{spec!r} is not {form}; allowed: {ALLOWED}")
    at = common.duration(spec, "T", parts[0])
    duration = common.duration(spec, "DUR", parts[1])
    if duration <= 0:
        raise FaultSyntaxError(f"{spec!r}: the duration must be above 0")
    a, b = _pair(spec, parts[2], hosts)
    extra = 0.0
    if kind == "degrade":
        if not linked(a, b):
            raise FaultSyntaxError(
                f"{spec!r}: no link joins {a} and {b}; a degrade adds delay to a link "
                "(a partition can cut any two hosts)"
            )
        if not parts[3].startswith("+"):
            raise FaultSyntaxError(f"{spec!r}: the delay added is written +X, e.g. +30ms")
        extra = common.duration(spec, "X", parts[3][1:]) * 1000
        if not 0 < extra <= 60_000:
            raise FaultSyntaxError(f"{spec!r}: the delay added must be above 0 and at most 60s")
    return Fault(number, kind, at, duration, a, b, extra, spec)


def _pair(spec: str, text: str, hosts: Sequence[str]) -> tuple[str, str]:
    """`A-B` or `A/B`, with host names that may hold `-` themselves: the one split into two
    known hosts."""
    seps = ["/"] if "/" in text else ["-"]
    found = [
        (text[:i], text[i + 1 :])
        for i, c in enumerate(text)
        if c in seps and text[:i] in hosts and text[i + 1 :] in hosts
    ]
    if len(found) != 1 or found[0][0] == found[0][1]:
        why = "names one host twice" if found and found[0][0] == found[0][1] else "is not two hosts"
        if len(found) > 1:
            why = "splits into two hosts more than one way: write A/B"
        raise FaultSyntaxError(f"{spec!r}: {text!r} {why}; hosts: {', '.join(hosts)}")
    return found[0]


class FaultRunner(common.Runner[Fault]):
    """Applies `faults` at their times after `start()`; `close()` undoes whatever is still applied.
    `act(fault, on)` applies (on) or undoes (not on) one fault; by default impair's on `lab`."""

    thread_name = "netlab-faults"

    def __init__(
        self,
        faults: Sequence[Fault],
        log: EventLog,
        lab: Lab | None = None,
        act: Callable[[Fault, bool], None] | None = None,
        poll: float = POLL_INTERVAL,
    ):
        super().__init__(faults, log, poll)
        if act is None:
            assert lab is not None, "a lab, or what to do"
            act = _on_lab(lab)
        self._act = act
        self._applied: list[Fault] = []

    def step(self, elapsed: float) -> None:
        while self.pending and self.pending[0].at <= elapsed:
            self._apply(self.pending.pop(0))
        for f in [f for f in self._applied if elapsed >= f.end]:
            self._undo(f)

    def finish(self) -> None:
        for f in list(self._applied):
            self._undo(f, at_shutdown=True)

    def _apply(self, f: Fault) -> None:
        extra = {"extra_ms": f.extra_ms} if f.kind == "degrade" else {}
        try:
            self._act(f, True)
        except Exception as e:  # the run goes on; the log says this fault did not happen
            self.log.write("fault_failed", **self.planned(f), reason=f"{type(e).__name__}: {e}")
            return
        self.log.write("fault_applied", **self.planned(f), **extra)
        self._applied.append(f)

    def _undo(self, f: Fault, at_shutdown: bool = False) -> None:
        self._applied.remove(f)
        out: dict[str, Any] = {"at_shutdown": True} if at_shutdown else {}
        try:
            self._act(f, False)
        except Exception as e:
            out["error"] = f"{type(e).__name__}: {e}"
        self.log.write("fault_restored", **f.fields(), **out)


def _on_lab(lab: Lab) -> Callable[[Fault, bool], None]:
    def act(f: Fault, on: bool) -> None:
        if f.kind == "partition":
            (impair.partition if on else impair.heal)(lab, f.a, f.b)
        else:
            impair.degrade(lab, f.a, f.b, f.extra_ms if on else 0.0)

    return act
