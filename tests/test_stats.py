"""The paired statistics: a sign-flip test that holds on ties, equal-weight strata, Holm."""

import numpy as np
import pytest
from scipy.stats import permutation_test

from tuner.decisions.stats import holm_adjusted, paired_test, sign_flip_p_values, stratum_weights


def test_few_wins_among_many_ties_are_not_significant():
    """[0.2, 0.02, 0.01] + 12 zeros: a bootstrap CI excludes 0, but 3 of 3 signs is p = 1/8."""
    result = paired_test([[0.2, 0.02, 0.01] + [0.0] * 12])
    assert result.p_value == pytest.approx(0.125)
    assert result.n == 15 and result.n_nonzero == 3
    assert result.ci_low >= 0.0  # the display CI alone would have passed it


def test_all_zero_deltas_carry_no_evidence_either_way():
    result = paired_test([[0.0] * 20])
    assert (result.mean, result.p_value, result.p_harm) == (0.0, 1.0, 1.0)


def scipys_p(deltas, n_resamples):
    return permutation_test((deltas,), np.mean, permutation_type="samples",
                            alternative="greater", n_resamples=n_resamples,
                            rng=np.random.default_rng(0)).pvalue


def deltas_of(n, mean, seed):
    return np.round(np.random.default_rng(seed).normal(mean, 0.03, n), 4)


def test_sign_flip_matches_scipys_permutation_test_far_from_the_threshold():
    deltas = np.random.default_rng(7).normal(0.01, 0.03, 40)
    assert paired_test([deltas]).p_value == pytest.approx(scipys_p(deltas, 20_000), abs=0.01)


# (n, mean, rng seed, where p lands): drawn so that p falls where decisions are taken.
@pytest.mark.parametrize(("n", "mean", "seed", "near"), [
    (16, 0.02, 0, 0.05),  # 16 non-zero deltas: both sides enumerate all 2**16 sign patterns
    (16, 0.025, 2, 0.002),
])
def test_exact_sign_flip_equals_scipys_exact_test_near_the_thresholds(n, mean, seed, near):
    deltas = deltas_of(n, mean, seed)
    ours, theirs = paired_test([deltas]).p_value, scipys_p(deltas, np.inf)
    assert theirs == pytest.approx(near, rel=0.2)
    assert ours == pytest.approx(theirs, rel=1e-9)


@pytest.mark.parametrize(("n", "mean", "seed", "near", "tolerance"), [
    # Monte Carlo on both sides (ours 20,000 resamples, scipy's 200,000): about 4 standard
    # errors of ours at that p; a two-sided p or an unweighted statistic is far outside.
    (40, 0.012, 4, 0.05, 0.006),
    (40, 0.018, 3, 0.002, 0.0008),
])
def test_resampled_sign_flip_matches_scipy_near_the_thresholds(n, mean, seed, near, tolerance):
    deltas = deltas_of(n, mean, seed)
    ours, theirs = paired_test([deltas]).p_value, scipys_p(deltas, 200_000)
    assert theirs == pytest.approx(near, rel=0.2)
    assert ours == pytest.approx(theirs, abs=tolerance)


def test_exact_enumeration_is_used_for_few_nonzero_deltas():
    gain, harm = sign_flip_p_values(np.array([0.1, 0.1, -0.1, 0.0]), np.full(4, 0.25),
                                    seed=0, resamples=10)
    assert gain == pytest.approx(4 / 8) and harm == pytest.approx(7 / 8)


def test_a_consistent_effect_is_significant_and_its_mirror_is_harm():
    deltas = np.random.default_rng(3).normal(0.02, 0.02, 50)
    up, down = paired_test([deltas]), paired_test([-deltas])
    assert up.p_value < 0.001 and up.p_harm > 0.99
    assert down.p_harm < 0.001 and down.mean == pytest.approx(-up.mean)


def test_strata_weigh_equally_whatever_their_size():
    weights = stratum_weights([[1.0] * 40, [1.0] * 4])
    assert weights.sum() == pytest.approx(1.0)
    assert weights[:40].sum() == pytest.approx(weights[40:].sum())
    result = paired_test([[0.05] * 40, [-0.04] * 4])
    assert result.mean == pytest.approx(0.005)


def test_the_test_is_seeded():
    deltas = [np.random.default_rng(1).normal(0, 0.05, 60)]
    assert paired_test(deltas) == paired_test(deltas)


def test_holm_steps_down():
    adjusted = holm_adjusted({"a": 0.01, "b": 0.04, "c": 0.03})
    assert adjusted == pytest.approx({"a": 0.03, "c": 0.06, "b": 0.06})
