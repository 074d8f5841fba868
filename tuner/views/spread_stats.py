"""The response statistics of one tuning study: centred effects, bins, and the spread's CI.

Pure numbers over ``TrialPoint`` values, with no Optuna storage and no drawing: how a trial's
score is centred scenario by scenario, how neighbouring values are pooled into bins, and how
"best bin minus worst bin" and its percentile bootstrap CI are computed. Kept apart from
``tuner.views.study_data`` (which reads a study's trials and attrs into a ``StudyView``) so the
statistics, and their fixed seed and resample count, are one place to read and test.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from optuna.trial import FrozenTrial
from scipy.stats import bootstrap

MAX_BINS = 6
TRIALS_PER_BIN = 3
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20261123


@dataclass(frozen=True)
class TrialPoint:
    """One completed trial: its value, the mean nDCG@5 Optuna saw, and its centred effect."""

    number: int
    value: float
    score: float
    effect: float  # score with each scenario's difficulty removed (see centred_effects)
    enqueued: bool  # queued by tuner (popoto's default) rather than sampled


@dataclass(frozen=True)
class Bin:
    """Neighbouring trial values pooled, so the curve shows a mean with a band, not noise."""

    low: float
    high: float
    center: float
    n: int
    mean: float
    std: float
    effect: float
    centred_mean: float  # the study's mean score plus this bin's centred effect


@dataclass(frozen=True)
class Sensitivity:
    """How far nDCG@5 moves across the values: best bin minus worst bin of centred effects."""

    spread: float
    ci_low: float | None
    ci_high: float | None
    bins: int
    inert: bool
    note: str


def centred_effects(trials: Sequence[FrozenTrial]) -> list[float]:
    """Each trial's mean of (scenario score minus that scenario's mean over all trials).

    Trials score different samples, so raw means mix the value's effect with how hard the
    sample was; centring scenario by scenario removes the second, so a placebo's effects are
    exactly 0. A scenario seen by one trial only adds 0 (no evidence either way). A trial
    without per-scenario scores falls back to its value minus the mean of all values.
    """
    per_scenario: dict[str, list[float]] = {}
    for trial in trials:
        for label, score in _ndcg(trial).items():
            per_scenario.setdefault(label, []).append(score)
    centre = {label: float(np.mean(scores)) for label, scores in per_scenario.items()}
    overall = float(np.mean([t.value for t in trials])) if trials else 0.0
    effects = []
    for trial in trials:
        scores = _ndcg(trial)
        if scores:
            residuals = [s - centre[k] for k, s in scores.items()]
            effects.append(round(float(np.mean(residuals)), 12))  # float noise is not signal
        else:
            effects.append(float(trial.value) - overall)
    return effects


def _ndcg(trial: FrozenTrial) -> dict[str, float]:
    return {str(k): float(v) for k, v in (trial.user_attrs.get("ndcg") or {}).items()}


def bin_points(points: Sequence[TrialPoint]) -> list[list[TrialPoint]]:
    """Sorted points in up to MAX_BINS bins of about equal count; equal values share a bin.

    Equal counts (not equal widths) because TPE crowds its trials near the optimum, and a bin
    needs two or more trials for its spread and the bootstrap.
    """
    if not points:
        return []
    k = max(1, min(MAX_BINS, len(points) // TRIALS_PER_BIN))
    target = len(points) / k
    bins: list[list[TrialPoint]] = []
    current: list[TrialPoint] = []
    for _value, same in _equal_values(points):
        current.extend(same)
        if len(current) >= target and len(bins) < k - 1:
            bins.append(current)
            current = []
    if current and len(current) < 2 and bins:
        bins[-1].extend(current)
    elif current:
        bins.append(current)
    return bins


def _equal_values(points: Sequence[TrialPoint]) -> list[tuple[float, list[TrialPoint]]]:
    groups: dict[float, list[TrialPoint]] = {}
    for point in sorted(points, key=lambda p: (p.value, p.number)):
        groups.setdefault(point.value, []).append(point)
    return list(groups.items())


def summarise_bin(members: Sequence[TrialPoint], log: bool, mean_score: float) -> Bin:
    values = np.array([p.value for p in members])
    scores = np.array([p.score for p in members])
    effect = float(np.mean([p.effect for p in members]))
    geometric = log and bool(np.all(values > 0))
    center = float(np.exp(np.mean(np.log(values)))) if geometric else float(values.mean())
    return Bin(low=float(values.min()), high=float(values.max()), center=center,
               n=len(members), mean=float(scores.mean()), std=float(scores.std()),
               effect=effect, centred_mean=mean_score + effect)


def sensitivity(groups: Sequence[Sequence[TrialPoint]], collapsed: bool) -> Sensitivity:
    """Best-bin minus worst-bin centred effect, with a percentile bootstrap 95% CI.

    The bootstrap resamples trials within each bin (scipy, fixed seed). The spread is a
    maximum of differences, so noise alone makes it slightly positive: read it with its CI and
    next to the other constants, not against zero.
    """
    if collapsed:
        return Sensitivity(0.0, 0.0, 0.0, len(groups), True,
                           "collapsed: no value changed any scenario's score")
    effects = [np.array([p.effect for p in g]) for g in groups]
    if len(effects) < 2:
        return Sensitivity(0.0, None, None, len(effects), False,
                           "too few trials to compare values (fewer than two bins)")
    spread = float(np.ptp([e.mean() for e in effects]))
    samples = [e for e in effects if len(e) >= 2]
    if len(samples) < 2:
        return Sensitivity(spread, None, None, len(effects), False,
                           "too few trials per bin for a CI")
    low, high = _spread_ci(samples, spread)
    return Sensitivity(spread, low, high, len(effects), False, SPREAD_METHOD)


SPREAD_METHOD = ("best-bin minus worst-bin mean scenario-centred nDCG@5, percentile bootstrap "
                 "95% CI")


def _spread_ci(samples: list[np.ndarray], spread: float) -> tuple[float, float]:
    if all(float(np.ptp(s)) == 0.0 for s in samples):
        return spread, spread
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate resamples are fine for a percentile CI
        result = bootstrap(tuple(samples), _spread_statistic, vectorized=True,
                           method="percentile", confidence_level=0.95,
                           n_resamples=BOOTSTRAP_RESAMPLES,
                           rng=np.random.default_rng(BOOTSTRAP_SEED))
    low, high = result.confidence_interval
    return float(low), float(high)


def _spread_statistic(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    means = np.stack([np.mean(s, axis=axis) for s in samples])
    return np.ptp(means, axis=0)
