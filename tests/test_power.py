"""The design's arithmetic: look schedule, alpha per look, MDE and sizes (docs/statistics.md)."""

import pytest

from tuner.decisions.power import (
    look_sizes,
    look_weights,
    minimum_detectable_effect,
    sizes_for_effect,
    z_of,
)
from tuner.defaults import CONFIRMATION_SIZE, DEFAULT_ALPHA, DEFAULT_HELD_OUT


def test_looks_double_up_to_the_pool_and_their_alpha_shares_sum_to_one():
    assert look_sizes(800) == [50, 100, 200, 400, 800]
    assert look_sizes(60) == [50, 60] and look_sizes(30) == [30]
    weights = look_weights(look_sizes(800))
    assert sum(weights) == pytest.approx(1.0)
    assert weights == pytest.approx([50 / 1550, 100 / 1550, 200 / 1550, 400 / 1550,
                                     800 / 1550])


def test_the_default_pools_detect_two_points_at_the_noisiest_measured_sd():
    """+0.02 with 80% power at the last look's level, per-scenario delta SD 0.19, one family,
    on the held-out pool (screen level 0.10) and on the confirmation bank (alpha)."""
    for pool, level in ((DEFAULT_HELD_OUT, 0.10), (CONFIRMATION_SIZE, DEFAULT_ALPHA)):
        sizes = look_sizes(pool)
        last = level * look_weights(sizes)[-1]
        mde = minimum_detectable_effect({"f": 0.19}, {"f": sizes[-1]}, level=last)
        assert mde <= 0.02, (pool, level, mde)
    # the old design's 50 held-out scenarios at 0.05 / 26 could not
    old = minimum_detectable_effect({"f": 0.19}, {"f": 50}, level=0.05 / 26)
    assert old == pytest.approx(3.73 * 0.19 / 50 ** 0.5, rel=0.01) and old > 0.09


def test_neyman_allocation_gives_noisy_families_more_and_meets_the_target():
    sds = {"quiet": 0.05, "noisy": 0.2}
    sizes = sizes_for_effect(sds, 0.01, level=0.025, power=0.8, floor=10)
    assert sizes["noisy"] == pytest.approx(4 * sizes["quiet"], rel=0.05)
    assert minimum_detectable_effect(sds, sizes, level=0.025) <= 0.01 + 1e-9


def test_z_is_one_sided():
    assert z_of(0.025) == pytest.approx(1.959964, abs=1e-5)
