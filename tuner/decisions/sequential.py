"""Sequential paired looks on a fixed held-out pool: stop when the answer is clear.

A candidate and its reference are compared on nested prefixes of fixed pools (one per family,
in seed order, fixed before any data): look 1 uses ``FIRST_LOOK`` scenarios per family, each
later look doubles the total. From look 2 on, the new scenarios go to families in proportion to
the root-mean-square delta seen so far (Neyman allocation): a family where the value changes
nothing gets no more, a noisy one gets more, so a clear effect in one family is not drowned by
noise in the others. The allocation depends only on the deltas' sizes, never on their signs,
so the sign-flip test stays exact at every look.

Each look is judged at its own, fixed share of the level (``power.look_weights``): stopping
early, for efficacy or futility, never costs validity (looks that do not happen never reject).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from scenarios import ScenarioSeed
from tuner.decisions.comparison import PairedComparison
from tuner.decisions.power import FIRST_LOOK, look_sizes, look_weights

Compare = Callable[[Mapping[str, Sequence[ScenarioSeed]], float], PairedComparison]
Prefix = Callable[[str, int], list[ScenarioSeed]]


@dataclass(frozen=True)
class SeedPool:
    """Where a sequential test draws its scenarios: the first ``n`` of a fixed order."""

    families: tuple[str, ...]
    capacity: int
    prefix: Prefix
    name: str = "held-out"


@dataclass
class LookRecord:
    """One look: scenarios per family, what it found, the share of the level it is judged at."""

    index: int
    sizes: dict[str, int]
    comparison: PairedComparison
    weight: float

    def to_dict(self) -> dict:
        c = self.comparison
        return {"look": self.index, "sizes": self.sizes, "weight": self.weight, "mean": c.mean,
                "p_value": c.p_value, "ci_low": c.ci_low, "ci_high": c.ci_high, "n": c.n,
                "n_nonzero": c.n_nonzero,
                "families": {f: fc.mean for f, fc in c.families.items()}}


def neyman_sizes(total: int, previous: Mapping[str, int], rms: Mapping[str, float],
                 capacity: int) -> dict[str, int]:
    """Split ``total`` scenarios over families in proportion to ``rms``, never below the
    previous look's size nor above the pool; what a full family cannot take goes elsewhere."""
    sizes = dict(previous)
    for _ in range(len(sizes) + 1):
        open_families = [f for f in sizes if sizes[f] < capacity and rms.get(f, 0.0) > 0]
        left = total - sum(sizes.values())
        if left <= 0 or not open_families:
            break
        spread = sum(rms[f] for f in open_families)
        for f in open_families:
            sizes[f] = min(capacity, sizes[f] + math.ceil(left * rms[f] / spread))
    return sizes


def root_mean_square(comparison: PairedComparison) -> dict[str, float]:
    """Per family, sqrt(mean delta**2): the delta's size with its sign ignored."""
    out = {}
    for family, fc in comparison.families.items():
        values = np.fromiter(fc.deltas.values(), dtype=float)
        out[family] = float(np.sqrt(np.mean(values ** 2))) if values.size else 0.0
    return out


class SequentialComparison:
    """The looks of one candidate against its reference, run on demand.

    Each look evaluates only its new scenarios (earlier ones are memoised). ``weights`` are
    fixed by the pool's capacity before any data, one per planned look, summing to 1.
    """

    def __init__(self, pool: SeedPool, compare: Compare, *, level: float,
                 first: int = FIRST_LOOK) -> None:
        self.pool, self.compare, self.level = pool, compare, level
        self.per_family = look_sizes(pool.capacity, first=first)
        self.weights = look_weights(self.per_family)
        self.records: list[LookRecord] = []

    @property
    def planned(self) -> int:
        return len(self.per_family)

    @property
    def last(self) -> LookRecord | None:
        return self.records[-1] if self.records else None

    @property
    def done(self) -> bool:
        """Every planned look taken, or the next one would add no scenario."""
        if len(self.records) >= self.planned:
            return True
        return bool(self.records) and self._next_sizes() == self.records[-1].sizes

    def _next_sizes(self) -> dict[str, int]:
        index = len(self.records)
        if index == 0:
            return {f: min(self.per_family[0], self.pool.capacity) for f in self.pool.families}
        previous = self.records[-1]
        total = self.per_family[index] * len(self.pool.families)
        return neyman_sizes(total, previous.sizes, root_mean_square(previous.comparison),
                            self.pool.capacity)

    def next_look(self) -> LookRecord:
        """Take the next planned look and record it."""
        index = len(self.records)
        sizes = self._next_sizes()
        seeds = {f: self.pool.prefix(f, sizes[f]) for f in self.pool.families}
        weight = self.weights[index]
        record = LookRecord(index + 1, sizes, self.compare(seeds, weight * self.level), weight)
        self.records.append(record)
        return record

    def looks_summary(self) -> list[dict]:
        return [r.to_dict() for r in self.records]
