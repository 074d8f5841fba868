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

from scenarios.families import FAMILIES
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


# Test-only: defining the class registered it; tests add it for their own duration (fixture
# ``planted`` in conftest), so it never leaks into parametrizations over all families.
FAMILIES.pop(PlantedDecayFamily.name)


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

[constants.placebo]
attr = "LIFECYCLE_FORGET_IDLE_SECONDS"
tier = 1
mode = "C"
family = "decay"
low = 1.0
high = 1000000.0
"""
