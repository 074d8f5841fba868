"""The write-filter family: deterministic, leak-free, honest, and ``_wf_min_threshold`` reaches.

The mechanism tests check popoto's gate itself: exactly the records whose write-time salience
clears ``Defaults.WF_MIN_THRESHOLD`` (read at access time) are stored, dropped records are never
scored, and the priority ZSET holds exactly those at or above ``WF_PRIORITY_THRESHOLD``.
"""

from __future__ import annotations

import pytest

from scenarios.families import RunContext, get_family
from scenarios.metrics import ndcg_score
from scenarios.runner import delete_namespace, evaluate_scenario
from scenarios.seeds import default_bank, split_bank
from tuner.overrides import applied_constants

FAMILY = "write_filter"
CONSTANT = "_wf_min_threshold"
REACH_SEEDS = 3


def train_seeds(count: int = REACH_SEEDS):
    train, _ = split_bank(default_bank(FAMILY))
    return train[:count]


def run_and_inspect(seed):
    """Run the family; return the world, the ranking, stored keys and the priority ZSET."""
    from popoto.redis_db import get_REDIS_DB

    family = get_family(FAMILY)
    world = family.build_world(seed)
    ctx = RunContext(family=FAMILY)
    try:
        ranking = family.run(world, ctx)
        (name,) = ctx.class_names
        client = get_REDIS_DB()
        prefix = f"{name}:"
        stored = {m.decode().removeprefix(prefix) for m in client.smembers(f"$Class:{name}")}
        priority = {
            m.decode().removeprefix(prefix) for m in client.zrange(f"$WF:{name}:priority", 0, -1)
        }
        return world, ranking, stored, priority
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


def test_constant_reaches_the_ranking(popoto_redis, catalog):
    constant = catalog.resolve(CONSTANT)
    seeds = train_seeds()
    results = []
    for value in (constant.low, constant.high):
        with applied_constants({constant: value}) as arguments:
            results.append([evaluate_scenario(seed, arguments=arguments) for seed in seeds])
    low, high = results
    assert all(r.error is None for r in low + high), [r.error for r in low + high]
    assert any(a.top != b.top or a.ndcg != b.ndcg for a, b in zip(low, high, strict=True))


def test_world_does_not_depend_on_the_constant(catalog):
    constant = catalog.resolve(CONSTANT)
    family = get_family(FAMILY)
    for seed in train_seeds():
        worlds = []
        for value in (constant.low, constant.high):
            with applied_constants({constant: value}):
                worlds.append(family.build_world(seed))
        assert worlds[0].records == worlds[1].records


@pytest.mark.parametrize("threshold", [0.05, 0.3, 0.6])
def test_gate_keeps_exactly_the_salient_records(popoto_redis, catalog, threshold):
    from popoto.fields.constants import Defaults

    constant = catalog.resolve(CONSTANT)
    seed = train_seeds(1)[0]
    with applied_constants({constant: threshold}):
        world, ranking, stored, priority = run_and_inspect(seed)
    kept = {r.key for r in world.records if r.salience >= threshold}
    assert stored == kept
    assert set(ranking.scores) <= kept
    high = {r.key for r in world.records if r.salience >= Defaults.WF_PRIORITY_THRESHOLD}
    assert priority == high & kept


def test_dropped_records_still_count_in_the_ideal(popoto_redis, catalog):
    """A threshold that drops everything useful scores low: the ideal DCG keeps all records."""
    constant = catalog.resolve(CONSTANT)
    seed = train_seeds(1)[0]
    with applied_constants({constant: 0.99}):
        world, ranking, stored, _ = run_and_inspect(seed)
    assert len(stored) < len(world.records)
    assert ndcg_score(ranking.top, world.relevance) < 1.0
