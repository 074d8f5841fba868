"""Sequential paired looks on a fixed held-out pool: stop when the answer is clear.

A candidate and its reference are compared on nested prefixes of fixed pools (one per family,
in seed order, fixed before any data): look 1 uses ``FIRST_LOOK`` scenarios per family, each
later look ``LOOK_GROWTH`` times as many, every family the same number (each look's rounds are
then "one scenario of every family", the unit the betting tests of ``betting.py`` consume).

The tests are anytime-valid (``betting.py``): a look may be taken whenever, stopping early for
efficacy or futility costs nothing, and no share of the level is set aside per look.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from scenarios import ScenarioSeed
from tuner.decisions.comparison import PairedComparison
from tuner.decisions.power import FIRST_LOOK, LOOK_GROWTH, look_sizes
from tuner.evaluation.engine import Request

Compare = Callable[[Mapping[str, Sequence[ScenarioSeed]], float], PairedComparison]
Requests = Callable[[Mapping[str, Sequence[ScenarioSeed]]], list[Request]]
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
    """One look: scenarios per family and what it found."""

    index: int
    sizes: dict[str, int]
    comparison: PairedComparison
    p_value: float = 1.0  # the stage's anytime p-value at this look (H0: mean <= the bar)

    def to_dict(self) -> dict:
        c = self.comparison
        return {"look": self.index, "sizes": self.sizes, "mean": c.mean,
                "p_value": self.p_value, "n": c.n, "n_nonzero": c.n_nonzero,
                "families": {f: fc.mean for f, fc in c.families.items()},
                "errors": c.errors.to_dict()}


class SequentialComparison:
    """The looks of one candidate against its reference, run on demand.

    Each look evaluates only its new scenarios (earlier ones are memoised). The look sizes are
    fixed by the pool's capacity before any data.
    """

    def __init__(self, pool: SeedPool, compare: Compare, *, level: float = 1.0,
                 first: int = FIRST_LOOK, requests: Requests | None = None) -> None:
        self.pool, self.compare, self.level = pool, compare, level
        self.requests = requests
        self.per_family = look_sizes(pool.capacity, first=first, growth=LOOK_GROWTH)
        self.records: list[LookRecord] = []

    @property
    def planned(self) -> int:
        return len(self.per_family)

    @property
    def final_size(self) -> int:
        """Scenarios per family at the last planned look (rounds, when the pool ends)."""
        return self.per_family[-1]

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
        index = min(len(self.records), self.planned - 1)
        n = min(self.per_family[index], self.pool.capacity)
        return {f: n for f in self.pool.families}

    def next_requests(self) -> list[Request]:
        """What the next look will evaluate (``requests`` of its seeds; none when not given),
        so a round of several tests can send all of them as one pool request."""
        if self.requests is None or self.done:
            return []
        sizes = self._next_sizes()
        return self.requests({f: self.pool.prefix(f, sizes[f]) for f in self.pool.families})

    def next_look(self) -> LookRecord:
        """Take the next planned look and record it."""
        index = len(self.records)
        sizes = self._next_sizes()
        seeds = {f: self.pool.prefix(f, sizes[f]) for f in self.pool.families}
        record = LookRecord(index + 1, sizes, self.compare(seeds, self.level))
        self.records.append(record)
        return record

    def looks_summary(self) -> list[dict]:
        return [r.to_dict() for r in self.records]


def walk_prefixes(sizes: Mapping[str, int], prefix: Prefix,
                  compare: Callable[[dict[str, list[ScenarioSeed]]], PairedComparison],
                  stop: Callable[[PairedComparison], bool]
                  ) -> tuple[PairedComparison, dict[str, list[ScenarioSeed]]]:
    """Compare on nested prefixes (FIRST_LOOK, then LOOK_GROWTH times more, each family capped
    at its size) until ``stop`` says the answer is clear or the sizes are reached: the last
    comparison and the seeds it used. For stages judged once at the end (replication, the
    joint check) that may end early on anytime-valid evidence."""
    planned = look_sizes(max(sizes.values(), default=1), first=FIRST_LOOK, growth=LOOK_GROWTH)
    for n in planned:
        seeds = {f: prefix(f, min(n, cap)) for f, cap in sizes.items()}
        comparison = compare(seeds)
        if n < planned[-1] and stop(comparison):
            break
    return comparison, seeds
