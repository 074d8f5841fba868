"""Grid sweeps: score every point of a value grid on the same train scenarios, as a study.

A sweep answers "what does the curve look like?" rather than "where is the best value?", so
every point is evaluated on the *same* scenarios (the whole train pool, or one fixed sample)
and points are directly comparable. Each point is one Optuna trial, asked for with enqueued
fixed params (not ``GridSampler``, which slows quadratically on SQLite), so a sweep lives in
the same storage as ``optimize``, resumes point by point and opens in optuna-dashboard.

Every point's trial carries the fingerprint of what it was scored under (popoto's version,
``Defaults`` numbers and source, the harness and the override code:
``tuner.evaluation.fingerprint``); a rerun counts only points scored under the current one, so
after an edit to popoto every point is scored again and a note names what changed.

This module *runs* a sweep as an Optuna study. The grid it runs is planned by
``tuner.sweeps.plan``; the report is computed as data by ``tuner.sweeps.report``
(``SweepReport``) and rendered by ``tuner.sweeps.view``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from scenarios import ScenarioSeed
from tuner.evaluation.engine import BankSpec, evaluate_values, sample_seeds
from tuner.evaluation.fingerprint import code_fingerprint
from tuner.infra.urls import mask_url
from tuner.studies.contract import CONTRACT_ATTR, contract_changes, evaluation_contract
from tuner.studies.objective import record_evaluation
from tuner.studies.study import (
    DEFAULT_SEED,
    DEFAULT_STORAGE,
    StudyConflictError,
    check_identity,
    ensure_sqlite_dir,
    fail_orphaned_trials,
)
from tuner.sweeps.plan import GridPoint, SweepPlan, point_key
from tuner.sweeps.report import RunInfo, SweepReport, build_report

ProgressCallback = Callable[[int, int], None]
FINGERPRINT_ATTR = "fingerprint"  # on every grid point's trial: what it was scored under


def sweep_study_name(plan: SweepPlan, bank: BankSpec) -> str:
    """Stable per constants, bank and incumbent, so rerunning (even with a wider grid)
    resumes."""
    name = f"sweep:{'+'.join(plan.names)}@{plan.family}-{bank.tag}"
    return name + (f"-inc{names_hash(plan.incumbent)}" if plan.incumbent else "")


def names_hash(values: dict[str, float]) -> str:
    text = ",".join(f"{k}={v!r}" for k, v in sorted(values.items()))
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def sweep_seeds(
    pool: Sequence[ScenarioSeed], *, batch: int | None, seed: int
) -> list[ScenarioSeed]:
    """The scenarios every point shares: the whole pool, or one sample drawn once from seed."""
    return sample_seeds(pool, batch=batch, study_seed=seed, trial_number=0)


def open_sweep_study(
    plan: SweepPlan, *, storage: str, study_name: str, identity: Mapping[str, object],
    kind: str = "sweep",
) -> optuna.Study:
    """Create or load a grid study of ``kind``; refuses one of another kind or settings.

    ``kind`` is "sweep" for ``tuner sweep`` and "sensitivity" for ``tuner sensitivity``: both
    store one trial per grid point, and neither may resume the other's (or optimize's) study.
    """
    from tuner.studies.storage import open_storage

    ensure_sqlite_dir(storage)
    study = optuna.create_study(
        study_name=study_name, storage=open_storage(storage, heartbeat=False),
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0), load_if_exists=True,
    )
    attrs = study.user_attrs
    if attrs.get("constant") and attrs.get("kind") != kind:
        raise StudyConflictError(
            f"study {study_name!r} exists and is not a {kind}; pass another --study-name"
        )
    check_identity(study, identity)
    if attrs.get("kind") != kind:
        study.set_user_attr("kind", kind)
    return study


def fail_stale_queue(study: optuna.Study) -> int:
    """Points queued by an interrupted run would be popped by the next ask; mark them FAIL."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    for trial in stale:
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    return len(stale)


def refresh_contract(study: optuna.Study, plan: SweepPlan) -> list[str]:
    """Record what the study's points are scored under now; say what changed since last time.

    Points scored under another contract stay in the storage but no longer count
    (``trials_by_point`` with the current fingerprint), so they are scored again.
    """
    current = evaluation_contract(tuple(plan.constants))
    stored = study.user_attrs.get(CONTRACT_ATTR)
    if stored != current:
        study.set_user_attr(CONTRACT_ATTR, current)
    if not stored or stored == current:
        return []
    return contract_changes(stored, current)


def stale_note(changes: list[str], stale: int) -> list[str]:
    """The note a rerun prints when earlier points were scored under another popoto or code."""
    if not stale:
        return []
    what = "; ".join(changes) if changes else "an older tuner did not record what under"
    return [f"{stale} point(s) scored before were scored again, under the popoto and code in "
            f"force now ({what})"]


def scored_under(trial: FrozenTrial, fingerprint: str | None) -> bool:
    """Whether ``trial`` counts: any trial when no fingerprint is asked for, else a match."""
    return fingerprint is None or trial.user_attrs.get(FINGERPRINT_ATTR) == fingerprint


