"""Synthetic paired comparisons for the decision engine's unit tests (no popoto, no Redis)."""

from __future__ import annotations

import numpy as np

from scenarios.runner import ScenarioResult
from tuner.decisions.comparison import PairedComparison, compare_evaluations
from tuner.decisions.sequential import SeedPool, SequentialComparison
from tuner.evaluation.engine import Evaluation


def evaluation(scores: dict[str, float]) -> Evaluation:
    return Evaluation(tuple(ScenarioResult(label=k, ndcg=v, spearman=0.0, top=(), seconds=0.0)
                            for k, v in scores.items()))


class Landscape:
    """Per family, scenario i's delta is ``effect + sd * z_i`` with z_i seeded: a fixed pool.

    ``changed`` < 1 leaves that share of scenarios untouched (delta exactly 0), the way a
    threshold constant changes only the scenarios where it binds.
    """

    def __init__(self, effects: dict[str, float], sd: float | dict[str, float], *, seed: int = 0,
                 changed: float = 1.0, size: int = 2000) -> None:
        self.effects, self.size = effects, size
        sds = sd if isinstance(sd, dict) else {f: sd for f in effects}
        rng = np.random.default_rng(seed)
        self.deltas = {}
        for family, effect in effects.items():
            z = rng.standard_normal(size)
            mask = rng.random(size) < changed
            self.deltas[family] = np.where(mask, effect + sds[family] * z, 0.0)

    def pool(self) -> SeedPool:
        return SeedPool(tuple(self.effects), self.size,
                        lambda family, n: [f"{family}:{i}" for i in range(n)])

    def compare(self, seeds: dict[str, list], level: float) -> PairedComparison:
        candidate, reference = {}, {}
        for family, labels in seeds.items():
            idx = [int(label.split(":")[1]) for label in labels]
            candidate[family] = evaluation({f"{family}:{i}": 0.5 + self.deltas[family][i]
                                            for i in idx})
            reference[family] = evaluation({f"{family}:{i}": 0.5 for i in idx})
        return compare_evaluations(candidate, reference, level=level)

    def test(self, capacity: int | None = None) -> SequentialComparison:
        pool = self.pool()
        if capacity is not None:
            pool = SeedPool(pool.families, capacity, pool.prefix)
        return SequentialComparison(pool, self.compare, level=1.0)
