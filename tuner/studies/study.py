"""One Optuna study per constant: create or resume it, run it, and summarise it honestly.

Trial 0 is always popoto's current default (enqueued), so every study carries its baseline.
Trials are scored paired against that baseline on every family the constant reaches, so
"best vs default" compares like with like. A study in which no value changed any scenario's
score is *collapsed*: the constant showed no signal, and no "best value" is reported for it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.catalog import Constant
from tuner.catalog.incumbent import incumbent_names
from tuner.defaults import DEFAULT_BATCH, DEFAULT_SEED, DEFAULT_STORAGE, DEFAULT_TRIALS
from tuner.evaluation.engine import BankSpec, prefetch
from tuner.infra.urls import mask_url
from tuner.studies.contract import ContractDriftError, check_contract
from tuner.studies.objective import (
    GRID_ATTR,
    GRID_POINTS,
    ConstantObjective,
    NoWeightedFamilyError,
    grid_values,
    no_weighted_family,
)
from tuner.studies.storage import open_storage, run_to_total

COLLAPSE_SPREAD = 1e-9
STUDY_IDENTITY_ATTRS = ("constant", "seed", "batch", "bank", "objective", "families",
                        "incumbent")
OBJECTIVE_KIND = "paired-family-mean-ndcg@5"  # what a trial's value means (see objective.py)


class StudyConflictError(ValueError):
    """An existing study was created with other settings than the ones asked for now."""


@dataclass
class StudySummary:
    """What a finished (or interrupted) study says; ``best_*`` is None when collapsed."""

    constant: str
    study_name: str
    storage: str
    family: str
    trials_requested: int
    trials_completed: int
    trials_failed: int
    default_value: float
    default_score: float | None
    best_value: float | None
    best_score: float | None
    collapsed: bool
    spearman_default: float | None
    seconds: float
    scenario_errors: int
    notes: list[str] = field(default_factory=list)

    @property
    def improvement(self) -> float | None:
        if self.best_score is None or self.default_score is None:
            return None
        return self.best_score - self.default_score

    def to_dict(self) -> dict:
        return {**asdict(self), "improvement": self.improvement}


def study_name_for(constant: Constant, bank: BankSpec,
                   incumbent: Mapping[Constant, float] | None = None) -> str:
    """Stable per constant, bank and incumbent, so the same command again resumes the study."""
    name = f"{constant.name}@{constant.family}-{bank.tag}"
    return name + (f"-inc{incumbent_hash(incumbent)}" if incumbent else "")


def incumbent_hash(incumbent: Mapping[Constant, float] | None) -> str:
    """A short stable hash of an incumbent ("" for popoto's own defaults)."""
    if not incumbent:
        return ""
    text = ",".join(f"{name}={value!r}" for name, value in incumbent_names(incumbent).items())
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def ensure_sqlite_dir(storage: str) -> None:
    """Create the directory of a relative or absolute SQLite URL's file if it is missing."""
    prefix = "sqlite:///"
    if storage.startswith(prefix):
        Path(storage[len(prefix):]).parent.mkdir(parents=True, exist_ok=True)


def open_study(
    constant: Constant,
    *,
    storage: str = DEFAULT_STORAGE,
    study_name: str | None = None,
    seed: int = DEFAULT_SEED,
    batch: int | None = DEFAULT_BATCH,
    bank: BankSpec | None = None,
    baseline: Mapping[Constant, float] | None = None,
) -> optuna.Study:
    """Create the study, or load it when it exists and was made with the same settings.

    ``baseline`` is the incumbent the study compares against; it is part of the study's
    identity, so a study is never resumed against another incumbent.
    """
    bank = bank or BankSpec()
    ensure_sqlite_dir(storage)
    name = study_name or study_name_for(constant, bank, baseline)
    study = optuna.create_study(
        study_name=name,
        storage=open_storage(storage),
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=GRID_POINTS + 1),
        load_if_exists=True,
    )
    identity = {"constant": constant.name, "seed": seed, "batch": batch, "bank": bank.tag,
                "objective": OBJECTIVE_KIND, "families": list(constant.reached_families),
                "incumbent": incumbent_names(baseline or {})}
    try:  # the contract first: it names a profile's difference in words, the bank tag cannot
        check_contract(study, constant, incumbent_names(baseline or {}), profile=bank.profile)
    except ContractDriftError as exc:
        raise StudyConflictError(str(exc)) from None
    check_identity(study, identity)
    return study


