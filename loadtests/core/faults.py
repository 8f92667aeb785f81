"""What every FAULTS grammar shares (the local platform's kill/hang/slow, the emulated networks'
partition/degrade): the error that says what is allowed, the fault's times, and the rule that two
faults undone by the same step may not overlap on one target (the first one's undo would end the
second early)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterable
from typing import Protocol, TypeVar

from . import durations


class FaultSyntaxError(ValueError):
    """A FAULTS value that is refused, with what is allowed."""


class Timed(Protocol):
    @property
    def at(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def spec(self) -> str: ...


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
    faults: Iterable[F], group: Callable[[F], Hashable], what: Callable[[F], str]
) -> None:
    """Refuses two faults of one `group` (a kind, a pair of hosts) whose spans overlap; `what`
    names the group in the message (`one {what} at a time`)."""
    ordered = sorted(faults, key=lambda f: (repr(group(f)), f.at))
    for _, same in itertools.groupby(ordered, key=lambda f: repr(group(f))):
        for a, b in itertools.pairwise(same):
            if b.at < a.end:
                raise FaultSyntaxError(
                    f"{a.spec!r} and {b.spec!r} overlap; allowed: one {what(a)} at a time "
                    f"(the second may start at {a.end:g}s or later)"
                )
