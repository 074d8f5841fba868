"""Studies: baseline trial, per-trial seeding, reproducibility, collapse, resume, conflicts."""

from types import SimpleNamespace

import pytest
from optuna.trial import TrialState

from tuner.catalog import Constant, load_catalog
from tuner.evaluation.engine import BankSpec, sample_seeds
from tuner.studies.study import StudyConflictError, completed, open_study, run_study

pytestmark = pytest.mark.usefixtures("popoto_redis")

SMALL = BankSpec(size=10)
DECAY = load_catalog().resolve("decay_rate")
# A placebo: a real Defaults attribute that nothing on the decay family's path reads.
PLACEBO = Constant(name="placebo", tier=9, family="decay", low=1.0, high=1e6, mode="C",
                   attr="LIFECYCLE_FORGET_IDLE_SECONDS")


def storage(tmp_path, name="t.db"):
    return f"sqlite:///{tmp_path / name}"


def small_study(tmp_path, constant=DECAY, *, trials=4, seed=0, name=None, db="t.db", **kw):
    return run_study(constant, trials=trials, storage=storage(tmp_path, db), seed=seed,
                     batch=3, bank=SMALL, study_name=name, **kw)


def test_sample_is_reproducible_per_trial_and_differs_between_trials():
    pool, _ = SMALL.pools("decay")
    one = sample_seeds(pool, batch=3, study_seed=5, trial_number=1)
    assert one == sample_seeds(pool, batch=3, study_seed=5, trial_number=1)
    assert one != sample_seeds(pool, batch=3, study_seed=5, trial_number=2)
    assert sample_seeds(pool, batch=len(pool), study_seed=5, trial_number=1) == pool
    assert sample_seeds(pool, batch=None, study_seed=5, trial_number=9) == pool


def sampled(study):
    """The TPE trials (after the default and the grid), which draw per-trial samples."""
    return [t for t in completed(study)[1:] if not t.user_attrs.get("grid")]


def test_study_starts_from_the_default_then_the_grid_on_the_whole_pool(tmp_path):
    small_study(tmp_path, trials=4)
    trials = completed(open_study(DECAY, storage=storage(tmp_path), batch=3, bank=SMALL))
    assert trials[0].params == {"decay_rate": 0.1} and not trials[0].user_attrs.get("grid")
    grid = trials[1:4]
    assert all(t.user_attrs["grid"] for t in grid)
    assert [t.params["decay_rate"] for t in grid] == [0.2742, 0.01939, 0.07293]  # GRID_ORDER
    pool = sum(len(SMALL.pools(f)[0]) for f in DECAY.reached_families)
    assert all(len(t.user_attrs["sampled_seeds"]) == pool for t in grid)


def test_study_starts_from_the_default_and_records_the_sample(tmp_path):
    summary = small_study(tmp_path, trials=8)
    study = open_study(DECAY, storage=storage(tmp_path), batch=3, bank=SMALL)
    trials = completed(study)
    assert trials[0].params == {"decay_rate": 0.1}
    assert summary.default_score == trials[0].value
    tpe = sampled(study)
    assert tpe[0].user_attrs["sampled_seeds"] != tpe[1].user_attrs["sampled_seeds"]
    attrs = tpe[0].user_attrs
    families = DECAY.reached_families
    assert len(families) > 1, "decay_rate is read by several families"
    assert len(attrs["ndcg"]) == 3 * len(families) and len(attrs["spearman"]) == 3 * len(families)
    assert {label.split(":")[0] for label in attrs["ndcg"]} == set(families)
    assert set(attrs["deltas"]) == set(attrs["ndcg"]) and set(attrs["family_deltas"]) == \
        set(families)
    assert all(int(label.split(":")[1]) % 10 < 5 for label in attrs["ndcg"]), \
        "a validation seed reached a study"


