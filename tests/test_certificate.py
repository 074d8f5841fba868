"""Certificates: an upper bound on any value's gain, simultaneous and corrected, that covers."""

import numpy as np
import pytest

from tuner.catalog import load_catalog
from tuner.decisions.certificate import certify, upper_bound
from tuner.decisions.comparison import FamilyComparison, PairedComparison


def comparison(deltas_by_family):
    """Only what a bound reads: per-family deltas and the equal-weight mean (no tests run)."""
    families = {f: FamilyComparison(f, float(np.mean(ds)), 1.0, 1.0, 0.0, 0.0, len(ds),
                                    {f"{f}:{i}": float(d) for i, d in enumerate(ds)})
                for f, ds in deltas_by_family.items()}
    mean = float(np.mean([fc.mean for fc in families.values()]))
    return PairedComparison(mean, 0.0, 0.0, sum(fc.n for fc in families.values()), 1.0,
                            families)


def test_a_value_that_changes_nothing_is_bounded_at_zero():
    bound, _ = upper_bound(comparison({"a": [0.0] * 30, "b": [0.0] * 30}), 0.001)
    assert bound == 0.0


def test_the_bound_covers_the_true_gain_at_its_level():
    """200 seeded draws of 60 deltas with true mean 0.01: the 90% bound covers >= 85%."""
    rng = np.random.default_rng(11)
    covered = [upper_bound(comparison({"f": 0.01 + 0.08 * rng.standard_normal(60)}), 0.10)[0]
               >= 0.01 for _ in range(200)]
    assert 0.85 <= np.mean(covered) <= 0.95


def test_the_level_is_shared_over_values_and_certificates():
    constant = load_catalog().resolve("decay_per_hop")
    rng = np.random.default_rng(2)
    grid = [(v, comparison({"co_occurrence": -0.01 + 0.05 * rng.standard_normal(50)}))
            for v in (0.2, 0.4, 0.6)]
    one = certify(constant, 0.5, grid, [], certificates=1)
    many = certify(constant, 0.5, grid, [], certificates=26)
    assert one.level_each == pytest.approx(0.05 / 3)
    assert many.level_each == pytest.approx(0.05 / 3 / 26)
    assert many.bound > one.bound  # corrected like the decisions: wider
    assert one.bound == max(v.bound for v in one.values)


def test_a_held_out_value_pays_for_its_sequential_looks():
    constant = load_catalog().resolve("decay_per_hop")
    held = comparison({"co_occurrence": 0.05 * np.random.default_rng(3).standard_normal(50)})
    once = certify(constant, 0.5, [], [(0.8, held, 1)], certificates=1)
    looked = certify(constant, 0.5, [], [(0.8, held, 5)], certificates=1)
    assert looked.bound > once.bound and looked.values[0].source == "held-out"


def test_a_wide_bound_says_what_would_narrow_it():
    constant = load_catalog().resolve("WILSON_CI_THRESHOLD")
    wide = comparison({"policy_cache": 0.19 * np.random.default_rng(4).standard_normal(50)})
    cert = certify(constant, 0.6, [(0.5, wide)], [], certificates=26, target=0.01)
    assert cert.bound > 0.05 and cert.narrow_with > 50  # more than the 50 it has
    assert "train scenarios per family would bound it at 0.010" in cert.text()
    assert cert.text().startswith("no value of the 1 looked at in [0.3, 0.9] beats 0.6 by more")
