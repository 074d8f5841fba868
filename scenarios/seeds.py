"""Scenario seeds: the axes a generated world varies along, and the deterministic bank.

A seed is pure data. Everything random about a world is drawn from ``rng_seed``, so the same
seed always yields the same records, outcomes and ranking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

IMPORTANCE_SHAPES = ("uniform", "clustered", "bimodal", "exponential", "flat")
ACCESS_PATTERNS = ("all_recent", "half_stale", "mostly_stale", "interleaved")
MIN_RECORDS, MAX_RECORDS = 5, 100
DEFAULT_BANK_SIZE = 50
DEFAULT_BASE_SEED = 20261123
DEFAULT_VALIDATION_FRACTION = 0.3
MAX_DRAWS_PER_SEED = 10


class DegenerateSeedError(ValueError):
    """A seed whose world cannot rank anything meaningfully (too few relevant records)."""


@dataclass(frozen=True)
class ScenarioSeed:
    """One point in scenario space; ``seed_id`` is its identity within a bank."""

    family: str
    seed_id: int
    rng_seed: int
    record_count: int
    importance_shape: str
    access_pattern: str
    outcome_frequency: float
    noise_ratio: float
    link_density: float
    age_spread_days: float

    def __post_init__(self) -> None:
        if not MIN_RECORDS <= self.record_count <= MAX_RECORDS:
            raise DegenerateSeedError(
                f"record_count must be in [{MIN_RECORDS}, {MAX_RECORDS}], got {self.record_count}"
            )
        if self.importance_shape not in IMPORTANCE_SHAPES:
            raise ValueError(
                f"importance_shape must be one of {IMPORTANCE_SHAPES}, "
                f"got {self.importance_shape!r}"
            )
        if self.access_pattern not in ACCESS_PATTERNS:
            raise ValueError(
                f"access_pattern must be one of {ACCESS_PATTERNS}, got {self.access_pattern!r}"
            )
        for name in ("outcome_frequency", "noise_ratio", "link_density"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.age_spread_days <= 0:
            raise ValueError(f"age_spread_days must be > 0, got {self.age_spread_days}")

    @property
    def label(self) -> str:
        """Stable human-readable id, used in trial attrs and reports."""
        return f"{self.family}:{self.seed_id}"

    def rng(self, stream: int = 0) -> np.random.Generator:
        """An independent generator per ``stream`` so adding a draw never shifts the others."""
        return np.random.default_rng([self.rng_seed, stream])

    def to_dict(self) -> dict:
        return asdict(self)


def draw_seed(family: str, seed_id: int, *, base_seed: int = DEFAULT_BASE_SEED) -> ScenarioSeed:
    """Draw the axes of seed ``seed_id`` of ``family`` from ``(base_seed, family, seed_id)``."""
    family_salt = int.from_bytes(family.encode(), "little") % (2**31)
    rng = np.random.default_rng([base_seed, family_salt, seed_id])
    return ScenarioSeed(
        family=family,
        seed_id=seed_id,
        rng_seed=int(rng.integers(0, 2**31 - 1)),
        record_count=int(rng.integers(MIN_RECORDS, MAX_RECORDS + 1)),
        importance_shape=str(rng.choice(IMPORTANCE_SHAPES)),
        access_pattern=str(rng.choice(ACCESS_PATTERNS)),
        outcome_frequency=round(float(rng.uniform(0.1, 0.9)), 4),
        noise_ratio=round(float(rng.uniform(0.0, 0.5)), 4),
        link_density=round(float(rng.uniform(0.05, 0.6)), 4),
        age_spread_days=round(float(np.exp(rng.uniform(np.log(2.0), np.log(180.0)))), 3),
    )


def default_bank(
    family: str,
    *,
    size: int = DEFAULT_BANK_SIZE,
    base_seed: int = DEFAULT_BASE_SEED,
    accept: Callable[[ScenarioSeed], bool] | None = None,
) -> list[ScenarioSeed]:
    """The deterministic bank of ``size`` seeds for ``family``.

    Seed ids count up from 0; an id whose seed ``accept`` rejects (a degenerate world) is
    skipped at generation, so the bank never holds a scenario that cannot rank anything.
    """
    if size < 2:
        raise ValueError(f"bank size must be >= 2, got {size}")
    bank: list[ScenarioSeed] = []
    for seed_id in range(MAX_DRAWS_PER_SEED * size):
        seed = draw_seed(family, seed_id, base_seed=base_seed)
        if accept is None or accept(seed):
            bank.append(seed)
            if len(bank) == size:
                return bank
    raise DegenerateSeedError(
        f"family {family!r}: fewer than {size} usable seeds in {MAX_DRAWS_PER_SEED * size} draws"
    )


def is_validation_id(
    seed_id: int, validation_fraction: float = DEFAULT_VALIDATION_FRACTION
) -> bool:
    """Fixed split by seed id: of every 10 consecutive ids the last ``10*fraction`` validate."""
    return (seed_id % 10) >= round(10 * (1.0 - validation_fraction))


def split_bank(
    bank: list[ScenarioSeed], validation_fraction: float = DEFAULT_VALIDATION_FRACTION
) -> tuple[list[ScenarioSeed], list[ScenarioSeed]]:
    """Split a bank into (train, validation) by seed id; never by anything a trial sees."""
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    train = [s for s in bank if not is_validation_id(s.seed_id, validation_fraction)]
    validation = [s for s in bank if is_validation_id(s.seed_id, validation_fraction)]
    return train, validation
