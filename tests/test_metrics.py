"""Invariance tests for the metric registry (scikit-learn style: *_score, higher is better)."""

import itertools

import numpy as np
import pytest

from scenarios.metrics import METRICS, NO_SIGNAL_RHO, ndcg_score, spearman_score

RELEVANCE = {"a": 3, "b": 2, "c": 1, "d": 0, "e": 0, "f": 1, "g": 0}


def ideal_ranking(relevance):
    return sorted(relevance, key=lambda k: -relevance[k])


def test_perfect_ranking_scores_one():
    assert ndcg_score(ideal_ranking(RELEVANCE), RELEVANCE) == pytest.approx(1.0)


def test_worst_ranking_scores_zero():
    assert ndcg_score(["d", "e", "g"], RELEVANCE) == 0.0


def test_permuting_unretrieved_items_changes_nothing():
    top = ["b", "a", "d", "c", "e"]
    base = ndcg_score(top, RELEVANCE, k=5)
    rest = [k for k in RELEVANCE if k not in top]
    for perm in itertools.permutations(rest):
        assert ndcg_score(top + list(perm), RELEVANCE, k=5) == base


def test_items_below_k_are_ignored():
    assert ndcg_score(["d", "e", "g", "b", "c", "a"], RELEVANCE, k=5) == ndcg_score(
        ["d", "e", "g", "b", "c"], RELEVANCE, k=5
    )


def test_ties_in_relevance_swap_without_changing_the_score():
    assert ndcg_score(["c", "f", "a"], RELEVANCE) == ndcg_score(["f", "c", "a"], RELEVANCE)


def test_order_matters_within_top_k():
    assert ndcg_score(["a", "b", "c"], RELEVANCE) > ndcg_score(["c", "b", "a"], RELEVANCE)


def test_dropped_records_stay_in_the_ideal():
    """A record the write filter dropped is never retrieved, yet the ideal still counts it."""
    kept_only = {k: v for k, v in RELEVANCE.items() if k != "a"}
    ranking = ideal_ranking(kept_only)
    assert ndcg_score(ranking, kept_only) == pytest.approx(1.0)
    assert ndcg_score(ranking, RELEVANCE) < 0.9


def test_duplicates_and_unknown_keys_gain_nothing():
    assert ndcg_score(["a", "a", "zzz"], RELEVANCE) == ndcg_score(["a", "d", "e"], RELEVANCE)


def test_no_relevant_records_scores_zero_and_bad_k_raises():
    assert ndcg_score(["a"], {"a": 0, "b": 0}) == 0.0
    with pytest.raises(ValueError, match="k must be >= 1"):
        ndcg_score(["a"], RELEVANCE, k=0)


def test_spearman_perfect_and_reversed():
    scores = {k: float(v) + i * 1e-3 for i, (k, v) in enumerate(RELEVANCE.items())}
    assert spearman_score(scores, RELEVANCE) > 0.9
    assert spearman_score({k: -v for k, v in scores.items()}, RELEVANCE) < -0.9


def test_spearman_constant_scores_have_no_signal():
    assert spearman_score({k: 1.0 for k in RELEVANCE}, RELEVANCE) == NO_SIGNAL_RHO
    assert spearman_score({}, RELEVANCE) == NO_SIGNAL_RHO


def test_spearman_unscored_records_rank_last():
    partial = {"a": 3.0, "b": 2.0, "c": 1.0}
    assert spearman_score(partial, RELEVANCE) > 0.5


@pytest.mark.parametrize("name", sorted(METRICS))
def test_registry_metrics_are_invariant_to_key_names(name):
    """Renaming keys consistently must not change any metric: names carry no signal."""
    rng = np.random.default_rng(3)
    renamed = {k: f"x{rng.integers(1e9)}{k}" for k in RELEVANCE}
    relevance2 = {renamed[k]: v for k, v in RELEVANCE.items()}
    if name == "ndcg":
        args, args2 = (["b", "a", "d"], RELEVANCE), ([renamed[k] for k in "bad"], relevance2)
    else:
        scores = {k: float(i) for i, k in enumerate(RELEVANCE)}
        args, args2 = (scores, RELEVANCE), ({renamed[k]: v for k, v in scores.items()},
                                            relevance2)
    assert METRICS[name](*args) == pytest.approx(METRICS[name](*args2))