def check_identity(study: optuna.Study, identity: Mapping[str, object]) -> None:
    """Record a new study's identity, or refuse to resume one made with other settings.

    ``constant`` is written last: workers starting together on one study may read it while
    another is still writing, and a study whose ``constant`` is visible is fully described.
    """
    attrs = study.user_attrs
    if not attrs.get("constant"):
        for key, value in sorted(identity.items(), key=lambda kv: kv[0] == "constant"):
            study.set_user_attr(key, value)
        return
    for key in identity:
        if attrs.get(key) != identity[key]:
            raise StudyConflictError(
                f"study {study.study_name!r} was created with {key}={attrs.get(key)!r}, "
                f"not {identity[key]!r}; rerun with the same settings or pass another "
                "--study-name"
            )


def fail_orphaned_trials(study: optuna.Study) -> int:
    """Trials left RUNNING by a killed process would never finish; mark them FAIL."""
    orphans = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in orphans:
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    return len(orphans)


def enqueue_default(study: optuna.Study, constant: Constant, default: float) -> None:
    """Queue popoto's default as the study's first trial unless it is done or queued."""
    live = (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING)
    for trial in study.get_trials(deepcopy=False, states=live):
        if trial.params.get(constant.name, trial.system_attrs.get("fixed_params", {}).get(
            constant.name
        )) == default:
            return
    study.enqueue_trial({constant.name: default})


GRID_ORDER = (2, 0, 4, 1, 3)  # (up to) the centre cell first, then from the low edge outwards


def enqueue_grid(study: optuna.Study, constant: Constant, default: float, *, room: int) -> None:
    """Queue up to ``room`` grid values (``objective.grid_values``) after the default: each is
    scored on the whole train pool, so the study starts from exact estimates spread over the
    range. Never more than the study's total asks for, so nothing is left queued."""
    grid = grid_values(constant)
    ordered = [grid[i] for i in GRID_ORDER if i < len(grid)] + grid[len(GRID_ORDER):]
    for value in [v for v in ordered if v != default][:max(0, room)]:
        study.enqueue_trial({constant.name: value}, user_attrs={GRID_ATTR: True},
                            skip_if_exists=True)


def completed(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def run_study(
    constant: Constant,
    *,
    trials: int = DEFAULT_TRIALS,
    storage: str = DEFAULT_STORAGE,
    study_name: str | None = None,
    seed: int = DEFAULT_SEED,
    batch: int | None = DEFAULT_BATCH,
    bank: BankSpec | None = None,
    baseline: Mapping[Constant, float] | None = None,
    on_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None,
    prefetch_queued: bool = True,
) -> StudySummary:
    """Run ``constant``'s study until it holds ``trials`` completed trials; then summarise.

    ``trials`` is a study-wide total: several processes (``tuner worker`` on other machines)
    may share the study, and together they complete exactly that many. Interrupting (Ctrl-C)
    keeps every finished trial in storage; calling again continues. ``prefetch_queued``
    scores the baseline and the queued grid trials in one pool request first (a ``tuner
    worker`` sharing the study leaves them to whoever takes them).
    """
    bank = bank or BankSpec()
    if not bank.profile.weighted(constant.reached_families):  # before any study is created
        raise NoWeightedFamilyError(no_weighted_family(constant, bank.profile))
    baseline = dict(baseline or {})
    default = baseline.get(constant, constant.default())
    study = open_study(
        constant, storage=storage, study_name=study_name, seed=seed, batch=batch, bank=bank,
        baseline=baseline,
    )
    enqueue_default(study, constant, default)
    live = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.WAITING,
                                                    TrialState.RUNNING))
    enqueue_grid(study, constant, default, room=trials - len(live))
    objective = ConstantObjective(
        constant=constant, train_pools=train_pools(constant, bank), study_seed=seed,
        batch=batch, baseline=baseline, profile=bank.profile,
    )
    started = time.perf_counter()
    if prefetch_queued:
        prefetch(objective.queued_requests(
            study.get_trials(deepcopy=False, states=(TrialState.WAITING,))))
    run_to_total(study, objective, trials, callbacks=[on_trial] if on_trial else None)
    return summarise(study, constant, default=default, requested=trials, storage=storage,
                     seconds=time.perf_counter() - started)


