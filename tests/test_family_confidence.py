"""The confidence family: deterministic, leak-free, honest, and its three constants reach.

Reach means behaviour: the same scenario ranks or scores differently at the catalog's low and
high value of a constant. The mechanism tests check that outcomes really land in popoto (a
wrong outcome-map key silently defaults to "deferred", which would make every signal a no-op).
"""

from __future__ import annotations

import msgpack
import pytest

from scenarios.families import RunContext, get_family
from scenarios.runner import delete_namespace, evaluate_scenario
from scenarios.seeds import default_bank, split_bank
from tuner.overrides import applied_constants

FAMILY = "confidence"
CONSTANTS = ("initial_confidence", "ACTED_CONFIDENCE_SIGNAL", "CONTRADICTED_CONFIDENCE_SIGNAL")
REACH_SEEDS = 3


def train_seeds(count: int = REACH_SEEDS):
    train, _ = split_bank(default_bank(FAMILY))
    return train[:count]


def evaluate_at(constant, value, seeds):
    with applied_constants({constant: value}) as arguments:
        return [evaluate_scenario(seed, arguments=arguments) for seed in seeds]


def confidence_data(ctx: RunContext) -> dict[str, dict]:
    """The companion hash of the run's ConfidenceField, keyed by record key."""
    from popoto.redis_db import get_REDIS_DB

    (name,) = ctx.class_names
    raw = get_REDIS_DB().hgetall(f"$ConfidencF:{name}:confidence:data")
    prefix = f"{name}:"
    return {k.decode().removeprefix(prefix): msgpack.unpackb(v, raw=False) for k, v in raw.items()}


def run_and_inspect(seed):
    """Run the family and read the confidence hash before the namespace is deleted."""
    family = get_family(FAMILY)
    world = family.build_world(seed)
    ctx = RunContext(family=FAMILY)
    try:
        family.run(world, ctx)
        return world, confidence_data(ctx)
    finally:
        delete_namespace(ctx.class_names, ctx.extra_cleanup_patterns)


def test_same_seed_twice_is_identical(popoto_redis):
    for seed in train_seeds():
        first, second = evaluate_scenario(seed), evaluate_scenario(seed)
        assert first.error is None, first.error
        assert (first.top, first.ndcg) == (second.top, second.ndcg)


def test_leaves_no_keys(popoto_redis):
    from popoto.redis_db import get_REDIS_DB

    before = get_REDIS_DB().dbsize()
    results = [evaluate_scenario(seed) for seed in train_seeds()]
    assert all(r.error is None for r in results), [r.error for r in results]
    assert get_REDIS_DB().dbsize() == before


@pytest.mark.parametrize("name", CONSTANTS)
def test_constant_reaches_the_ranking(popoto_redis, catalog, name):
    constant = catalog.resolve(name)
    seeds = train_seeds()
    low = evaluate_at(constant, constant.low, seeds)
    high = evaluate_at(constant, constant.high, seeds)
    assert all(r.error is None for r in low + high), [r.error for r in low + high]
    assert any(a.top != b.top or a.ndcg != b.ndcg for a, b in zip(low, high, strict=True))


@pytest.mark.parametrize("name", CONSTANTS)
def test_world_does_not_depend_on_the_constant(catalog, name):
    constant = catalog.resolve(name)
    family = get_family(FAMILY)
    for seed in train_seeds():
        worlds = []
        for value in (constant.low, constant.high):
            with applied_constants({constant: value}):
                worlds.append(family.build_world(seed))
        assert worlds[0].records == worlds[1].records


def test_outcomes_land_as_confidence_evidence(popoto_redis):
    """Each acted/contradicted event is one update; dismissed/deferred leave confidence alone."""
    seed = train_seeds(1)[0]
    world, data = run_and_inspect(seed)
    assert set(data) == {r.key for r in world.records}
    for record in world.records:
        expected = record.outcomes.count("acted") + record.outcomes.count("contradicted")
        assert data[record.key]["evidence_count"] == expected
    assert any(r.outcomes for r in world.records)


def test_records_without_evidence_sit_at_initial_confidence(popoto_redis, catalog):
    """initial_confidence is captured when the run builds its ConfidenceField (mode K)."""
    constant = catalog.resolve("initial_confidence")
    seed = train_seeds(1)[0]
    with applied_constants({constant: 0.23}):
        world, data = run_and_inspect(seed)
    silent = [r.key for r in world.records if data[r.key]["evidence_count"] == 0]
    assert silent, "the seed should have records no outcome ever touched"
    assert all(data[key]["confidence"] == pytest.approx(0.23) for key in silent)


def test_confidence_is_the_running_mean_of_prior_and_signals(popoto_redis, catalog):
    """The aliases ``observation.ACTED/CONTRADICTED_CONFIDENCE_SIGNAL`` are what gets sent."""
    acted = catalog.resolve("ACTED_CONFIDENCE_SIGNAL")
    contradicted = catalog.resolve("CONTRADICTED_CONFIDENCE_SIGNAL")
    prior = catalog.resolve("initial_confidence")
    seed = train_seeds(1)[0]
    with applied_constants({acted: 0.8, contradicted: 0.3, prior: 0.6}):
        world, data = run_and_inspect(seed)
    for record in world.records:
        a, c = record.outcomes.count("acted"), record.outcomes.count("contradicted")
        expected = (0.6 + 0.8 * a + 0.3 * c) / (1 + a + c)
        assert data[record.key]["confidence"] == pytest.approx(expected)
