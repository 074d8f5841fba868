"""Decay family: importance versus recency, read through ``DecayingSortedField``.

Latent truth: each seed has a hidden *recency need* ``rho`` (log-uniform in [0.05, 1.0]); a
record's utility is ``value * (1 + age_days) ** -rho``. popoto sees a noisy importance and the
exact age and ranks by ``importance * age ** -decay_rate``. The truth is drawn from the seed, so it
cannot depend on ``decay_rate``; the constant only changes how popoto trades importance for age.
"""

from __future__ import annotations

import numpy as np

from scenarios.families.base import PhasedFamily, Prepared, Ranking, RunContext, composite_ranking
from scenarios.knobs import Knob
from scenarios.seeds import ScenarioSeed
from scenarios.world import (
    SECONDS_PER_DAY,
    World,
    base_draws,
    build_records,
    noisy,
)

RECENCY_NEED_LOW = Knob(
    "recency_need_low", 0.05, 0.01, 0.2,
    "least hidden recency need rho of a seed (log-uniform in [low, high]); utility = value x "
    "(1 + age days)^-rho, so at 0.05 a month-old record keeps ~84% of its value",
)
RECENCY_NEED_HIGH = Knob(
    "recency_need_high", 1.0, 0.3, 3.0,
    "greatest hidden recency need rho of a seed; at 1.0 a record's usefulness halves after a "
    "day, at 3.0 after ~6 hours: how strongly the truth rewards recency over importance",
)


def recency_need(seed: ScenarioSeed, low: float = 0.05, high: float = 1.0) -> float:
    """The seed's hidden recency exponent: how fast usefulness really fades.

    ``low``/``high`` are the decay family's knobs; other families that share the draw keep
    today's bounds.
    """
    return float(np.exp(seed.rng(7).uniform(np.log(low), np.log(high))))


class DecayFamily(PhasedFamily):
    name = "decay"
    description = "importance x recency through DecayingSortedField (decay_rate)"
    knobs = (RECENCY_NEED_LOW, RECENCY_NEED_HIGH)

    def build_world(self, seed: ScenarioSeed) -> World:
        keys, value, ages = base_draws(seed)
        rho = recency_need(seed, RECENCY_NEED_LOW.read(seed), RECENCY_NEED_HIGH.read(seed))
        utility = value * (1.0 + ages) ** -rho
        importance = noisy(seed.rng(2), value, seed.noise_ratio)
        records = build_records(seed, utility, keys=keys, importance=importance, ages=ages)
        return World(seed=seed, records=records)

    def build_model(self, world: World, ctx: RunContext) -> type:
        from popoto import FloatField, KeyField
        from popoto.fields.decaying_sorted_field import DecayingSortedField

        return ctx.model(
            "Decay",
            {
                "key": KeyField(),
                "importance": FloatField(default=0.0),
                "relevance": DecayingSortedField(base_score_field="importance"),
            },
        )

    def setup(self, world: World, ctx: RunContext, model: type) -> Prepared:
        from popoto.redis_db import get_REDIS_DB

        saved = save_all(model, world)
        set_ages(model, saved, world, now=ctx.now, client=get_REDIS_DB())
        return Prepared()

    def finish(self, world: World, ctx: RunContext, model: type, prepared: Prepared) -> Ranking:
        return composite_ranking(
            model.query, model, record_count=len(world.records), indexes={"relevance": 1.0}
        )


def save_all(model: type, world: World, **extra_fields: dict) -> list:
    """Save every record in one pipeline; returns the instances."""
    from popoto.redis_db import get_REDIS_DB

    pipe = get_REDIS_DB().pipeline(transaction=False)
    instances = []
    for record in world.records:
        fields = {name: values[record.key] for name, values in extra_fields.items()}
        inst = model(key=record.key, importance=record.importance, **fields)
        inst.save(pipeline=pipe)
        instances.append(inst)
    pipe.execute()
    return instances


def set_ages(model: type, instances: list, world: World, *, now: float, client) -> None:
    """Give every record its age: ZADD its last-use timestamp into the key retrieval reads."""
    from popoto.fields.decaying_sorted_field import DecayingSortedField

    zkey = DecayingSortedField.get_partitioned_sortedset_db_key(instances[0], "relevance")
    mapping = {
        inst.db_key.redis_key: now - record.age_days * SECONDS_PER_DAY
        for inst, record in zip(instances, world.records, strict=True)
    }
    client.zadd(zkey.redis_key, mapping)