def stale_points(study: optuna.Study, plan: SweepPlan, fingerprint: str) -> set[tuple]:
    """Points with a COMPLETE trial scored under another fingerprint than ``fingerprint``."""
    return {point_key([t.params[n] for n in plan.names])
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if all(n in t.params for n in plan.names) and not scored_under(t, fingerprint)}


def trials_by_point(study: optuna.Study, plan: SweepPlan, *,
                    fingerprint: str | None = None) -> dict[tuple, FrozenTrial]:
    """The trial that speaks for each point: its latest COMPLETE one, else its latest FAIL.

    With ``fingerprint``, only trials scored under it count (a rerun after popoto changed);
    without, every stored trial does (the report, reading history).
    """
    chosen: dict[tuple, FrozenTrial] = {}
    finished = (TrialState.COMPLETE, TrialState.FAIL)
    for trial in study.get_trials(deepcopy=False, states=finished):
        if not all(name in trial.params for name in plan.names) \
                or not scored_under(trial, fingerprint):
            continue
        key = point_key([trial.params[name] for name in plan.names])
        held = chosen.get(key)
        if held is None or trial.state == TrialState.COMPLETE \
                or held.state != TrialState.COMPLETE:
            chosen[key] = trial
    return chosen


def pending_points(plan: SweepPlan, done: Mapping[tuple, FrozenTrial]) -> list[GridPoint]:
    """Points without a COMPLETE trial; failed points are tried again."""
    return [p for p in plan.points
            if (t := done.get(point_key(p.values))) is None or t.state != TrialState.COMPLETE]


def ask_point(study: optuna.Study, plan: SweepPlan, point: GridPoint) -> optuna.Trial:
    """Start the trial of ``point``: enqueued fixed params, checked against what came back."""
    study.enqueue_trial(plan.params(point), user_attrs={"baseline": point.baseline})
    trial = study.ask(plan.distributions())
    if point_key([trial.params[n] for n in plan.names]) != point_key(point.values):
        study.tell(trial, state=TrialState.FAIL)
        raise RuntimeError(f"study {study.study_name!r} handed out another point: is a second "
                           "sweep running on it?")
    return trial


def run_point(
    study: optuna.Study, plan: SweepPlan, point: GridPoint, seeds: Sequence[ScenarioSeed]
) -> FrozenTrial:
    """Evaluate one point as one trial. A value popoto rejects becomes a FAIL with its error.

    A point where every scenario failed is also a FAIL: its mean of 0 would otherwise look
    like a (terrible) score rather than a refusal.
    """
    trial = ask_point(study, plan, point)
    trial.set_user_attr(FINGERPRINT_ATTR, code_fingerprint())
    try:
        evaluation = evaluate_values(plan.mapping(point), seeds)
    except KeyboardInterrupt:
        study.tell(trial, state=TrialState.FAIL)
        raise
    except Exception as exc:  # noqa: BLE001 - a rejected value is recorded, the sweep goes on
        trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
        return study.tell(trial, state=TrialState.FAIL)
    record_evaluation(trial, seeds, evaluation)
    if evaluation.results and len(evaluation.errors) == len(evaluation.results):
        first = next(iter(evaluation.errors.values()))
        trial.set_user_attr("error", f"every scenario failed, e.g. {first}")
        return study.tell(trial, state=TrialState.FAIL)
    return study.tell(trial, evaluation.mean_score)


def run_sweep(
    plan: SweepPlan,
    *,
    storage: str = DEFAULT_STORAGE,
    study_name: str | None = None,
    seed: int = DEFAULT_SEED,
    batch: int | None = None,
    bank: BankSpec | None = None,
    stats: bool = False,
    on_progress: ProgressCallback | None = None,
) -> SweepReport:
    """Evaluate every point not yet COMPLETE in the sweep's study, then report on all of them.

    Interrupting keeps finished points; calling again evaluates only the rest.
    """
    bank = bank or BankSpec()
    train, _validation = bank.pools(plan.family)
    sampled = batch is not None and batch < len(train)
    seeds = sweep_seeds(train, batch=batch, seed=seed)
    name = study_name or sweep_study_name(plan, bank)
    identity = {"constant": "+".join(plan.names), "seed": seed if sampled else None,
                "batch": batch if sampled else None, "bank": bank.tag,
                "incumbent": plan.incumbent}
    study = open_sweep_study(plan, storage=storage, study_name=name, identity=identity)
    fail_orphaned_trials(study)
    fail_stale_queue(study)
    changes = refresh_contract(study, plan)
    current = code_fingerprint()
    todo = pending_points(plan, trials_by_point(study, plan, fingerprint=current))
    stale = len(stale_points(study, plan, current) & {point_key(p.values) for p in todo})
    started = time.perf_counter()
    progress = on_progress or (lambda done, total: None)
    progress(0, len(todo))
    for done, point in enumerate(todo, start=1):
        run_point(study, plan, point, seeds)
        progress(done, len(todo))
    run = RunInfo(study_name=name, storage=mask_url(storage), seed=seed if sampled else None,
                  batch=batch if sampled else None, bank=bank.tag,
                  scenarios=[s.label for s in seeds],
                  evaluated={point_key(p.values) for p in todo},
                  seconds=time.perf_counter() - started, notes=stale_note(changes, stale))
    return build_report(plan, trials_by_point(study, plan, fingerprint=current), run,
                        stats=stats)