def train_pools(constant: Constant, bank: BankSpec) -> dict[str, list]:
    """The train pool of every family the constant reaches, its own family first."""
    return {family: bank.pools(family)[0] for family in constant.reached_families}


def summarise(
    study: optuna.Study,
    constant: Constant,
    *,
    default: float,
    requested: int,
    storage: str,
    seconds: float = 0.0,
) -> StudySummary:
    """Summarise a study, marking it collapsed when its values carry no signal."""
    done = completed(study)
    collapsed = is_collapsed(done)
    study.set_user_attr("collapsed", collapsed)
    baseline_trial = _default_trial(done, constant, default)
    best = None if collapsed or not done else max(done, key=lambda t: (t.value, -t.number))
    notes = []
    if collapsed:
        notes.append(f"{constant.name} shows no signal on these scenarios: across "
                     f"{len(done)} completed trials no value changed any scenario's nDCG@5")
    spearman = baseline_trial.user_attrs.get("spearman_mean") if baseline_trial else None
    if spearman is not None and spearman <= 0:
        notes.append(f"sanity: popoto's scores do not track the latent truth at the default "
                     f"(mean Spearman rho {spearman:+.3f}); check the scenario family")
    if best is not None and baseline_trial is not None:
        notes.append(_best_note(best, baseline_trial))
    summary = StudySummary(
        constant=constant.name,
        study_name=study.study_name,
        storage=mask_url(storage),
        family=",".join(constant.reached_families),
        trials_requested=requested,
        trials_completed=len(done),
        trials_failed=len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,))),
        default_value=default,
        default_score=baseline_trial.value if baseline_trial else None,
        best_value=best.params[constant.name] if best else None,
        best_score=best.value if best else None,
        collapsed=collapsed,
        spearman_default=spearman,
        seconds=round(seconds, 3),
        scenario_errors=sum(int(t.user_attrs.get("n_errors", 0)) for t in done),
        notes=notes,
    )
    study.set_user_attr("summary", summary.to_dict())
    return summary


def is_collapsed(done: list[FrozenTrial]) -> bool:
    """No signal: no value changed any scenario's score.

    Every trial is paired with the baseline on the scenarios it saw, so the study is collapsed
    when every recorded paired delta is zero. Trials recorded without deltas (older studies)
    fall back to comparing each scenario across the trials that saw it.
    """
    if len(done) < 2:
        return False
    if all("deltas" in t.user_attrs for t in done):
        return all(abs(d) < COLLAPSE_SPREAD for t in done for d in t.user_attrs["deltas"].values())
    per_scenario: dict[str, list[float]] = {}
    for trial in done:
        for label, score in trial.user_attrs.get("ndcg", {}).items():
            per_scenario.setdefault(label, []).append(score)
    spreads = [float(np.ptp(scores)) for scores in per_scenario.values() if len(scores) > 1]
    if not spreads:
        spreads = [float(np.ptp([t.value for t in done]))]
    return max(spreads) < COLLAPSE_SPREAD


def _best_note(best: FrozenTrial, default: FrozenTrial) -> str:
    """Say what the best trial's number means: paired, so its sample's luck is removed."""
    raw = best.user_attrs.get("raw_mean")
    raw_text = f"; its own sample's raw mean was {raw:.4f}" if raw is not None else ""
    return (f"best vs default is paired: both are estimates of the same whole-train-pool mean "
            f"(default {default.value:.4f}, best {best.value:.4f}){raw_text}")


def _default_trial(
    done: list[FrozenTrial], constant: Constant, default: float
) -> FrozenTrial | None:
    for trial in sorted(done, key=lambda t: t.number):
        if trial.params.get(constant.name) == default:
            return trial
    return None
