"""Every core: worker processes give exactly the values one process gives."""

import optuna
import pytest

from tuner.evaluation.workers import worker_url


def test_each_worker_gets_its_own_database_never_db0():
    assert worker_url(None, 0) is None
    assert worker_url("redis://u:p@h:6379/3", 0) == "redis://u:p@h:6379/4"
    assert worker_url("redis://h:6379/3", 1) == "redis://h:6379/5"
    assert worker_url("redis://h:6379/15", 0) == "redis://h:6379/1"
    assert worker_url("redis://h:6379", 0) == "redis://h:6379/1"


@pytest.mark.usefixtures("popoto_redis")
def test_a_study_is_identical_with_one_and_two_workers(run, tmp_path):
    from scenarios.restore import clear_templates
    from tuner.evaluation.engine import clear_memo

    values = {}
    for workers in ("1", "2"):
        clear_memo()  # else the 2-worker study reads the 1-worker one's memo and runs nothing
        clear_templates()
        storage = f"sqlite:///{tmp_path / f'w{workers}.db'}"
        result = run("optimize", "--constant", "initial_confidence", "--trials", "3",
                     "--batch", "8", "--bank-size", "10", "--storage", storage,
                     "--workers", workers, "--no-validate")
        assert result.exit_code == 0, result.output
        study = optuna.load_study(study_name=optuna.get_all_study_names(storage)[0],
                                  storage=storage)
        values[workers] = [(t.params, t.value, t.user_attrs["ndcg"]) for t in study.trials]
    assert values["1"] == values["2"]
    assert len({v for _, v, _ in values["1"]}) > 1


def test_a_scenario_always_goes_to_the_same_worker():
    """Templates live in the worker that wrote them: routing must be a pure function of the
    scenario, and spread scenarios over every worker."""
    from scenarios.seeds import draw_seed
    from tuner.evaluation.workers import WorkerPool

    pool = WorkerPool(2)
    try:
        seeds = [draw_seed("decay", i) for i in range(20)]
        first = [pool.worker_of(s) for s in seeds]
        assert first == [pool.worker_of(s) for s in reversed(seeds)][::-1]
        assert set(first) == {0, 1}
        groups = pool.assign(seeds)
        assert sorted(p for g in groups.values() for p in g) == list(range(20))
        assert sorted(len(g) for g in groups.values()) == [10, 10]
        assert sum(first[p] == w for w, g in groups.items() for p in g) >= 15
    finally:
        pool.close()
