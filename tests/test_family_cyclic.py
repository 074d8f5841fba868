"""The cyclic family: honest, and its four constants reach.

Determinism and zero leaked keys are checked for every family in ``tests/test_runner.py``.
Reach means behaviour: the same scenario ranks or scores differently at the catalog's low and
high value of a constant. The mechanism tests check that outcomes really land on the
CyclicDecayField (learned amplitudes, pressure clocks) and pin what popoto does with them,
including the surprise that auto-discharge cannot fire at its default threshold.
"""

from __future__ import annotations

import time

import msgpack
import pytest
from family_helpers import (
    assert_world_ignores,
    differs_on,
    keys_written_by_a_run,
    redis,
    seeds_it_reaches,
    train_seeds,
)

from scenarios.families import RunContext, get_family
from scenarios.families.cyclic import (
    DECLARED_AMPLITUDE,
    build_model,
    replay_sessions,
)
from scenarios.families.decay import save_all
from scenarios.runner import delete_namespace
from scenarios.world import Record, World
from tuner.evaluation.overrides import applied_constants

FAMILY = "cyclic"
CONSTANTS = (
    "ACTED_CYCLE_STRENGTHEN_FACTOR",
    "DISMISSED_CYCLE_WEAKEN_FACTOR",
    "CONTRADICTED_CYCLE_WEAKEN_FACTOR",
    "AUTO_DISCHARGE_CONFIDENCE_THRESHOLD",
)
REACH_SEEDS = 6
MAX_AMPLITUDE, MIN_AMPLITUDE = 100.0, 0.01  # popoto's clamp in CYCLES_ADJUST_LUA


def test_every_key_written_carries_the_class_name(popoto_redis):
    """Cleanup by ``*{class}*`` is complete: popoto wrote no global key for this family."""
    name, new = keys_written_by_a_run(FAMILY, train_seeds(FAMILY, 1)[0])
    assert new and all(name in key.decode() for key in new)


@pytest.mark.parametrize("name", CONSTANTS)
def test_constant_reaches_the_ranking(popoto_redis, catalog, name):
    seeds, differ = train_seeds(FAMILY, REACH_SEEDS), differs_on("top", "ndcg", "spearman")
    assert seeds_it_reaches(catalog.resolve(name), seeds, differ)


@pytest.mark.parametrize("name", CONSTANTS)
def test_world_does_not_depend_on_the_constant(catalog, name):
    seeds = train_seeds(FAMILY, 3)
    assert_world_ignores(FAMILY, catalog.resolve(name), seeds, "records", "extras")


def expected_amplitude(outcomes: tuple[str, ...], factors: dict[str, float]) -> float:
    """popoto's stepwise rule: multiply, clamp to [0, 100], snap below 0.01 to 0."""
    amplitude = DECLARED_AMPLITUDE
    for outcome in outcomes:
        amplitude = min(MAX_AMPLITUDE, max(0.0, amplitude * factors[outcome]))
        amplitude = 0.0 if amplitude < MIN_AMPLITUDE else amplitude
    return amplitude


def amplitudes(model: type, instance) -> dict[str, float]:
    key = model._meta.fields["relevance"].get_cycles_hash_key(instance, "relevance")
    prefix = f"{model.__name__}:"
    raw = redis().hgetall(key)
    return {k.decode().removeprefix(prefix): msgpack.unpackb(v)[0][1] for k, v in raw.items()}


def test_outcomes_set_each_learned_amplitude(popoto_redis, catalog):
    """The three aliases in ``popoto.fields.observation`` are the factors popoto applies."""
    factors = {"acted": 1.7, "dismissed": 0.6, "contradicted": 0.35}
    names = {
        "acted": "ACTED_CYCLE_STRENGTHEN_FACTOR",
        "dismissed": "DISMISSED_CYCLE_WEAKEN_FACTOR",
        "contradicted": "CONTRADICTED_CYCLE_WEAKEN_FACTOR",
    }
    family, ctx = get_family(FAMILY), RunContext(family=FAMILY)
    world = family.build_world(train_seeds(FAMILY, 1)[0])
    values = {catalog.resolve(names[o]): f for o, f in factors.items()}
    try:
        with applied_constants(values):
            model = build_model(ctx, time.time(), 0.0)
            instances = save_all(model, world)
            replay_sessions(model, instances, world)
        learned = amplitudes(model, instances[0])
    finally:
        delete_namespace(ctx.class_names)
    assert any(r.outcomes for r in world.records)
    for record in world.records:
        assert learned[record.key] == pytest.approx(expected_amplitude(record.outcomes, factors))


def tiny_world() -> World:
    """Three records; record 1 is contradicted twice, record 0 acted on once."""
    seed = train_seeds(FAMILY, 1)[0]
    records = tuple(
        Record(key=f"k{i}x", grade=3 - i, utility=1.0 - i / 10, importance=0.5, age_days=10.0)
        for i in range(3)
    )
    sessions = [(5.0, [(0, "acted"), (1, "contradicted")]), (2.0, [(1, "contradicted")])]
    extras = {"sessions": sessions, "created_days": [10.0] * 3, "query_angle": 0.0}
    return World(seed=seed, records=records, extras=extras)


@pytest.mark.parametrize(
    ("threshold", "resolved"),
    [(0.01, 10.0), (0.1, 10.0), (0.2, 10.0), (0.29, 2.0), (0.5, 2.0)],
)
def test_auto_discharge_dates_the_pressure_clock(popoto_redis, catalog, threshold, resolved):
    """Confidence after k contradictions is (0.5 + 0.1 k) / (1 + k): 0.3, then 0.233.

    It is a running mean of signals >= CONTRADICTED_CONFIDENCE_SIGNAL (0.1), so at the default
    threshold (0.1) it is never strictly below it: auto-discharge cannot fire at popoto's
    defaults. Above 0.3 both contradictions discharge; the clock shows the later one.
    """
    constant = catalog.resolve("AUTO_DISCHARGE_CONFIDENCE_THRESHOLD")
    world, ctx = tiny_world(), RunContext(family=FAMILY)
    try:
        with applied_constants({constant: threshold}):
            model = build_model(ctx, time.time(), 0.0)
            clocks = replay_sessions(model, save_all(model, world), world)
    finally:
        delete_namespace(ctx.class_names)
    assert list(clocks["touch"]) == [5.0, 10.0, 10.0]  # only "acted" touches the decay clock
    assert list(clocks["resolved"]) == [5.0, resolved, 10.0]  # "acted" always resolves
