"""The prediction_ledger family: deterministic, leak-free, records differ in prediction error (so
the confidence gate separates them), and every PL_* constant it owns reaches the ranking.

``tests/test_runner.py`` checks a plain run of every family (same results twice, same key
count); the checks here are stricter: identical raw scores and an identical key set."""

from __future__ import annotations

import pytest
from family_helpers import (
    assert_key_set_unchanged,
    assert_raw_rankings_repeat,
    differs_on,
    family_run,
    redis,
    seeds_it_reaches,
    train_seeds,
    worlds_at_low_and_high,
)

from scenarios.families import get_family

FAMILY = "prediction_ledger"
REACH_SEEDS = 3
CONSTANTS = [
    "PL_CONFIDENCE_ERROR_THRESHOLD",
    "PL_CONFIDENCE_LOW_SIGNAL",
    "PL_AUTO_RESOLVE_ACTED",
    "PL_AUTO_RESOLVE_DISMISSED",
    "PL_AUTO_RESOLVE_CONTRADICTED",
]


def test_world_is_pure_and_grades_ignore_the_constants(popoto_redis, catalog):
    seed = train_seeds(FAMILY, 1)[0]
    world = get_family(FAMILY).build_world(seed)
    for name in CONSTANTS:
        for again in worlds_at_low_and_high(FAMILY, catalog.resolve(name), seed):
            assert again.records == world.records
            assert again.extras["ledger"] == world.extras["ledger"]


def test_run_is_deterministic(popoto_redis):
    assert_raw_rankings_repeat(FAMILY, train_seeds(FAMILY, 2))


def test_zero_leaked_keys(popoto_redis):
    assert_key_set_unchanged(train_seeds(FAMILY, 3))


def test_records_differ_in_prediction_error(popoto_redis):
    """The gate is not forced: resolved errors spread across the threshold's whole range, so a
    threshold value separates records instead of moving all of them the same way."""
    with family_run(FAMILY, train_seeds(FAMILY, 1)[0]) as run:
        # PredictionLedgerMixin's error set: $PL:{Class}:errors:{partition}, scored by |error|.
        pairs = redis().zrange(f"$PL:{run.class_name}:errors:default", 0, -1, withscores=True)
    seen = [error for _, error in pairs]
    assert len(set(seen)) >= 8  # continuous errors from explicit checks, not just 4 categories
    # Below the catalog's lowest threshold and above popoto's default one.
    assert min(seen) < 0.3 and max(seen) > 0.7


@pytest.mark.parametrize("name", CONSTANTS)
def test_reach_at_catalog_low_and_high(popoto_redis, catalog, name):
    constant = catalog.resolve(name)
    assert constant.reachable and constant.family == FAMILY
    reached = seeds_it_reaches(
        constant, train_seeds(FAMILY, REACH_SEEDS), differs_on("top", "spearman")
    )
    assert reached, f"{name}: identical rankings at low and high on {REACH_SEEDS} seeds"
