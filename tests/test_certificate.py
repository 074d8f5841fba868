"""Certificates: an upper bound on any value's gain, simultaneous, fixed-count, that covers —
for sparse deltas too — and that names the values it bounds."""

import numpy as np
import pytest

from tuner.catalog import load_catalog
from tuner.decisions.certificate import certify, upper_bound
from tuner.decisions.comparison import compare_deltas


def comparison(deltas_by_family):
    return compare_deltas({f: {f"{f}:{i}": float(d) for i, d in enumerate(ds)}
                           for f, ds in deltas_by_family.items()})


def test_a_value_that_changed_nothing_seen_is_still_bounded_above_zero():
    """Nothing changed in 60 scenarios does not mean nothing changes: the bound says what the
    scenarios not seen could still do (the old t bound was exactly 0 here)."""
    bound, _ = upper_bound(comparison({"a": [0.0] * 60, "b": [0.0] * 60}), 0.001)
    assert 0.0 < bound < 0.3


@pytest.mark.parametrize("p", [0.01, 0.03])
def test_the_bound_covers_a_sparse_gain_at_its_level(p):
    """A constant that changes a share p of scenarios by +0.5: the 95% bound covers the true
    mean (0.5 p) in >= 95% of seeded draws (the Welch t bound missed 22% at 3%, 62% at 1%)."""
    rng = np.random.default_rng(11)
    covered = [upper_bound(comparison({"f": np.where(rng.random(100) < p, 0.5, 0.0)}),
                           0.05)[0] >= 0.5 * p for _ in range(300)]
    assert np.mean(covered) >= 0.95


def test_the_level_is_shared_over_values_and_the_runs_constants():
    constant = load_catalog().resolve("decay_per_hop")
    rng = np.random.default_rng(2)
    grid = [(v, comparison({"co_occurrence": -0.01 + 0.05 * rng.standard_normal(50)}))
            for v in (0.2, 0.4, 0.6)]
    one = certify(constant, 0.5, grid, [], certificates=1)
    many = certify(constant, 0.5, grid, [], certificates=26)
    fixed = certify(constant, 0.5, grid, [], certificates=26, values_each=5)
    assert one.level_each == pytest.approx(0.05 / 3)
    assert many.level_each == pytest.approx(0.05 / 3 / 26)
    assert fixed.level_each == pytest.approx(0.05 / 5 / 26)  # the catalog's count, not ours
    assert many.bound > one.bound  # corrected like the decisions: wider
    assert one.bound == max(v.bound for v in one.values)


def test_the_text_names_the_values_it_bounds_and_what_it_does_not():
    constant = load_catalog().resolve("decay_per_hop")
    rng = np.random.default_rng(5)
    grid = [(v, comparison({"co_occurrence": 0.05 * rng.standard_normal(50)}))
            for v in (0.2, 0.4)]
    held = comparison({"co_occurrence": 0.05 * rng.standard_normal(50)})
    text = certify(constant, 0.5, grid, [(0.8138, held, 8)], certificates=26).text()
    assert text.startswith("no value of 0.2, 0.4 and 0.8138 beats 0.5 by more than")
    assert "simultaneous over the run's 26 constants" in text
    assert "not the range" in text


def test_a_collapsed_constant_reads_no_zero():
    constant = load_catalog().resolve("decay_per_hop")
    grid = [(v, comparison({"co_occurrence": [0.0] * 50})) for v in (0.2, 0.4)]
    cert = certify(constant, 0.5, grid, [], certificates=26, collapsed=True)
    assert cert.bound > 0
    assert "changed any of the 50 scenarios scored" in cert.text()
    assert "0.0000" not in cert.text()


def test_a_wide_bound_says_what_would_narrow_it():
    constant = load_catalog().resolve("WILSON_CI_THRESHOLD")
    wide = comparison({"policy_cache": 0.19 * np.random.default_rng(4).standard_normal(50)})
    cert = certify(constant, 0.6, [(0.5, wide)], [], certificates=26, target=0.01)
    assert cert.bound > 0.05 and cert.narrow_with > 50  # more than the 50 it has
    assert "train scenarios per family would bound it at 0.010" in cert.text()
