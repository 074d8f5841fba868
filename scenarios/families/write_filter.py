"""Write-filter family: a write-time gate (``WriteFilterMixin``) in front of decayed retrieval.

Latent truth: as in the decay family, a record's utility is ``value * (1 + age_days) ** -rho``
with a hidden per-seed recency need ``rho``. Two independent noisy views of ``value`` exist:
the *salience* the write filter scores when the record is offered (``compute_filter_score``; it
knows nothing of recency) and the *importance* retrieval ranks on later. popoto drops every
record whose salience is below ``_wf_min_threshold`` (``Defaults.WF_MIN_THRESHOLD``, read at
access time) and tags those at or above ``WF_PRIORITY_THRESHOLD`` in ``$WF:{Class}:priority``.

Noise (what the gate is for): the application offers every candidate memory for write, and a
hidden share of the offers (``NOISE_SHARE_RANGE``, per seed) is chatter with no real value
(``value`` in ``NOISE_VALUE_RANGE``). Both views of it are noisy like any other record's, so at a
high ``noise_ratio`` some chatter still carries a fair importance and would score at retrieval;
its write-time salience is the filter's only chance to keep it out. Noise records grade 0 (their
utility is ~0) and are listed in ``World.extras["guarded"]``; plain nDCG@5 sees what they cost,
since a stored one that scores takes a top-5 slot from a useful record.

Retrieval is ``composite_score({"relevance": 0.6, "priority": 0.3})`` (the weight shape of
popoto's ContextAssembler example, with the write filter's priority index as the second arm).
A dropped record can never be returned but stays in the ground truth, so a threshold pays for
every useful record it drops and gains only by keeping low-salience noise out of the top 5.
"""

from __future__ import annotations

import functools

import numpy as np

from scenarios.families.base import PhasedFamily, Prepared, Ranking, RunContext, composite_ranking
from scenarios.families.decay import recency_need
from scenarios.knobs import Knob, scaled_range
from scenarios.seeds import ScenarioSeed
from scenarios.world import (
    SECONDS_PER_DAY,
    World,
    base_draws,
    build_records,
    noisy,
)

WEIGHTS = {"relevance": 0.6, "priority": 0.3}
NOISE_SHARE_RANGE = (0.1, 0.5)
NOISE_VALUE_RANGE = (0.0, 0.05)

CHATTER_SHARE = Knob(
    "chatter_share", 0.3, 0.05, 0.5,
    "mean hidden share of offers that are chatter (a seed draws its share from [1/3, 5/3] of "
    "this, U[0.1, 0.5] at 0.3): how much the gate has to keep out",
)
CHATTER_VALUE_MAX = Knob(
    "chatter_value_max", NOISE_VALUE_RANGE[1], 0.01, 0.15,
    "upper end of a chatter record's true value, U[0, this] (genuine values are >= 0.02): "
    "how worthless the gated records really are",
)
SALIENCE_NOISE_SCALE = Knob(
    "salience_noise_scale", 1.0, 0.5, 2.0,
    "the write-time salience's noise relative to importance's (sd 0.5 x noise_ratio x this): "
    "how well the gate can see value when a record is offered",
)


def chatter(seed: ScenarioSeed) -> np.ndarray:
    """Which offered records are chatter (hidden share per seed, drawn from the seed alone)."""
    rng = seed.rng(5)
    shares = scaled_range(NOISE_SHARE_RANGE, CHATTER_SHARE.read(seed), CHATTER_SHARE.default)
    return rng.random(seed.record_count) < rng.uniform(*shares)


@functools.cache
def salience_filter() -> type:
    """The mixin whose ``compute_filter_score`` reads the record's write-time salience.

    Built lazily so importing the family does not import popoto (which binds Redis at import).
    """
    from popoto.fields.write_filter import WriteFilterMixin

    class SalienceFilter(WriteFilterMixin):
        """Filter score = the salience observed when the record was offered for write."""

        def compute_filter_score(self) -> float:
            return float(self.salience or 0.0)

    return SalienceFilter


class WriteFilterFamily(PhasedFamily):
    name = "write_filter"
    description = "write-time salience gate (WF_MIN_THRESHOLD) before decayed retrieval"
    knobs = (CHATTER_SHARE, CHATTER_VALUE_MAX, SALIENCE_NOISE_SCALE)

    def build_world(self, seed: ScenarioSeed) -> World:
        keys, value, ages = base_draws(seed)
        noise = chatter(seed)
        values = (NOISE_VALUE_RANGE[0], CHATTER_VALUE_MAX.read(seed))
        value = np.where(noise, seed.rng(4).uniform(*values, len(value)), value)
        utility = value * (1.0 + ages) ** -recency_need(seed)
        importance = noisy(seed.rng(2), value, seed.noise_ratio)
        salience_noise = seed.noise_ratio * SALIENCE_NOISE_SCALE.read(seed)
        salience = noisy(seed.rng(3), value, salience_noise)
        records = build_records(
            seed, utility, keys=keys, importance=importance, ages=ages, salience=salience
        )
        guarded = tuple(key for key, is_noise in zip(keys, noise, strict=True) if is_noise)
        return World(seed=seed, records=records, extras={"guarded": guarded})

    setup_reads = frozenset({"_wf_min_threshold"})  # the gate decides what the saves write

    def build_model(self, world: World, ctx: RunContext) -> type:
        from popoto import FloatField, KeyField
        from popoto.fields.decaying_sorted_field import DecayingSortedField

        return ctx.model(
            "WFilt",
            {
                "key": KeyField(),
                "importance": FloatField(default=0.0),
                "salience": FloatField(default=0.0),
                "relevance": DecayingSortedField(base_score_field="importance"),
            },
            bases=(salience_filter(),),
        )

    def setup(self, world: World, ctx: RunContext, model: type) -> Prepared:
        offer_all(model, world, now=ctx.now)
        return Prepared()

    def finish(self, world: World, ctx: RunContext, model: type, prepared: Prepared) -> Ranking:
        return composite_ranking(
            model.query, model, record_count=len(world.records), indexes=WEIGHTS
        )


def offer_all(model: type, world: World, *, now: float) -> None:
    """Offer every record for write in one pipeline, its last-use time as the decay clock.

    The clock goes in with the save (``skip_auto_now``) so a record the filter drops leaves
    no trace at all: a later ZADD of ages would resurrect it in the decay index.
    """
    from popoto.redis_db import get_REDIS_DB

    pipe = get_REDIS_DB().pipeline(transaction=False)
    for record in world.records:
        inst = model(
            key=record.key,
            importance=record.importance,
            salience=record.salience,
            relevance=now - record.age_days * SECONDS_PER_DAY,
        )
        inst.save(pipeline=pipe, skip_auto_now=True)
    pipe.execute()
