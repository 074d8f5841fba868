"""The Optuna objective: one trial = one value of one constant, scored on sampled train seeds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import optuna

from scenarios import ScenarioSeed
from tuner.catalog import Constant
from tuner.evaluation import Evaluation, evaluate_values, sample_seeds


def suggest_value(trial: optuna.Trial, constant: Constant) -> float | int:
    """Ask the sampler for a value inside the catalog's search space."""
    if constant.is_int:
        return trial.suggest_int(
            constant.name, int(constant.low), int(constant.high), step=int(constant.step or 1)
        )
    return trial.suggest_float(
        constant.name, constant.low, constant.high, log=constant.log, step=constant.step
    )


@dataclass
class ConstantObjective:
    """Mean nDCG@5 of ``constant`` at the suggested value over the trial's train sample.

    ``baseline`` holds values carried forward from earlier accepted proposals; they are applied
    alongside the tuned constant so each study starts from the current defaults.
    """

    constant: Constant
    train_pool: Sequence[ScenarioSeed]
    study_seed: int
    batch: int | None = None
    baseline: Mapping[Constant, float] = field(default_factory=dict)

    def seeds_for(self, trial_number: int) -> list[ScenarioSeed]:
        return sample_seeds(
            self.train_pool, batch=self.batch, study_seed=self.study_seed,
            trial_number=trial_number,
        )

    def __call__(self, trial: optuna.Trial) -> float:
        value = suggest_value(trial, self.constant)
        seeds = self.seeds_for(trial.number)
        values = {**{c: v for c, v in self.baseline.items() if c != self.constant},
                  self.constant: value}
        evaluation = evaluate_values(values, seeds)
        record_evaluation(trial, seeds, evaluation)
        return evaluation.mean_ndcg


def record_evaluation(
    trial: optuna.Trial, seeds: Sequence[ScenarioSeed], evaluation: Evaluation
) -> None:
    """Per-scenario evidence on the trial, so the dashboard and the collapse check can read it."""
    trial.set_user_attr("sampled_seeds", [s.seed_id for s in seeds])
    trial.set_user_attr("ndcg", {k: round(v, 6) for k, v in evaluation.by_label().items()})
    trial.set_user_attr("spearman", {r.label: round(r.spearman, 6) for r in evaluation.results})
    trial.set_user_attr("spearman_mean", round(evaluation.mean_spearman, 6))
    trial.set_user_attr("n_errors", len(evaluation.errors))
    if evaluation.errors:
        trial.set_user_attr("errors", evaluation.errors)
