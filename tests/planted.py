"""A planted scenario family whose latent optimum for ``decay_rate`` is far from popoto's 0.1.

How it is built: the decay family's world, except that every seed's hidden recency need is
fixed at rho = 1.0 (usefulness = value * (1 + age_days) ** -1.0) and popoto observes importance
without noise. popoto ranks by importance * age ** -decay_rate, so its ranking approaches the
truth as decay_rate approaches ~1.0 and is far from it at 0.1 (importance dominates recency).

Why the truth is independent of the constant: grades come from ``value``, ``age`` and the fixed
rho, all drawn from the seed before any constant is applied; ``decay_rate`` only changes what
popoto computes at query time.
"""

from __future__ import annotations

import numpy as np

from scenarios.families import FAMILIES, Family, Ranking, RunContext
from scenarios.families.decay import DecayFamily
from scenarios.seeds import ScenarioSeed
from scenarios.world import (
    World,
    base_draws,
    build_records,
)

PLANTED_RHO = 1.0


class PlantedDecayFamily(DecayFamily):
    name = "planted_decay"
    description = "decay with a known optimum near 1.0 (test only)"

    def build_world(self, seed: ScenarioSeed) -> World:
        keys, value, ages = base_draws(seed)
        utility = value * (1.0 + ages) ** -PLANTED_RHO
        records = build_records(seed, utility, keys=keys, importance=value, ages=ages)
        return World(seed=seed, records=records)


def random_effect_knob(knob: float = 0.5) -> float:
    """The frozen default argument the ``random_knob`` test constant is read from."""
    return knob


class RandomEffectFamily(Family):
    """A constant that reshuffles rankings at random and has no true effect (test only).

    The ranking is the latent usefulness plus heavy noise drawn from (seed, value): every value
    changes which records come first, yet no value is better in expectation. It never touches
    Redis, so hundreds of studies cost seconds. A gate that accepts it more than rarely is
    reading noise.
    """

    name = "random_effect"
    description = "rankings reshuffled by the value, no true effect (test only)"

    def build_world(self, seed: ScenarioSeed) -> World:
        keys, value, ages = base_draws(seed)
        records = build_records(seed, value, keys=keys, importance=value, ages=ages)
        return World(seed=seed, records=records)

    def run(self, world: World, ctx: RunContext) -> Ranking:
        knob = ctx.argument("random_knob", random_effect_knob())
        rng = np.random.default_rng([world.seed.rng_seed, round(knob * 1_000_000)])
        scores = {r.key: r.utility + float(rng.normal(0.0, 0.35)) for r in world.records}
        order = sorted(scores, key=lambda key: -scores[key])
        return Ranking(top=order[:5], scores=scores)


def crash_knob(knob: float = 0.2) -> float:
    """The frozen default argument the ``crash_knob`` test constant is read from."""
    return knob


class CrashyFamily(Family):
    """Every value ranks the same, but values below 0.3 raise on one scenario in four (test only).

    The incumbent (0.2) crashes where any value above 0.3 does not: a crash scores 0, so those
    scenarios look like a +0.5 gain for the other value. Only reading the errors stops it.
    """

    name = "crashy"
    description = "a value that raises in some scenarios (test only)"

    def build_world(self, seed: ScenarioSeed) -> World:
        keys, value, ages = base_draws(seed)
        records = build_records(seed, value, keys=keys, importance=value, ages=ages)
        return World(seed=seed, records=records)

    def run(self, world: World, ctx: RunContext) -> Ranking:
        knob = ctx.argument("crash_knob", crash_knob())
        if knob < 0.3 and world.seed.seed_id % 4 == 0:
            raise RuntimeError(f"planted crash at crash_knob={knob:g}")
        rng = np.random.default_rng(world.seed.rng_seed)
        scores = {r.key: r.utility + float(rng.normal(0.0, 0.2)) for r in world.records}
        order = sorted(scores, key=lambda key: -scores[key])
        return Ranking(top=order[:5], scores=scores)


# Test-only: defining the classes registered them; tests add them for their own duration
# (fixtures ``planted`` and ``random_effect`` in conftest), so they never leak into
# parametrizations over all families.
FAMILIES.pop(PlantedDecayFamily.name)
FAMILIES.pop(RandomEffectFamily.name)
FAMILIES.pop(CrashyFamily.name)

CRASHY_CATALOG = """
[constants.crash_knob]
argument = "planted:crash_knob:knob"
tier = 1
mode = "arg"
family = "crashy"
low = 0.0
high = 1.0
"""


# A catalog with the planted constant and a placebo: a real Defaults attribute that nothing on
# the decay family's path reads, so every value must score the same.
PLANTED_CATALOG = """
[constants.planted_rate]
attr = "DECAY_RATE"
tier = 1
mode = "K"
family = "planted_decay"
low = 0.01
high = 2.0
log = true

[constants.random_knob]
argument = "planted:random_effect_knob:knob"
tier = 1
mode = "arg"
family = "random_effect"
low = 0.0
high = 1.0

[constants.placebo]
attr = "LIFECYCLE_FORGET_IDLE_SECONDS"
tier = 1
mode = "C"
family = "decay"
low = 1.0
high = 1000000.0
"""
