"""The sign-flip test: exact for "no effect at all", kept for guard checks and comparisons.

Decisions no longer use it (``betting.py`` tests the *mean*, valid for skewed and sparse
deltas; the sign-flip null is only "deltas symmetric about 0"). It stays for what it is right
for: showing that a guard's world separates keeping from admitting (tests/test_family_guards.py),
the legacy comparison in ``benchmarks/bench_power.py``, and the mutation check's
"mean test replaced by the sign-flip test".

Why a sign-flip permutation test: under "no effect" each paired delta is as likely to be +d as
−d, whatever its size. Flipping signs is exact for that null, needs no normality, and treats
zeros correctly: a tie flips to itself and adds no evidence. A bootstrap CI on deltas that are
mostly zero (the normal case for step-like constants) is far too narrow; the test is not.

Deltas come in strata (one per scenario family). The statistic is the equal-weight mean over
families of each family's mean delta, so each delta carries weight 1 / (F · n_family).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

PERMUTATION_RESAMPLES = 20_000
EXACT_LIMIT = 16  # up to 2**16 sign patterns of the non-zero deltas are enumerated exactly
STATS_SEED = 20261123
RESAMPLES_PER_LEVEL = 50  # Monte Carlo draws per unit of 1 / level: p can go far below it
CHUNK = 4_096  # random sign patterns drawn at a time (memory stays small for any n)


@dataclass(frozen=True)
class PairedTest:
    """Mean paired delta (weighted over strata), its one-sided p-value and a display CI."""

    mean: float
    p_value: float  # H1: mean delta > 0 (improvement); sign-flip permutation
    p_harm: float  # H1: mean delta < 0 (regression)
    ci_low: float
    ci_high: float
    n: int
    n_nonzero: int

    def to_dict(self) -> dict:
        return asdict(self)


def stratum_weights(strata: Sequence[Sequence[float]]) -> np.ndarray:
    """Weight 1 / (F · n_f) per delta, so every stratum (family) counts equally."""
    used = [len(s) for s in strata if len(s)]
    return np.concatenate([np.full(len(s), 1.0 / (len(used) * len(s))) for s in strata if len(s)]
                          ) if used else np.zeros(0)


def resamples_for(level: float | None) -> int:
    """Monte Carlo sign patterns enough to judge ``level``: the smallest reachable p is
    1 / (resamples + 1), so a test sized this way has no floor above the level it is judged at.
    """
    if level is None or level <= 0:
        return PERMUTATION_RESAMPLES
    return max(PERMUTATION_RESAMPLES, int(np.ceil(RESAMPLES_PER_LEVEL / level)))


def smallest_p(n_nonzero: int, resamples: int = PERMUTATION_RESAMPLES) -> float:
    """The smallest p-value the sign-flip test can return on ``n_nonzero`` changed scenarios.

    Exact up to EXACT_LIMIT (2 ** -k: with 9 changed scenarios never below 0.00195), Monte
    Carlo beyond (1 / (resamples + 1)). A level below this cannot be reached, however large
    the effect: the decision must gather more scenarios instead of refusing on principle.
    """
    if n_nonzero == 0:
        return 1.0
    if n_nonzero <= EXACT_LIMIT:
        return 2.0 ** -n_nonzero
    return 1.0 / (resamples + 1)


def paired_test(
    strata: Sequence[Sequence[float]], *, seed: int = STATS_SEED,
    resamples: int | None = None, level: float | None = None,
) -> PairedTest:
    """Sign-flip test and stratified bootstrap CI of the equal-weight mean delta.

    ``level`` sizes the Monte Carlo so that p-values well below it are reachable.
    """
    resamples = resamples or resamples_for(level)
    deltas = np.concatenate([np.asarray(s, dtype=float) for s in strata]) if strata else \
        np.zeros(0)
    weights = stratum_weights(strata)
    if deltas.size == 0:
        return PairedTest(0.0, 1.0, 1.0, 0.0, 0.0, 0, 0)
    observed = float(weights @ deltas)
    p_gain, p_harm = sign_flip_p_values(deltas, weights, seed=seed, resamples=resamples)
    low, high = stratified_bootstrap_ci(strata, seed=seed)
    return PairedTest(observed, p_gain, p_harm, low, high, int(deltas.size),
                      int(np.count_nonzero(deltas)))


def sign_flip_p_values(
    deltas: np.ndarray, weights: np.ndarray, *, seed: int, resamples: int
) -> tuple[float, float]:
    """One-sided p-values (gain, harm) of the weighted sum under random sign flips.

    Zeros cannot change sign, so only non-zero deltas are flipped; with at most EXACT_LIMIT of
    them every pattern is enumerated (exact p), otherwise ``resamples`` random patterns are
    drawn and the observed pattern is counted once (p never 0).
    """
    nonzero = deltas != 0
    d, w = deltas[nonzero], weights[nonzero]
    if d.size == 0:
        return 1.0, 1.0
    contributions = d * w
    observed = float(contributions.sum())
    tolerance = 1e-12 * max(1.0, float(np.abs(contributions).sum()))
    if d.size <= EXACT_LIMIT:
        patterns = ((np.arange(2**d.size)[:, None] >> np.arange(d.size)) & 1) * 2 - 1
        null = patterns @ contributions
        return (float(np.mean(null >= observed - tolerance)),
                float(np.mean(null <= observed + tolerance)))
    rng = np.random.default_rng(seed)
    above = below = 0
    for start in range(0, resamples, CHUNK):
        rows = min(CHUNK, resamples - start)
        null = rng.choice((-1.0, 1.0), size=(rows, d.size)) @ contributions
        above += int(np.sum(null >= observed - tolerance))
        below += int(np.sum(null <= observed + tolerance))
    return (1 + above) / (resamples + 1), (1 + below) / (resamples + 1)


def stratified_bootstrap_ci(
    strata: Sequence[Sequence[float]], *, seed: int, resamples: int = 4_000,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile CI of the equal-weight mean, resampling scenarios within each family.

    For display only: decisions use the sign-flip p-value, which does not shrink to a point
    on mostly-zero deltas the way a bootstrap interval does.
    """
    rng = np.random.default_rng(seed)
    used = [np.asarray(s, dtype=float) for s in strata if len(s)]
    if not used:
        return 0.0, 0.0
    total = np.zeros(resamples)
    for values in used:
        picks = rng.integers(0, values.size, size=(resamples, values.size))
        total += values[picks].mean(axis=1) / len(used)
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(total, [tail, 1.0 - tail])
    return float(low), float(high)


def holm_adjusted(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values (each compared with alpha directly)."""
    order = sorted(p_values, key=lambda k: p_values[k])
    m, running, adjusted = len(order), 0.0, {}
    for i, key in enumerate(order):
        running = max(running, min(1.0, (m - i) * p_values[key]))
        adjusted[key] = running
    return adjusted
