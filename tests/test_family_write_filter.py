"""The write-filter family: honest, and ``_wf_min_threshold`` reaches.

Determinism and zero leaked keys are checked for every family in ``tests/test_runner.py``.
The mechanism tests check popoto's gate itself: exactly the records whose write-time salience
clears ``Defaults.WF_MIN_THRESHOLD`` (read at access time) are stored, dropped records are never
scored, and the priority ZSET holds exactly those at or above ``WF_PRIORITY_THRESHOLD``.
"""

from __future__ import annotations

import pytest
from family_helpers import (
    assert_world_ignores,
    differs_on,
    family_run,
    redis,
    seeds_it_reaches,
    train_seeds,
)

from scenarios.metrics import ndcg_score

FAMILY = "write_filter"
CONSTANT = "_wf_min_threshold"
REACH_SEEDS = 3


def run_and_inspect(seed, values=None):
    """Run the family; return the world, the ranking, stored keys and the priority ZSET."""
    with family_run(FAMILY, seed, values) as run:
        name, client = run.class_name, redis()
        prefix = f"{name}:"
        stored = {m.decode().removeprefix(prefix) for m in client.smembers(f"$Class:{name}")}
        priority = {
            m.decode().removeprefix(prefix) for m in client.zrange(f"$WF:{name}:priority", 0, -1)
        }
        return run.world, run.ranking, stored, priority


def test_constant_reaches_the_ranking(popoto_redis, catalog):
    seeds = train_seeds(FAMILY, REACH_SEEDS)
    assert seeds_it_reaches(catalog.resolve(CONSTANT), seeds, differs_on("top", "ndcg"))


def test_world_does_not_depend_on_the_constant(catalog):
    assert_world_ignores(FAMILY, catalog.resolve(CONSTANT), train_seeds(FAMILY, 3), "records")


@pytest.mark.parametrize("threshold", [0.05, 0.3, 0.6])
def test_gate_keeps_exactly_the_salient_records(popoto_redis, catalog, threshold):
    from popoto.fields.constants import Defaults

    constant = catalog.resolve(CONSTANT)
    seed = train_seeds(FAMILY, 1)[0]
    world, ranking, stored, priority = run_and_inspect(seed, {constant: threshold})
    kept = {r.key for r in world.records if r.salience >= threshold}
    assert stored == kept
    assert set(ranking.scores) <= kept
    high = {r.key for r in world.records if r.salience >= Defaults.WF_PRIORITY_THRESHOLD}
    assert priority == high & kept


def test_dropped_records_still_count_in_the_ideal(popoto_redis, catalog):
    """A threshold that drops everything useful scores low: the ideal DCG keeps all records."""
    constant = catalog.resolve(CONSTANT)
    seed = train_seeds(FAMILY, 1)[0]
    world, ranking, stored, _ = run_and_inspect(seed, {constant: 0.99})
    assert len(stored) < len(world.records)
    assert ndcg_score(ranking.top, world.relevance) < 1.0


def test_worlds_hold_chatter_the_gate_can_keep_out():
    """What the gate guards against is in the worlds: zero-value chatter (grade 0) whose noisy
    write-time salience straddles the threshold range, and some of it carries importance."""
    from scenarios.runner import build_world

    chatter = [
        r
        for seed in train_seeds(FAMILY, 10)
        for world in [build_world(seed)]
        for r in world.records
        if r.key in set(world.extras["guarded"])
    ]
    assert chatter and all(r.grade == 0 for r in chatter)
    salience = [r.salience for r in chatter]
    assert min(salience) < 0.1 < max(salience)
    assert max(r.importance for r in chatter) > 0.2