def test_a_trial_value_is_the_baseline_plus_its_paired_delta(tmp_path):
    """Paired: baseline whole-pool mean per family + mean delta on the trial's own sample."""
    from tuner.evaluation.engine import evaluate_values

    small_study(tmp_path, trials=7)
    trial = sampled(open_study(DECAY, storage=storage(tmp_path), batch=3, bank=SMALL))[0]
    expected = []
    for family in DECAY.reached_families:
        base = evaluate_values({}, SMALL.pools(family)[0]).mean_score
        deltas = [d for label, d in trial.user_attrs["deltas"].items()
                  if label.startswith(family + ":")]
        assert len(deltas) == 3
        expected.append(base + sum(deltas) / 3)
    assert trial.value == pytest.approx(sum(expected) / len(expected), abs=1e-5)
    raw = sum(trial.user_attrs["ndcg"].values()) / len(trial.user_attrs["ndcg"])
    assert trial.user_attrs["raw_mean"] == pytest.approx(raw, abs=1e-5)


def test_same_seed_in_a_fresh_study_reproduces_the_values(tmp_path):
    small_study(tmp_path, name="a")
    small_study(tmp_path, name="b")
    a = open_study(DECAY, storage=storage(tmp_path), study_name="a", batch=3, bank=SMALL)
    b = open_study(DECAY, storage=storage(tmp_path), study_name="b", batch=3, bank=SMALL)
    assert [t.value for t in completed(a)] == [t.value for t in completed(b)]
    assert len({t.value for t in completed(a)}) > 1


def test_placebo_constant_collapses_and_reports_no_best(tmp_path):
    summary = small_study(tmp_path, PLACEBO, trials=5)
    assert summary.collapsed and summary.best_value is None and summary.best_score is None
    assert "shows no signal" in summary.notes[0]
    study = open_study(PLACEBO, storage=storage(tmp_path), batch=3, bank=SMALL)
    assert study.user_attrs["collapsed"] is True


def test_signal_is_not_collapsed(tmp_path):
    assert not small_study(tmp_path, trials=5).collapsed


def test_interrupted_study_keeps_finished_trials_and_resumes(tmp_path):
    def interrupt_after_three(study, trial):
        if trial.number == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        small_study(tmp_path, trials=6, on_trial=interrupt_after_three)
    study = open_study(DECAY, storage=storage(tmp_path), batch=3, bank=SMALL)
    kept = [(t.number, t.value) for t in completed(study)]
    assert len(kept) == 3
    summary = small_study(tmp_path, trials=6)
    assert summary.trials_completed == 6
    study = open_study(DECAY, storage=storage(tmp_path), batch=3, bank=SMALL)
    assert [(t.number, t.value) for t in completed(study)][:3] == kept
    assert sum(1 for t in completed(study) if t.params["decay_rate"] == 0.1) == 1


def fast_forward(seconds: float) -> SimpleNamespace:
    """tuner's heartbeat clock (``tuner.studies.storage.time``) moved ``seconds`` ahead: a grace
    period passes without the test waiting for it, and without racing a sleep against it."""
    import time

    return SimpleNamespace(time=lambda: time.time() + seconds, sleep=time.sleep)


def test_orphaned_running_trials_are_failed_once_stale_and_retried_with_their_params(
        tmp_path, monkeypatch):
    """A trial whose process died never beats: while the grace lasts it is left alone; once it
    is over the trial is failed, its parameters are run again, and the study still completes
    the requested total."""
    from tuner.studies.objective import suggest_value
    from tuner.studies.storage import open_storage, reap_stale_trials

    monkeypatch.setenv("TUNER_HEARTBEAT", "1,600")
    open_storage.cache_clear()
    small_study(tmp_path, trials=1)
    study = open_study(DECAY, storage=storage(tmp_path), batch=3, bank=SMALL)
    # A trial whose process died: RUNNING, no heartbeat. Its value is not the seeded sampler's
    # next draw, which a retry that forgot the parameters would happen to repeat.
    study.enqueue_trial({"decay_rate": 0.777})
    orphan = study.ask()
    assert suggest_value(orphan, DECAY) == 0.777
    reap_stale_trials(study)  # 600 s of grace: far from over
    assert study.get_trials(deepcopy=False)[orphan.number].state == TrialState.RUNNING
    monkeypatch.setattr("tuner.studies.storage.time", fast_forward(601))
    summary = small_study(tmp_path, trials=2)
    trials = study.get_trials(deepcopy=False)
    assert trials[orphan.number].state == TrialState.FAIL
    assert TrialState.RUNNING not in [t.state for t in trials]
    assert summary.trials_completed == 2
    (retried,) = [t for t in completed(study) if t.user_attrs.get("retry_of") == orphan.number]
    assert retried.params == orphan.params == {"decay_rate": 0.777}
    open_storage.cache_clear()


