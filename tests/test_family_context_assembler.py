"""The context_assembler family: honest, and its two constants reach.

Determinism and zero leaked keys are checked for every family in ``tests/test_runner.py``.
Reach means behaviour: the same session ends in a different proactive call at the catalog's low
and high value. The mechanism tests pin what each constant does inside ``assemble()``:
suppression is a confidence signal to the pull candidates that were not injected, and the
surfacing threshold only ever truncates the push list (so plain nDCG@5 cannot reward raising it,
which is why the family scores signed nDCG: the wrong records it truncates cost, and so do the
useless ones, each the seed's hidden interruption cost). The session's clocks are re-dated to
the next session's opening, and the truth counts every real use.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from family_helpers import (
    assert_world_ignores,
    confidence_data,
    differs_on,
    keys_written_by_a_run,
    low_and_high,
    redis,
    seeds_it_reaches,
    train_seeds,
)

from scenarios.families import RunContext, get_family
from scenarios.families.context_assembler import (
    INTERRUPTION_COST,
    MAX_ITEMS,
    build_assembler,
    build_model,
    date_records,
    interruption_cost,
)
from scenarios.families.decay import save_all
from scenarios.metrics import signed_ndcg_score, spearman_score
from scenarios.runner import delete_namespace
from scenarios.world import HARM_GRADE, SECONDS_PER_DAY
from tuner.evaluation.overrides import applied_constants

FAMILY = "context_assembler"
CONSTANTS = ("COMPETITIVE_SUPPRESSION_SIGNAL", "DEFAULT_SURFACING_THRESHOLD")
REACH_SEEDS = 6


def test_every_key_written_carries_the_class_name(popoto_redis):
    """The assembler writes no global key (RecallProposal and temp keys are per class)."""
    name, new = keys_written_by_a_run(FAMILY, train_seeds(FAMILY, 1)[0])
    assert new and all(name in key.decode() for key in new)
    assert any(key.decode().startswith(f"$RP:{name}:") for key in new)  # push path surfaced


@pytest.mark.parametrize("name", CONSTANTS)
def test_constant_reaches_the_ranking(popoto_redis, catalog, name):
    seeds, differ = train_seeds(FAMILY, REACH_SEEDS), differs_on("top", "ndcg", "spearman")
    assert seeds_it_reaches(catalog.resolve(name), seeds, differ)


@pytest.mark.parametrize("name", CONSTANTS)
def test_world_does_not_depend_on_the_constant(catalog, name):
    seeds = train_seeds(FAMILY, 3)
    assert_world_ignores(FAMILY, catalog.resolve(name), seeds, "records", "relevance", "extras")


def test_surfacing_threshold_only_truncates_the_proactive_list(popoto_redis, catalog):
    """Query turns never inject push records (the pull path fills ``max_items``), so the session
    is the same at any threshold and a higher one can only cut the tail of the final list."""
    constant = catalog.resolve("DEFAULT_SURFACING_THRESHOLD")
    low, high = low_and_high(constant, train_seeds(FAMILY, REACH_SEEDS))
    for a, b in zip(low, high, strict=True):
        assert b.top == a.top[: len(b.top)]
        assert b.ndcg <= a.ndcg
    assert any(len(b.top) < len(a.top) for a, b in zip(low, high, strict=True))


def test_suppression_signals_the_candidates_that_were_not_injected(popoto_redis, catalog):
    """One query turn: the ``max_items`` runners-up get one update with the signal, no others."""
    constant = catalog.resolve("COMPETITIVE_SUPPRESSION_SIGNAL")
    family, ctx = get_family(FAMILY), RunContext(family=FAMILY)
    world = family.build_world(train_seeds(FAMILY, 1)[0])
    try:
        with applied_constants({constant: 0.13}):
            model = build_model(ctx)
            instances = save_all(model, world)
            date_records(model, instances, world, now=time.time())
            result = build_assembler(model).assemble(query_cues={"topic": "session"})
        data = confidence_data(model.__name__)
    finally:
        delete_namespace(ctx.class_names)
    injected = {inst.key for inst in result.records}
    signalled = {key: entry for key, entry in data.items() if entry["evidence_count"]}
    assert len(injected) == MAX_ITEMS and not injected & set(signalled)
    assert len(signalled) == min(MAX_ITEMS, len(world.records) - MAX_ITEMS)
    for entry in signalled.values():
        assert entry["evidence_count"] == 1
        assert entry["confidence"] == pytest.approx((0.5 + 0.13) / 2)


def test_reactions_land_on_the_injected_records(popoto_redis):
    """A wrong outcome-map key would silently default to "deferred": check they land."""
    from scenarios.families.context_assembler import react

    family, ctx = get_family(FAMILY), RunContext(family=FAMILY)
    world = family.build_world(train_seeds(FAMILY, 1)[0])
    row = world.extras["turns"][0]
    try:
        model = build_model(ctx)
        instances = save_all(model, world)
        date_records(model, instances, world, now=time.time())
        index = {inst.db_key.redis_key: i for i, inst in enumerate(instances)}
        result = build_assembler(model).assemble(query_cues={"topic": "session"})
        react(result.records, row, index)
        data = confidence_data(model.__name__)
    finally:
        delete_namespace(ctx.class_names)
    position = {record.key: i for i, record in enumerate(world.records)}
    reactions = [row[position[inst.key]] for inst in result.records]
    assert any(r != "dismissed" for r in reactions)
    for inst, reaction in zip(result.records, reactions, strict=True):
        assert data[inst.key]["evidence_count"] == (reaction != "dismissed")


def test_every_clock_is_re_dated_to_the_next_session(popoto_redis):
    """No decay clock, touches of the session included, is newer than the session gap allows:
    an "acted" record is not fresher at the proactive call than a use one gap ago."""
    from family_helpers import family_run

    seed = train_seeds(FAMILY, 1)[0]
    with family_run(FAMILY, seed) as run:
        gap = run.world.extras["session_gap_days"]
        (zset,) = [
            k
            for k in redis().scan_iter(match=f"*{run.class_name}*relevance*")
            if redis().type(k) == b"zset"
        ]
        newest = max(ts for _, ts in redis().zrange(zset, 0, -1, withscores=True))
    assert gap > 0
    assert newest <= time.time() - gap * SECONDS_PER_DAY + 1.0


def test_truth_counts_session_uses_whether_or_not_popoto_showed_them():
    """A record the agent needed on some turn was really used then (whatever popoto showed):
    its truth is fresher than the same record unused; wrong records are harmful."""
    from scenarios.families.context_assembler import session_needs, session_turns
    from scenarios.families.decay import recency_need
    from scenarios.world import base_draws

    fresher = 0
    for seed in train_seeds(FAMILY, 5):
        world = get_family(FAMILY).build_world(seed)
        wrong = np.array(world.extras["wrong"])
        grades = np.array([r.grade for r in world.records])
        assert (grades[wrong] < 0).all() and (grades[~wrong] >= 0).all()
        _, value, ages = base_draws(seed)
        rho, gap = recency_need(seed), world.extras["session_gap_days"]
        prior = (~wrong) * value * (1.0 + ages) ** -rho
        used = session_needs(seed, prior, wrong, session_turns(seed))[0].any(axis=0)
        unused_truth = (~wrong) * value * (1.0 + ages + gap) ** -rho
        utility = np.array([r.utility for r in world.records])
        assert np.allclose(utility[~used], unused_truth[~used])
        assert (utility[used] > unused_truth[used]).all()
        fresher += int(used.sum())
    assert fresher


def test_useless_pushes_cost_the_seeds_interruption():
    """What the surfacing threshold is for, in the truth: a genuine record the agent gains
    nothing from (grade 0) gains ``-c`` when pushed, ``c`` the seed's own hidden cost in
    ``[0, 1]`` (drawn from the seed alone; the world ignores the constants, see above). Wrong
    records keep ``HARM_GRADE``, useful ones their grade; the useless are the guarded items. A
    push of useless records alone scores below an empty push, and the cost keeps the order of
    the grades (wrong < useless < useful), so Spearman reads the same truth as before."""
    costs = []
    for seed in train_seeds(FAMILY, 10):
        world = get_family(FAMILY).build_world(seed)
        cost = world.interruption_cost
        # From free to as costly as a wrong record (which also misleads), never more.
        assert INTERRUPTION_COST == (0.0, -HARM_GRADE) and 0.0 <= cost <= -HARM_GRADE
        assert cost == interruption_cost(seed)
        relevance = world.relevance
        useless = [r.key for r in world.records if r.grade == 0]
        assert set(world.extras["guarded"]) == set(useless)
        for record in world.records:
            assert relevance[record.key] == (-cost if record.grade == 0 else record.grade)
        assert cost > 0  # a continuous draw: exactly 0 (the free push) has no mass
        assert signed_ndcg_score(useless[:MAX_ITEMS], relevance) < signed_ndcg_score([], relevance)
        grades = {r.key: r.grade for r in world.records}
        scores = {r.key: float(i) for i, r in enumerate(world.records)}
        assert spearman_score(scores, relevance) == pytest.approx(spearman_score(scores, grades))
        costs.append(cost)
    assert len(set(costs)) == len(costs)
