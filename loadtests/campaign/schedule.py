"""The order a campaign's runs go in, and each run's seeds: all from the campaign's seed.

Blocked randomisation: every repetition runs each configuration once, in an order shuffled anew
for that repetition. A drift of the machine over the campaign (a neighbour, thermal state, a
platform's time of day) then falls on every configuration alike instead of on whichever ran last,
and no configuration runs twice before another has run once.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from .spec import Campaign

# The knobs that seed a run's draws (a configuration may fix one itself). The per-request draws
# are not seeded: one seed for every request would give every request the same draw.
SEED_KNOBS = ("COLD_START_SEED",)


@dataclass(frozen=True)
class Slot:
    index: int  # 1-based position in the campaign
    repetition: int  # 1-based
    config: str
    seeds: tuple[tuple[str, str], ...]

    @property
    def key(self) -> str:
        """The run's name inside the campaign folder."""
        return f"{self.index:03d}-{self.config}-r{self.repetition}"


def derived_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed from the campaign's and the run's identity, the same on every machine."""
    text = "/".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def plan(campaign: Campaign) -> list[Slot]:
    rng = random.Random(campaign.seed)
    names = [c.name for c in campaign.configs]
    slots: list[Slot] = []
    for rep in range(1, campaign.repetitions + 1):
        order = names[:]
        rng.shuffle(order)
        for name in order:
            given = campaign.config(name).env()
            seeds = tuple(
                (knob, given.get(knob) or str(derived_seed(campaign.seed, name, rep, knob)))
                for knob in SEED_KNOBS
            )
            slots.append(Slot(len(slots) + 1, rep, name, seeds))
    return slots
