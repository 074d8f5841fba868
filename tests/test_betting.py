"""The betting tests are tests of the *mean*: valid for skewed, sparse, bounded deltas."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.decisions import betting
from tuner.decisions.stats import paired_test

SKEWED_NULL = (0.02, 0.5, 0.01)  # 2% of scenarios lose 0.5, the rest gain 0.01: mean ~ 0


def skewed(rng: np.random.Generator, n: int) -> np.ndarray:
    p, loss, gain = SKEWED_NULL
    return np.where(rng.random(n) < p, -loss, gain)


def test_a_skewed_null_is_not_rejected_though_the_sign_flip_test_rejects_it():
    """+0.01 almost everywhere, -0.5 on 2%: the mean is below the bar, so the mean test must
    not pass it; the sign-flip test (null: symmetry) does, which is why it was replaced."""
    rng = np.random.default_rng(7)
    draws = [skewed(rng, 50) for _ in range(200)]
    ours = sum(betting.p_value(x, 0.005, design_level=0.05) < 0.05 for x in draws)
    theirs = sum(paired_test([x], resamples=2_000).p_value < 0.05 for x in draws[:60])
    assert ours == 0
    assert theirs >= 15  # symmetry is rejected whenever no loss happens to be drawn


def test_the_anytime_p_value_holds_its_level_under_the_worst_bounded_null():
    """Two-point deltas with mean exactly at the bar: rejections at most at the level."""
    rng = np.random.default_rng(11)
    bar, level = 0.005, 0.1
    # P(+0.5) chosen so that the mean is exactly the bar: the least favourable bounded null
    p_up = (bar + 0.5) / 1.0
    hits = sum(betting.p_value(np.where(rng.random(400) < p_up, 0.5, -0.5), bar,
                               design_level=level) < level for _ in range(400))
    assert hits / 400 <= level


def test_a_real_gain_is_found():
    rng = np.random.default_rng(3)
    x = np.clip(rng.normal(0.05, 0.1, 400), -1, 1)
    assert betting.p_value(x, 0.005, design_level=0.05) < 1e-3
    assert betting.lower_bound(x, level=0.05) > 0.005


def test_bounds_bracket_the_mean_and_never_collapse_to_zero_when_nothing_changed():
    zeros = np.zeros(300)
    assert betting.upper_bound(zeros, level=0.01) > 0.0
    assert betting.lower_bound(zeros, level=0.01) < 0.0
    rng = np.random.default_rng(5)
    x = np.clip(rng.normal(0.02, 0.2, 200), -1, 1)
    assert betting.lower_bound(x, level=0.05) < x.mean() < betting.upper_bound(x, level=0.05)


def test_upper_bounds_cover_a_sparse_gain():
    """1% of scenarios gain +0.5 (mean 0.005): an all-zero sample must still be bounded above
    the true mean most of the time, unlike a t bound (which is exactly 0 there)."""
    rng = np.random.default_rng(13)
    level = 0.05
    misses = sum(betting.upper_bound(np.where(rng.random(100) < 0.01, 0.5, 0.0),
                                     level=level) < 0.005 for _ in range(300))
    assert misses / 300 <= level


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_samples_are_uninformative(n):
    x = np.zeros(n)
    assert betting.p_value(x, 0.0, design_level=0.05) == 1.0
    assert betting.lower_bound(x, level=0.05) <= -0.5


def test_rounds_weigh_families_and_drop_zero_weights():
    deltas = {"a": [1.0, 1.0, 1.0], "b": [0.0, 0.0], "c": [-1.0, -1.0]}
    assert betting.rounds(deltas).tolist() == pytest.approx([0.0, 0.0])
    assert betting.rounds(deltas, {"a": 3, "b": 1, "c": 0}).tolist() == \
        pytest.approx([0.75, 0.75])


def test_bets_are_capped_lower_over_the_first_rounds_and_always_below_one():
    """Quiet rounds push the plug-in to its caps: 3/4 while the variance estimate rests on
    few rounds, 0.9 after (where a multi-family mean is range-limited); never 1, or a round at
    -1 would zero the capital."""
    b = betting.bets(np.full(200, 0.01), design_level=0.05)
    assert b[:betting.EARLY_ROUNDS].max() == pytest.approx(0.75)
    assert b[betting.EARLY_ROUNDS:].min() == pytest.approx(0.9)
    assert b.max() < 1.0
