"""Scenario seeds: the axes a generated world varies along, and the deterministic bank.

A seed is pure data. Everything random about a world is drawn from ``rng_seed``, so the same
seed always yields the same records, outcomes and ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace

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
    knobs: tuple[tuple[str, float], ...] = ()
    """World-knob values that differ from the family's declared defaults, as sorted
    ``(name, value)`` pairs (``scenarios/knobs.py``): empty in a default world, so a default
    world's seed is the seed it was before knobs existed. Same label: a knob variant of a
    scenario is paired with the scenario itself."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "knobs", _normalise_knobs(self.knobs))
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

    def knob(self, name: str, default: float) -> float:
        """This world's value of knob ``name``; ``default`` when the seed does not set it."""
        for key, value in self.knobs:
            if key == name:
                return value
        return float(default)

    def with_knobs(self, values: Mapping[str, float]) -> ScenarioSeed:
        """A copy in the world variant ``values`` (merged over this seed's own knob values).

        Names and ranges are checked against the family's declared knobs when the family is
        registered; a value equal to the declared default is dropped, so asking for the default
        world gives back a seed equal to the plain one (same result-cache key, same scores).
        """
        if not values:
            return self
        merged = dict(self.knobs)
        merged.update({str(k): float(v) for k, v in values.items()})
        declared = _declared_knobs(self.family)
        if declared is not None:
            from scenarios.knobs import find_knob

            for name in list(merged):
                knob = find_knob(declared, name, family=self.family)
                merged[name] = knob.check(merged[name])
                if merged[name] == float(knob.default):
                    del merged[name]
        return replace(self, knobs=tuple(sorted(merged.items())))

    def to_dict(self) -> dict:
        data = asdict(self)
        data["knobs"] = dict(self.knobs)
        return data


def _normalise_knobs(knobs: object) -> tuple[tuple[str, float], ...]:
    """Sorted ``(name, float)`` pairs from pairs or a mapping (``to_dict`` gives a mapping)."""
    pairs = knobs.items() if isinstance(knobs, Mapping) else knobs
    out = tuple(sorted((str(name), float(value)) for name, value in pairs))  # type: ignore[union-attr]
    names = [name for name, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"a knob is set twice: {names}")
    return out


def _declared_knobs(family: str) -> tuple | None:
    """The family's declared knobs, or None when no family of that name was declared."""
    from scenarios.knobs import declared

    return declared(family)


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
    knobs: Mapping[str, float] | None = None,
) -> list[ScenarioSeed]:
    """The deterministic bank of ``size`` seeds for ``family``.

    Seed ids count up from 0; an id whose seed ``accept`` rejects (a degenerate world) is
    skipped at generation, so the bank never holds a scenario that cannot rank anything.
    ``knobs`` draws the bank in that world variant (``ScenarioSeed.with_knobs``): each seed is
    set to it before ``accept`` judges it, so a seed the variant leaves degenerate is skipped.
    """
    if size < 2:
        raise ValueError(f"bank size must be >= 2, got {size}")
    bank: list[ScenarioSeed] = []
    for seed_id in range(MAX_DRAWS_PER_SEED * size):
        seed = draw_seed(family, seed_id, base_seed=base_seed)
        if knobs:
            seed = seed.with_knobs(knobs)
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