def test_resuming_with_other_settings_is_refused(tmp_path):
    small_study(tmp_path, trials=1)
    with pytest.raises(StudyConflictError, match="was created with seed=0, not 1"):
        small_study(tmp_path, trials=2, seed=1)


def _trial(value, ndcg):
    import optuna

    return optuna.trial.create_trial(value=value, user_attrs={"ndcg": ndcg})


def test_collapse_compares_each_scenario_across_values_not_sample_means():
    from tuner.studies.study import is_collapsed

    same_per_scenario = [_trial(0.5, {"s:1": 0.4, "s:2": 0.6}), _trial(0.7, {"s:2": 0.6,
                                                                             "s:3": 0.8})]
    assert is_collapsed(same_per_scenario)
    one_scenario_moved = [_trial(0.5, {"s:1": 0.4, "s:2": 0.6}), _trial(0.7, {"s:2": 0.61,
                                                                              "s:3": 0.8})]
    assert not is_collapsed(one_scenario_moved)
    no_overlap_equal = [_trial(0.5, {"s:1": 0.5}), _trial(0.5, {"s:2": 0.5})]
    assert is_collapsed(no_overlap_equal)
    assert not is_collapsed([_trial(0.5, {"s:1": 0.5})])


def test_restore_off_scores_the_very_same_study(tmp_path, monkeypatch):
    """``TUNER_RESTORE=off`` re-seeds every scenario (it writes no template) and gives the very
    same trials as restoring does."""
    from scenarios.restore import clear_templates, template_count
    from tuner.evaluation.engine import clear_memo

    hop = load_catalog().resolve("decay_per_hop")  # one phased family: cheap
    trials, templates = {}, {}
    for mode in ("on", "off"):
        clear_memo()
        clear_templates()
        monkeypatch.setenv("TUNER_RESTORE", mode)
        small_study(tmp_path, hop, trials=4, db=f"{mode}.db")
        study = open_study(hop, storage=storage(tmp_path, f"{mode}.db"), batch=3, bank=SMALL)
        trials[mode] = [(t.params, t.value, t.user_attrs["ndcg"], t.user_attrs["spearman"])
                        for t in completed(study)]
        templates[mode] = template_count()
    assert trials["on"] == trials["off"]
    assert len({value for _, value, _, _ in trials["on"]}) > 1, "no value changed a score"
    assert templates["off"] == 0 and templates["on"] > 0


def test_an_interrupt_between_objective_and_result_leaves_no_trial_running(monkeypatch,
                                                                          tmp_path):
    """Optuna fails a trial interrupted inside the objective, not one interrupted after it
    returned and before its result is stored (joining Optuna's heartbeat thread, a SIGTERM
    window seen in CI): ``run_to_total`` fails this process's trials left RUNNING."""
    import contextlib

    import optuna
    from optuna.study import _optimize

    from tuner.studies.storage import run_to_total

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}")
    run_to_total(study, lambda trial: 1.0, 1)  # one finished trial, which must stay COMPLETE

    @contextlib.contextmanager
    def heartbeat_interrupted_on_exit(*_args):
        yield
        raise KeyboardInterrupt

    monkeypatch.setattr(_optimize, "get_heartbeat_thread", heartbeat_interrupted_on_exit)
    with pytest.raises(KeyboardInterrupt):
        run_to_total(study, lambda trial: 2.0, 2)
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE, TrialState.FAIL]
