"""The Optuna objective: one trial = one value of one constant, scored *paired* on its families.

Each trial draws its own sample of train scenarios from (study seed, trial number), in every
family where popoto reads the constant. The same scenarios are scored at the trial's value and
at the baseline (the baseline's per-scenario scores are deterministic, computed once per study
on the whole train pool and memoised). The trial's value is

    mean over families of (baseline's whole-pool mean + mean paired delta on the sample)

an estimate of the equal-weight train nDCG@5 at that value with the sample's difficulty removed:
which scenarios a trial saw changes only the noise of the delta, not the level. Under a
deployment profile (``tuner.catalog.profile``) the mean over families is weighted by the
profile's family weights, and a family of weight 0 is not scored at all; the default profile
gives today's equal-weight mean bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import optuna

from scenarios import ScenarioSeed
from tuner.catalog import Constant
from tuner.catalog.profile import Profile, active_profile, weighted_mean
from tuner.evaluation.engine import (
    Evaluation,
    Request,
    batch_per_family,
    evaluate_families,
    flat_seeds,
    sample_seeds,
)


class NoWeightedFamilyError(ValueError):
    """Every family a constant reaches has weight 0 in the profile: nothing to search it on."""


def suggest_value(trial: optuna.Trial, constant: Constant) -> float | int:
    """Ask the sampler for a value inside the search space (range ∩ meaning ∩ hard limits)."""
    if constant.is_int:
        return trial.suggest_int(
            constant.name, int(np.ceil(constant.search_low)), int(np.floor(constant.search_high)),
            step=int(constant.step or 1),
        )
    return trial.suggest_float(
        constant.name, constant.search_low, constant.search_high, log=constant.log,
        step=constant.step,
    )


GRID_POINTS = 4  # values spanning the search space, scored on the whole train pool
GRID_ATTR = "grid"  # user attr of an enqueued grid trial


def grid_values(constant: Constant, points: int = GRID_POINTS) -> list[float]:
    """``points`` values spread over the search space at the centres of equal cells (10%,
    30%, ..., 90% of the width for 5; in log space on log ranges).

    Fixed by the catalog alone, before any data: a study starts from them (scored on the whole
    train pool, so they are exact train estimates) and certificates bound their gains. Cell
    centres rather than edges: a grid point on the edge would make the study's best sit "at
    bound" whenever the edge merely wins on train.
    """
    low, high = constant.search_low, constant.search_high
    fractions = (np.arange(points) + 0.5) / points
    if constant.log:
        values = np.exp(np.log(low) + fractions * (np.log(high) - np.log(low)))
    else:
        values = low + fractions * (high - low)
    if constant.is_int:
        values = np.unique(np.round(values))
    elif constant.step:
        values = np.unique(low + np.round((values - low) / constant.step) * constant.step)
    return [float(f"{float(v):.4g}") for v in values]


def with_value(baseline: Mapping[Constant, float], constant: Constant,
               value: float) -> dict[Constant, float]:
    """The carried-forward baseline with ``constant`` set to ``value``."""
    return {**{c: v for c, v in baseline.items() if c != constant}, constant: value}


@dataclass
class ConstantObjective:
    """Paired estimate of equal-weight train nDCG@5 at the suggested value.

    ``baseline`` holds values carried forward from earlier accepted proposals; they are applied
    alongside the tuned constant, and the constant's baseline value is ``baseline[constant]``
    when carried forward, else popoto's default. ``profile`` (default: the active one) weighs
    the families; its zero-weight families are dropped from ``train_pools`` here, so they are
    never scored, and a constant left with none raises ``NoWeightedFamilyError``.
    """

    constant: Constant
    train_pools: Mapping[str, Sequence[ScenarioSeed]]
    study_seed: int
    batch: int | None = None
    baseline: Mapping[Constant, float] = field(default_factory=dict)
    profile: Profile | None = None

    def __post_init__(self) -> None:
        self.profile = self.profile or active_profile()
        weighted = self.profile.weighted(self.train_pools)
        if not weighted:
            raise NoWeightedFamilyError(no_weighted_family(self.constant, self.profile))
        self.train_pools = {f: self.train_pools[f] for f in weighted}

    @property
    def weights(self) -> dict[str, float]:
        """The weight of each family scored (all 1 under the default profile)."""
        return self.profile.family_weights(self.train_pools)

    @property
    def baseline_value(self) -> float:
        return self.baseline.get(self.constant, self.constant.default())

    def seeds_for(self, trial_number: int, *, whole: bool = False
                  ) -> dict[str, list[ScenarioSeed]]:
        """The trial's sample in every family (one sampling stream per family); the whole
        train pools for a grid trial."""
        per_family = None if whole else batch_per_family(self.batch, len(self.train_pools))
        return {
            family: sample_seeds(pool, batch=per_family, study_seed=self.study_seed,
                                 trial_number=trial_number, stream=index)
            for index, (family, pool) in enumerate(self.train_pools.items())
        }

    def baseline_evaluations(self) -> dict[str, Evaluation]:
        """The baseline on each family's whole train pool (memoised after the first call)."""
        values = with_value(self.baseline, self.constant, self.baseline_value)
        return evaluate_families(values, self.train_pools)

    def queued_requests(self, waiting: Sequence[optuna.trial.FrozenTrial]) -> list[Request]:
        """The baseline and every queued grid trial of ``waiting`` on the whole train pools:
        what the study's first trials will evaluate, for one pool request up front
        (``engine.prefetch``) instead of one per trial."""
        flat = flat_seeds(self.train_pools)
        grid = [t.system_attrs.get("fixed_params", {}).get(self.constant.name)
                for t in waiting if t.user_attrs.get(GRID_ATTR)]
        return [(with_value(self.baseline, self.constant, value), flat)
                for value in [self.baseline_value, *grid] if value is not None]

    def score(self, value: float, trial_number: int, *, whole: bool = False) -> PairedScore:
        """Evaluate ``value`` paired against the baseline on trial ``trial_number``'s sample."""
        seeds = self.seeds_for(trial_number, whole=whole)
        values = with_value(self.baseline, self.constant, value)
        return PairedScore.build(
            evaluate_families(values, seeds),
            self.baseline_evaluations(),
            weights=self.weights,
        )

    def __call__(self, trial: optuna.Trial) -> float:
        value = suggest_value(trial, self.constant)
        score = self.score(value, trial.number, whole=bool(trial.user_attrs.get(GRID_ATTR)))
        score.record(trial)
        return score.value


