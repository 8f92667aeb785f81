"""What every FAULTS grammar and runner shares (the local platform's kill/hang/slow, the emulated
networks' partition/degrade): the error that says what is allowed, the fault's times, the rule that
two faults undone by the same step may not overlap on one target (the first one's undo would end
the second early), and `Runner`, the clock: a thread that looks at it every `poll` seconds from
the load's start and lets the subclass apply and undo what is due (`step`), and at `close` skips
what never came and undoes what is still applied (`finish`)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from . import durations
from .events import EventLog


class FaultSyntaxError(ValueError):
    """A FAULTS value that is refused, with what is allowed."""


class Timed(Protocol):
    @property
    def at(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def spec(self) -> str: ...
    def fields(self) -> dict[str, Any]: ...


F = TypeVar("F", bound=Timed)


def duration(spec: str, what: str, text: str) -> float:
    """Seconds of one duration in fault `spec` (`what` names the field: T, DUR, cpu…)."""
    try:
        return durations.seconds(text)
    except ValueError:
        raise FaultSyntaxError(
            f"{spec!r}: {what}={text!r} is not a duration; allowed: e.g. 30s, 1m30s, 250ms, 0"
        ) from None


def split(spec: str, kinds: Iterable[str], allowed: str) -> tuple[str, list[str]]:
    """`KIND@T:…` → (kind, the `:`-separated fields after `@`)."""
    kinds = tuple(kinds)
    kind, at_sign, rest = spec.partition("@")
    if not at_sign or kind not in kinds:
        raise FaultSyntaxError(
            f"{spec!r} is not KIND@T…; kinds: {' | '.join(kinds)}; allowed: {allowed}"
        )
    return kind, rest.split(":")


def no_overlaps(
    faults: Iterable[F], group: Callable[[F], tuple[str, ...]], what: Callable[[F], str]
) -> None:
    """Refuses two faults of one `group` (a kind, a pair of hosts: a tuple of names, the same
    for every fault of the group) whose spans overlap; `what` names the group in the message
    (`one {what} at a time`)."""
    ordered = sorted(faults, key=lambda f: (group(f), f.at))
    for _, same in itertools.groupby(ordered, key=group):
        for a, b in itertools.pairwise(same):
            if b.at < a.end:
                raise FaultSyntaxError(
                    f"{a.spec!r} and {b.spec!r} overlap; allowed: one {what(a)} at a time "
                    f"(the second may start at {a.end:g}s or later)"
                )


class Runner(Generic[F]):
    """Applies faults at their times after `start()`; `close()` undoes whatever is still applied.
    Subclasses implement `step(elapsed)` (apply what is due from `self.pending`, undo what has
    ended) and `finish()` (undo what is still applied); both run under `self.lock`."""

    thread_name = "faults"

    def __init__(self, faults: Sequence[F], log: EventLog, poll: float):
        self.faults = tuple(faults)
        self.log = log
        self.poll = poll
        self.pending: list[F] = sorted(self.faults, key=lambda f: f.at)
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.t0 = 0.0  # monotonic
        self.t0_epoch = 0.0
        self.closed = False

    def start(self, t0: float, t0_epoch: float, background: bool = True) -> None:
        """Times the faults from `t0` (monotonic; `t0_epoch` the same instant as epoch seconds) on
        a thread of its own; without `background`, only calls to `tick` move them on."""
        self.t0, self.t0_epoch = t0, t0_epoch
        if self.faults and background:
            self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.tick(time.monotonic())
            except Exception as e:
                # The run goes on, but without this step: say so rather than end faults silently.
                self.log.write("error", where="faults", message=f"{type(e).__name__}: {e}")

    def tick(self, now: float) -> None:
        """One look at the clock."""
        with self.lock:
            if not self.closed:
                self.step(now - self.t0)

    def close(self, why: str = "the run stopped first") -> None:
        """Stops the thread, then undoes every fault still applied (also when the run failed)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self.lock:
            self.closed = True
            for f in self.pending:
                self.log.write("fault_skipped", **f.fields(), reason=why)
            self.pending = []
            self.finish()

    def planned(self, f: F) -> dict[str, Any]:
        """A fault's fields with when it was due (epoch and seconds after the load began)."""
        return {**f.fields(), "planned": round(self.t0_epoch + f.at, 3), "planned_s": f.at}

    def step(self, elapsed: float) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        raise NotImplementedError
