"""The policy_cache family: deterministic, leak-free (global PolicyEntry included), and it reaches
every constant it owns except the dead CHI_SQUARED_P_THRESHOLD alias, which nothing reads.

``tests/test_runner.py`` checks a plain run of every family (same results twice, same key
count); the checks here are stricter: identical raw scores, an identical key set, no bloom."""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from family_helpers import (
    assert_key_set_unchanged,
    assert_raw_rankings_repeat,
    differs_on,
    evaluate_all,
    redis,
    run_ranking,
    seeds_it_reaches,
    train_seeds,
    worlds_at_low_and_high,
)

from scenarios.families import get_family
from scenarios.families.policy_cache import BLOOM_KEY
from scenarios.runner import build_world

FAMILY = "policy_cache"
REACH_SEEDS = 5
DEAD = "CHI_SQUARED_P_THRESHOLD"


def family_constants(catalog) -> list:
    return [c for c in catalog if c.family == FAMILY]


def test_world_is_pure_and_grades_ignore_the_constants(popoto_redis, catalog):
    seed = train_seeds(FAMILY, 1)[0]
    world = get_family(FAMILY).build_world(seed)
    for constant in family_constants(catalog):
        for again in worlds_at_low_and_high(FAMILY, constant, seed):
            assert again.records == world.records
            assert again.extras["policy"] == world.extras["policy"]


def test_world_has_the_promised_structure():
    world = build_world(train_seeds(FAMILY, 1)[0])
    log = world.extras["policy"]
    assert len(log.situation_of) == len(world.records)
    assert len(log.situations) < len(world.records)  # several actions per situation
    sizes = {len(s.records) for s in log.situations}
    assert max(sizes) > 1
    times = [ts for _, _, ts in log.events]
    assert times == sorted(times) and log.now > times[-1]


def test_run_is_deterministic(popoto_redis):
    assert_raw_rankings_repeat(FAMILY, train_seeds(FAMILY, 2))


def test_zero_leaked_keys_on_a_clean_database(popoto_redis):
    """The same key set as before (see the helper), and no bloom filter created."""
    assert_key_set_unchanged(train_seeds(FAMILY, 3))
    assert not redis().exists(BLOOM_KEY)


def foreign_policy() -> object:
    """A PolicyEntry some other user owns, crystallized through the same handler."""
    from popoto.recipes.policy_cache import PolicyEntry, crystallization_handler

    fields = {
        "state_fingerprint": "f00dfacecafebeef",
        "action_type": "someone-elses-action",
        "outcome": "success",
        "agent_id": "someone-else",
        "state_features": json.dumps({"task": "theirs"}),
    }
    asyncio.run(crystallization_handler([(f"{i}-0", dict(fields)) for i in range(20)]))
    (entry,) = PolicyEntry.query.filter(agent_id="someone-else").all()
    return entry


def snapshot(client) -> dict:
    """Every key's type and content (the bloom bit array aside), for before/after comparison."""
    readers = {
        b"set": lambda k: sorted(client.smembers(k)),
        b"hash": lambda k: sorted(client.hgetall(k).items()),
        b"zset": lambda k: client.zrange(k, 0, -1, withscores=True),
        b"string": client.get,
        b"stream": lambda k: client.xrange(k),
        b"list": lambda k: client.lrange(k, 0, -1),
    }
    return {
        key: readers[client.type(key)](key) for key in client.keys("*") if key != BLOOM_KEY.encode()
    }


def test_never_touches_another_owners_policy_entries(popoto_redis):
    from popoto.recipes.policy_cache import PolicyEntry

    client = redis()
    entry = foreign_policy()
    try:
        before = snapshot(client)
        evaluate_all(train_seeds(FAMILY, 3))
        assert snapshot(client) == before  # same keys, same contents: global sets included
        # The pre-existing bloom filter is left in place (bits cannot be removed safely).
        assert client.exists(BLOOM_KEY)
        assert not PolicyEntry.bloom.definitely_missing(PolicyEntry, "f00dfacecafebeef")
    finally:
        entry.delete()
        client.delete(BLOOM_KEY, "stream:policy_mutations:someone-else")


