"""The confidence family: honest, and its three constants reach.

Determinism and zero leaked keys are checked for every family in ``tests/test_runner.py``.
Reach means behaviour: the same scenario ranks or scores differently at the catalog's low and
high value of a constant. The mechanism tests check that outcomes really land in popoto (a
wrong outcome-map key silently defaults to "deferred", which would make every signal a no-op).
"""

from __future__ import annotations

import pytest
from family_helpers import (
    assert_world_ignores,
    confidence_data,
    differs_on,
    family_run,
    seeds_it_reaches,
    train_seeds,
)

FAMILY = "confidence"
CONSTANTS = ("initial_confidence", "ACTED_CONFIDENCE_SIGNAL", "CONTRADICTED_CONFIDENCE_SIGNAL")
REACH_SEEDS = 3


def run_and_inspect(seed, values=None):
    """Run the family and read the confidence hash before the namespace is deleted."""
    with family_run(FAMILY, seed, values) as run:
        return run.world, confidence_data(run.class_name)


@pytest.mark.parametrize("name", CONSTANTS)
def test_constant_reaches_the_ranking(popoto_redis, catalog, name):
    seeds = train_seeds(FAMILY, REACH_SEEDS)
    assert seeds_it_reaches(catalog.resolve(name), seeds, differs_on("top", "ndcg"))


@pytest.mark.parametrize("name", CONSTANTS)
def test_world_does_not_depend_on_the_constant(catalog, name):
    assert_world_ignores(FAMILY, catalog.resolve(name), train_seeds(FAMILY, 3), "records")


def test_outcomes_land_as_confidence_evidence(popoto_redis):
    """Each acted/contradicted event is one update; dismissed/deferred leave confidence alone."""
    seed = train_seeds(FAMILY, 1)[0]
    world, data = run_and_inspect(seed)
    assert set(data) == {r.key for r in world.records}
    for record in world.records:
        expected = record.outcomes.count("acted") + record.outcomes.count("contradicted")
        assert data[record.key]["evidence_count"] == expected
    assert any(r.outcomes for r in world.records)


def test_records_without_evidence_sit_at_initial_confidence(popoto_redis, catalog):
    """initial_confidence is captured when the run builds its ConfidenceField (mode K)."""
    constant = catalog.resolve("initial_confidence")
    seed = train_seeds(FAMILY, 1)[0]
    world, data = run_and_inspect(seed, {constant: 0.23})
    silent = [r.key for r in world.records if data[r.key]["evidence_count"] == 0]
    assert silent, "the seed should have records no outcome ever touched"
    assert all(data[key]["confidence"] == pytest.approx(0.23) for key in silent)


def test_confidence_is_the_running_mean_of_prior_and_signals(popoto_redis, catalog):
    """The aliases ``observation.ACTED/CONTRADICTED_CONFIDENCE_SIGNAL`` are what gets sent."""
    acted = catalog.resolve("ACTED_CONFIDENCE_SIGNAL")
    contradicted = catalog.resolve("CONTRADICTED_CONFIDENCE_SIGNAL")
    prior = catalog.resolve("initial_confidence")
    seed = train_seeds(FAMILY, 1)[0]
    world, data = run_and_inspect(seed, {acted: 0.8, contradicted: 0.3, prior: 0.6})
    for record in world.records:
        a, c = record.outcomes.count("acted"), record.outcomes.count("contradicted")
        expected = (0.6 + 0.8 * a + 0.3 * c) / (1 + a + c)
        assert data[record.key]["confidence"] == pytest.approx(expected)
