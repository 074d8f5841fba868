"""Scenario results kept on disk: a later process scores nothing it already scored.

What the key covers (harness, override code, popoto's defaults, source and version) is shown
with real edits of real files in ``tests/test_fingerprint.py``, and end to end, with the cache
on, in ``tests/test_stale_scores.py``.
"""

import pytest

from tuner.catalog import load_catalog
from tuner.evaluation.engine import BankSpec, clear_memo, evaluate_values, set_result_cache
from tuner.evaluation.result_cache import ResultCache

pytestmark = pytest.mark.usefixtures("popoto_redis")


def test_a_second_process_reads_instead_of_rerunning(tmp_path, monkeypatch):
    decay = load_catalog().resolve("decay_rate")
    seeds = BankSpec(size=10).pools("decay")[0][:3]
    cache = ResultCache(tmp_path / "results.sqlite")
    previous = set_result_cache(cache)
    try:
        first = evaluate_values({decay: 0.3}, seeds)
        assert len(cache) == 3
        clear_memo()  # as if a new process

        def must_not_run(*args, **kwargs):
            raise AssertionError("re-ran a cached scenario")

        monkeypatch.setattr("tuner.evaluation.engine.evaluate_scenario", must_not_run)
        again = evaluate_values({decay: 0.3}, seeds)
        assert again == first
        monkeypatch.undo()
        other = evaluate_values({decay: 0.5}, seeds)  # other values: computed, not read
        assert other != first and len(cache) == 6
    finally:
        set_result_cache(previous)
        cache.close()


def test_the_cli_keeps_results_where_told(run, tmp_path, monkeypatch):
    path = tmp_path / "cache.sqlite"
    monkeypatch.setenv("TUNER_RESULT_CACHE", str(path))
    result = run("optimize", "--constant", "initial_confidence", "--trials", "2", "--batch", "4",
                 "--bank-size", "10", "--no-validate",
                 "--storage", f"sqlite:///{tmp_path / 's.db'}")
    assert result.exit_code == 0, result.output
    assert len(ResultCache(path)) > 0
