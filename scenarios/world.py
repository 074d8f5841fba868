"""Latent worlds: what is really useful at query time, and the noisy signals popoto observes.

A world is generated from its seed alone. The graded relevance nDCG uses comes from the latent
utility, never from popoto's scoring or from any constant under tuning. Observable signals
(importance, ages, outcomes, links, write-time salience) are noisy views of the latent state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from scenarios.seeds import DegenerateSeedError, ScenarioSeed

MIN_RELEVANT = 3
SECONDS_PER_DAY = 86_400.0
# Grade quotas by utility rank: top 10% -> 3, next 15% -> 2, next 15% -> 1, rest 0.
GRADE_QUOTAS = ((3, 0.10), (2, 0.15), (1, 0.15))
# A harmful record (a bad policy, a wrong record) costs as much as a marginally useful one gains.
HARM_GRADE = -1


@dataclass(frozen=True)
class Record:
    """One memory record: its latent grade and the signals a scenario may write into popoto.

    ``grade`` is 0-3 for a useful record by utility rank, ``HARM_GRADE`` for a harmful one.
    """

    key: str
    grade: int
    utility: float
    importance: float
    age_days: float
    salience: float = 0.0
    outcomes: tuple[str, ...] = ()


@dataclass(frozen=True)
class World:
    """A generated scenario world. ``extras`` carries family-specific structure (links, cues)."""

    seed: ScenarioSeed
    records: tuple[Record, ...]
    extras: dict = field(default_factory=dict, compare=False)

    @property
    def relevance(self) -> dict[str, float]:
        """Graded relevance of every intended record (dropped-by-filter ones included).

        The record grades here; a family whose surfacing itself costs may map a grade to a
        float gain (context_assembler's ``PushWorld``: a useless push costs its interruption).
        """
        return {r.key: r.grade for r in self.records}

    @property
    def relevant_count(self) -> int:
        return sum(1 for r in self.records if r.grade > 0)


def record_keys(rng: np.random.Generator, n: int) -> list[str]:
    """Random hex keys: their lexical order is independent of relevance (Redis tie-breaks)."""
    keys: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        key = "".join(rng.choice(list("0123456789abcdef"), size=12))
        if key not in keys:
            keys.add(key)
            out.append(key)
    return out


def intrinsic_values(rng: np.random.Generator, shape: str, n: int) -> np.ndarray:
    """Latent intrinsic value in (0, 1] with the seed's importance shape."""
    if shape == "uniform":
        v = rng.uniform(0.05, 1.0, n)
    elif shape == "clustered":
        centers = rng.choice([0.25, 0.5, 0.8], size=n)
        v = centers + rng.normal(0, 0.06, n)
    elif shape == "bimodal":
        high = rng.random(n) < 0.3
        v = np.where(high, rng.normal(0.85, 0.07, n), rng.normal(0.25, 0.1, n))
    elif shape == "exponential":
        v = rng.exponential(0.2, n)
    elif shape == "flat":
        v = 0.5 + rng.normal(0, 0.03, n)
    else:  # pragma: no cover - ScenarioSeed validates the shape
        raise ValueError(f"unknown importance shape {shape!r}")
    return np.clip(v, 0.02, 1.0)


def ages_days(rng: np.random.Generator, pattern: str, spread: float, n: int) -> np.ndarray:
    """Days since each record was last really used, by access pattern; at least ~15 minutes."""
    recent = rng.uniform(0.0, 0.1 * spread, n)
    stale = rng.uniform(0.4 * spread, spread, n)
    if pattern == "all_recent":
        a = recent
    elif pattern == "half_stale":
        a = np.where(rng.random(n) < 0.5, recent, stale)
    elif pattern == "mostly_stale":
        a = np.where(rng.random(n) < 0.8, stale, recent)
    elif pattern == "interleaved":
        a = rng.uniform(0.0, spread, n)
    else:  # pragma: no cover - ScenarioSeed validates the pattern
        raise ValueError(f"unknown access pattern {pattern!r}")
    return np.maximum(a, 0.01)


def base_draws(seed: ScenarioSeed) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The draws most families share: keys (stream 0), then latent value and ages (stream 1).

    Kept in one place because the order of draws on stream 1 is part of every world's identity.
    """
    n = seed.record_count
    keys = record_keys(seed.rng(0), n)
    rng = seed.rng(1)
    value = intrinsic_values(rng, seed.importance_shape, n)
    ages = ages_days(rng, seed.access_pattern, seed.age_spread_days, n)
    return keys, value, ages


def noisy(rng: np.random.Generator, values: np.ndarray, noise_ratio: float) -> np.ndarray:
    """An observed view of ``values``: additive Gaussian noise scaled by the seed's noise ratio."""
    return np.clip(values + rng.normal(0.0, 0.5 * noise_ratio + 1e-3, len(values)), 0.01, 1.0)


def grade_utilities(utilities: np.ndarray) -> np.ndarray:
    """Graded relevance (0-3) by utility rank; ties broken by index, which is random order."""
    n = len(utilities)
    order = np.argsort(-utilities, kind="stable")
    grades = np.zeros(n, dtype=int)
    start = 0
    for grade, share in GRADE_QUOTAS:
        count = max(1, math.ceil(share * n))
        grades[order[start : start + count]] = grade
        start += count
    return grades


def check_not_degenerate(seed: ScenarioSeed, grades: np.ndarray) -> None:
    """Reject worlds where nDCG@5 cannot discriminate: fewer than 3 relevant records."""
    relevant = int(np.sum(np.asarray(grades) > 0))
    if relevant < MIN_RELEVANT:
        raise DegenerateSeedError(
            f"seed {seed.label} has {relevant} relevant records; at least {MIN_RELEVANT} needed"
        )


def build_records(
    seed: ScenarioSeed,
    utilities: np.ndarray,
    *,
    keys: list[str],
    importance: np.ndarray,
    ages: np.ndarray,
    salience: np.ndarray | None = None,
    outcomes: list[tuple[str, ...]] | None = None,
    harmful: np.ndarray | None = None,
) -> tuple[Record, ...]:
    """Assemble records; grades come from ``utilities`` only, and degenerate worlds are refused.

    ``harmful`` marks records that cost when surfaced: they grade ``HARM_GRADE`` and take no
    place in the positive quotas (the quotas rank the others by utility).
    """
    bad = np.zeros(len(utilities), dtype=bool) if harmful is None else np.asarray(harmful, bool)
    grades = grade_utilities(np.where(bad, -np.inf, utilities))
    grades[bad] = HARM_GRADE
    check_not_degenerate(seed, grades)
    n = len(utilities)
    sal = salience if salience is not None else np.zeros(n)
    outs = outcomes if outcomes is not None else [()] * n
    return tuple(
        Record(
            key=keys[i],
            grade=int(grades[i]),
            utility=float(utilities[i]),
            importance=round(float(importance[i]), 6),
            age_days=round(float(ages[i]), 6),
            salience=round(float(sal[i]), 6),
            outcomes=tuple(outs[i]),
        )
        for i in range(n)
    )