def test_bloom_dedup_locks_one_policy_per_situation(popoto_redis):
    """The popoto behaviour the world is built around: the ExistenceFilter pre-check is keyed by
    state fingerprint, so a second qualifying action of the same situation never crystallizes."""
    from popoto.recipes.policy_cache import PolicyEntry, crystallization_handler

    entries = [
        (f"{a}{i}-0", {"state_fingerprint": "0123abcd4567ef89", "action_type": action,
                       "outcome": "success", "agent_id": "tn-bloom-probe"})
        for a, action in enumerate(("first", "second"))
        for i in range(12)
    ]  # fmt: skip
    asyncio.run(crystallization_handler(entries))
    found = PolicyEntry.query.filter(agent_id="tn-bloom-probe").all()
    try:
        assert [p.action_type for p in found] == ["first"]
    finally:
        for p in found:
            p.delete()
        redis().delete(BLOOM_KEY, "stream:policy_mutations:tn-bloom-probe")


@pytest.mark.parametrize(
    "name",
    [
        "MIN_EVENTS_FOR_CRYSTALLIZATION",
        "WILSON_CI_THRESHOLD",
        "TD_ALPHA",
        "TD_GAMMA",
        "INITIAL_CYCLE_AMPLITUDE",
    ],
)
def test_reach_at_catalog_low_and_high(popoto_redis, catalog, name):
    constant = catalog.resolve(name)
    assert constant.reachable and constant.family == FAMILY
    reached = seeds_it_reaches(
        constant, train_seeds(FAMILY, REACH_SEEDS), differs_on("top", "spearman")
    )
    assert reached, f"{name}: identical rankings at low and high on {REACH_SEEDS} seeds"


def alias_reads(name: str) -> list[str]:
    """Every place in the installed popoto that *reads* ``name`` (as a bare name, an attribute
    or a getattr string), other than the one alias definition ``name = Defaults.name``."""
    import popoto

    reads = []
    for path in Path(popoto.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        allowed = {
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == [name]
        }
        for node in ast.walk(tree):
            if reads_name(node, name) and id(node) not in allowed:
                reads.append(f"{path.name}:{node.lineno}")
    return reads


def reads_name(node: ast.AST, name: str) -> bool:
    """``name`` loaded as a bare name or attribute, or spelled as a string (getattr-style)."""
    if isinstance(node, ast.Name | ast.Attribute):
        spelled = node.id if isinstance(node, ast.Name) else node.attr
        return spelled == name and isinstance(node.ctx, ast.Load)
    return isinstance(node, ast.Constant) and node.value == name


def test_chi_squared_threshold_is_a_dead_alias(popoto_redis, catalog):
    constant = catalog.resolve(DEAD)
    assert not constant.reachable and "CHI_SQUARED_CRITICAL_VALUES" in constant.reason
    assert alias_reads(DEAD) == []
    for seed in train_seeds(FAMILY, 3):
        low = run_ranking(FAMILY, seed, {constant: constant.low})
        high = run_ranking(FAMILY, seed, {constant: constant.high})
        assert low == high


def test_alias_scan_would_catch_a_reader():
    """The scan is not vacuous: a constant the recipe does read is found."""
    assert any(site.startswith("policy_cache.py") for site in alias_reads("WILSON_CI_THRESHOLD"))


def test_worlds_hold_bad_policies_that_get_lucky_successes():
    """What the Wilson bound and the event count guard against is really in the worlds: actions
    that mostly fail (harmful grade) yet have logged successes, some in a row."""
    runs = 0
    for seed in train_seeds(FAMILY, 10):
        world = build_world(seed)
        harmful = {i for i, r in enumerate(world.records) if r.grade < 0}
        assert harmful and len(harmful) < len(world.records)
        events = world.extras["policy"].events
        wins = [ok for rec, ok, _ in events if rec in harmful]
        good = [ok for rec, ok, _ in events if rec not in harmful]
        assert any(wins) and np.mean(wins) < np.mean(good)
        runs += any(
            a[0] == b[0] and a[0] in harmful and a[1] and b[1]
            for a, b in zip(events, events[1:], strict=False)
        )
    assert runs  # two straight logged successes of a bad action (enough for a Wilson bound 0.34)
