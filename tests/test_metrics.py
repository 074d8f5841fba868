"""Invariance tests for the metric registry (scikit-learn style: *_score, higher is better)."""

import itertools

import numpy as np
import pytest

from scenarios.metrics import (
    METRICS,
    NO_SIGNAL_RHO,
    RANKING_METRICS,
    ndcg_score,
    signed_ndcg_score,
    spearman_score,
)

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
    if name in RANKING_METRICS:
        args, args2 = (["b", "a", "d"], RELEVANCE), ([renamed[k] for k in "bad"], relevance2)
    else:
        scores = {k: float(i) for i, k in enumerate(RELEVANCE)}
        args, args2 = (scores, RELEVANCE), ({renamed[k]: v for k, v in scores.items()}, relevance2)
    assert METRICS[name](*args) == pytest.approx(METRICS[name](*args2))


HARMFUL = {**RELEVANCE, "h1": -1, "h2": -1}


def test_signed_ndcg_equals_ndcg_without_harmful_records():
    for top in (["b", "a", "d"], ["d", "e"], ideal_ranking(RELEVANCE), []):
        assert signed_ndcg_score(top, RELEVANCE) == pytest.approx(ndcg_score(top, RELEVANCE))


def test_signed_ndcg_ideal_is_one_and_most_harmful_is_zero():
    assert signed_ndcg_score(ideal_ranking(RELEVANCE), HARMFUL) == pytest.approx(1.0)
    assert signed_ndcg_score(["h1", "h2", "d", "e", "g"], HARMFUL) == pytest.approx(0.0)


def test_plain_ndcg_cannot_see_harm_but_signed_ndcg_pays_for_it():
    """A harmful record in a slot that would otherwise stay empty: invisible to nDCG."""
    short, padded = ["a", "b"], ["a", "b", "h1"]
    assert ndcg_score(padded, HARMFUL) == ndcg_score(short, HARMFUL)
    assert signed_ndcg_score(padded, HARMFUL) < signed_ndcg_score(short, HARMFUL)


def test_signed_ndcg_saying_nothing_beats_surfacing_harm_and_stays_in_unit_interval():
    empty = signed_ndcg_score([], HARMFUL)
    assert 0.0 < empty < 1.0
    assert signed_ndcg_score(["h1"], HARMFUL) < empty
    rng = np.random.default_rng(0)
    for _ in range(200):
        top = list(rng.permutation(list(HARMFUL))[: rng.integers(0, 6)])
        assert 0.0 <= signed_ndcg_score(top, HARMFUL) <= 1.0


def test_signed_ndcg_harm_costs_less_further_down():
    assert signed_ndcg_score(["a", "b", "h1"], HARMFUL) > signed_ndcg_score(
        ["h1", "a", "b"], HARMFUL
    )


def test_signed_ndcg_ignores_items_below_k_and_repeats():
    assert signed_ndcg_score(["a", "b", "c", "f", "d", "h1"], HARMFUL, k=5) == (
        signed_ndcg_score(["a", "b", "c", "f", "d"], HARMFUL, k=5)
    )
    assert signed_ndcg_score(["h1", "h1"], HARMFUL) == signed_ndcg_score(["h1", "zzz"], HARMFUL)


def test_signed_ndcg_world_without_signal_scores_zero():
    assert signed_ndcg_score(["a"], {"a": 0, "b": 0}) == 0.0


def test_signed_ndcg_takes_float_costs_of_useless_records():
    """context_assembler's useless push gains ``-c`` (a float in [0, 1]): free at c = 0, a cost
    below an empty list at c > 0, less than a wrong record's; the ideal still scores 1 and plain
    nDCG still sees nothing."""
    free = {**RELEVANCE, "d": 0.0, "e": 0.0, "g": 0.0}
    costly = {**RELEVANCE, "d": -0.4, "e": -0.4, "g": -0.4}
    assert signed_ndcg_score(["d", "e"], free) == signed_ndcg_score([], free)
    assert signed_ndcg_score(["d", "e"], costly) < signed_ndcg_score([], costly)
    useful = [k for k in ideal_ranking(costly) if costly[k] > 0]  # 4: a 5th would cost
    assert signed_ndcg_score(useful, costly) == pytest.approx(1.0)
    assert signed_ndcg_score(ideal_ranking(costly), costly) < 1.0
    assert ndcg_score(["a", "d"], costly) == ndcg_score(["a"], costly)
    mixed = {**costly, "h1": -1}
    assert signed_ndcg_score(["a", "d"], mixed) > signed_ndcg_score(["a", "h1"], mixed)
    assert signed_ndcg_score(["h1", "d", "e", "g"], mixed) == pytest.approx(0.0)


def test_spearman_matches_scipy_with_and_without_ties():
    from scipy.stats import spearmanr

    from scenarios.metrics import spearman_score

    rng = np.random.default_rng(4)
    for _ in range(20):
        truth = rng.integers(0, 4, 30).astype(float)  # graded: many ties
        system = np.round(truth + rng.normal(0, 1.0, 30), 1)  # some ties too
        keys = [f"k{i}" for i in range(30)]
        ours = spearman_score(dict(zip(keys, system, strict=True)),
                              dict(zip(keys, truth, strict=True)))
        assert ours == pytest.approx(spearmanr(system, truth).statistic, abs=1e-12)