@dataclass(frozen=True)
class PairedScore:
    """One trial's evidence: per-family paired deltas against the baseline on its sample."""

    trial: dict[str, Evaluation]
    baseline_means: dict[str, float]
    deltas: dict[str, dict[str, float]]
    weights: dict[str, float] | None = None  # family weights (None: equal)

    @classmethod
    def build(cls, trial: dict[str, Evaluation], baseline: dict[str, Evaluation], *,
              weights: Mapping[str, float] | None = None) -> PairedScore:
        deltas = {}
        for family, evaluation in trial.items():
            reference = baseline[family].by_label()
            deltas[family] = {r.label: float(r.score) - reference[r.label]
                              for r in evaluation.results}
        return cls(trial=trial, baseline_means={f: e.mean_score for f, e in baseline.items()},
                   deltas=deltas, weights=dict(weights) if weights is not None else None)

    def family_delta(self, family: str) -> float:
        values = list(self.deltas[family].values())
        return float(np.mean(values)) if values else 0.0

    @property
    def value(self) -> float:
        """Weighted over families (equal by default): baseline whole-pool mean + mean paired
        delta."""
        return weighted_mean({f: self.baseline_means[f] + self.family_delta(f)
                              for f in self.deltas}, self.weights)

    @property
    def raw_mean(self) -> float:
        """The sample's own mean nDCG@5 (weighted like ``value``): kept for comparison."""
        return weighted_mean({f: e.mean_score for f, e in self.trial.items()}, self.weights)

    def record(self, trial: optuna.Trial) -> None:
        """Per-scenario evidence on the trial for the dashboard, collapse check and reports."""
        results = [r for e in self.trial.values() for r in e.results]
        errors = {r.label: r.error for r in results if r.error}
        trial.set_user_attr("sampled_seeds", [r.label for r in results])
        trial.set_user_attr("ndcg", {r.label: round(float(r.score), 6) for r in results})
        trial.set_user_attr("deltas", {label: round(d, 6) for per in self.deltas.values()
                                       for label, d in per.items()})
        trial.set_user_attr("family_deltas", {f: round(self.family_delta(f), 6)
                                              for f in self.deltas})
        trial.set_user_attr("raw_mean", round(self.raw_mean, 6))
        trial.set_user_attr("spearman", {r.label: round(r.spearman, 6) for r in results})
        trial.set_user_attr("spearman_mean",
                            round(float(np.mean([r.spearman for r in results])), 6))
        trial.set_user_attr("n_errors", len(errors))
        if errors:
            trial.set_user_attr("errors", errors)


def no_weighted_family(constant: Constant, profile: Profile) -> str:
    """Why ``constant`` is not searched under ``profile``: ``no weighted family (...)``."""
    reached = ", ".join(constant.reached_families)
    return (f"{constant.name}: no weighted family (it reaches {reached}, weighted 0 by the "
            f"profile {profile.describe()}), so it is not searched")


def record_evaluation(
    trial: optuna.Trial, seeds: Sequence[ScenarioSeed], evaluation: Evaluation
) -> None:
    """Per-scenario evidence of an unpaired evaluation (grid sweeps: every point shares seeds)."""
    trial.set_user_attr("sampled_seeds", [s.seed_id for s in seeds])
    trial.set_user_attr("ndcg", {k: round(v, 6) for k, v in evaluation.by_label().items()})
    trial.set_user_attr("spearman", {r.label: round(r.spearman, 6) for r in evaluation.results})
    trial.set_user_attr("spearman_mean", round(evaluation.mean_spearman, 6))
    trial.set_user_attr("n_errors", len(evaluation.errors))
    if evaluation.errors:
        trial.set_user_attr("errors", evaluation.errors)
