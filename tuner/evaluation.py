"""Evaluate one set of constant values on a list of scenarios: the single path every caller uses.

The objective, the validator and grid sweeps all score values through ``evaluate_values``, so a
value means the same thing wherever it is measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from scenarios import ScenarioResult, ScenarioSeed, evaluate_scenario, split_bank
from scenarios.runner import family_bank
from scenarios.seeds import DEFAULT_BANK_SIZE, DEFAULT_BASE_SEED, DEFAULT_VALIDATION_FRACTION
from tuner.catalog import Constant
from tuner.overrides import applied_constants


@dataclass(frozen=True)
class BankSpec:
    """Which scenario bank a study draws from; part of a study's identity."""

    size: int = DEFAULT_BANK_SIZE
    base_seed: int = DEFAULT_BASE_SEED
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION

    def pools(self, family: str) -> tuple[list[ScenarioSeed], list[ScenarioSeed]]:
        """(train, validation) seeds of ``family``; validation seeds never reach a study."""
        bank = family_bank(family, size=self.size, base_seed=self.base_seed)
        return split_bank(bank, self.validation_fraction)

    @property
    def tag(self) -> str:
        return f"b{self.base_seed}n{self.size}"


@dataclass(frozen=True)
class Evaluation:
    """Per-scenario results of one set of values, with the aggregates a study records."""

    results: tuple[ScenarioResult, ...]

    @property
    def mean_ndcg(self) -> float:
        """Mean nDCG@5 over *every* scenario: failed ones count as 0, never dropped."""
        return float(np.mean([r.ndcg for r in self.results])) if self.results else 0.0

    @property
    def mean_spearman(self) -> float:
        return float(np.mean([r.spearman for r in self.results])) if self.results else -1.0

    @property
    def errors(self) -> dict[str, str]:
        return {r.label: r.error for r in self.results if r.error}

    def by_label(self) -> dict[str, float]:
        return {r.label: r.ndcg for r in self.results}


def evaluate_values(
    values: Mapping[Constant, float], seeds: Sequence[ScenarioSeed]
) -> Evaluation:
    """Apply ``values`` (restored afterwards, whatever happens) and run every seed."""
    with applied_constants(values) as arguments:
        results = tuple(evaluate_scenario(seed, arguments=arguments) for seed in seeds)
    return Evaluation(results=results)


def sample_seeds(
    pool: Sequence[ScenarioSeed], *, batch: int | None, study_seed: int, trial_number: int
) -> list[ScenarioSeed]:
    """The train scenarios trial ``trial_number`` evaluates: reproducible per (seed, number).

    The whole pool when ``batch`` is missing or not smaller than it; otherwise a sample drawn
    without replacement by an RNG seeded from the study seed and the trial number.
    """
    if batch is None or batch >= len(pool):
        return list(pool)
    rng = np.random.default_rng([study_seed, trial_number])
    picked = np.sort(rng.choice(len(pool), size=batch, replace=False))
    return [pool[i] for i in picked]
