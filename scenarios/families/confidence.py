"""Confidence family: outcome feedback through ``ObservationProtocol`` into ``ConfidenceField``.

Latent truth: every record has a hidden *reliability* ``r`` (the chance it is right when an
agent uses it), drawn from a Beta whose mean is the seed's hidden base rate. Utility at query
time is ``value * r * (1 + days since last use) ** -rho``. popoto sees a noisy importance, the
clock of the last real use, and a history of outcome events ("acted", "dismissed",
"contradicted", "deferred"): how many per record grows with ``outcome_frequency`` and with how
often the record was surfaced (importance), and a ``noise_ratio`` share of them ignore the truth.
Records never surfaced carry no evidence and sit at ``initial_confidence``.

popoto ranks by ``composite_score({"relevance": 0.4, "confidence": 0.3})`` (the weights of
popoto's own ``composite_score`` docstring): a DecayingSortedField over importance, whose decay is
modulated by confidence (centred on ``initial_confidence``), plus the materialised confidence.
The three constants (initial_confidence, ACTED/CONTRADICTED_CONFIDENCE_SIGNAL) change only how
evidence becomes confidence, never the truth.
"""

from __future__ import annotations

import numpy as np

from scenarios.families.base import PhasedFamily, Prepared, Ranking, RunContext, composite_ranking
from scenarios.families.decay import save_all, set_ages
from scenarios.knobs import Knob
from scenarios.seeds import ScenarioSeed
from scenarios.world import (
    World,
    base_draws,
    build_records,
    noisy,
)

OUTCOMES = ("acted", "dismissed", "contradicted", "deferred")
# What an agent does with a surfaced record that is right / wrong (acted, dismissed,
# contradicted, deferred). A right record is mostly acted on; a wrong one is often contradicted.
RIGHT_OUTCOME_P = (0.6, 0.15, 0.0, 0.25)
WRONG_OUTCOME_P = (0.0, 0.3, 0.5, 0.2)
MAX_EVENTS = 10  # stays below popoto's evidence cap (20): updates remain a running mean
WEIGHTS = {"relevance": 0.4, "confidence": 0.3}

BASE_RATE_LOW = Knob(
    "base_rate_low", 0.25, 0.05, 0.5,
    "least hidden base rate of reliability of a seed (uniform in [low, high]): the mean "
    "chance a record is right when used, so the share of records the truth discounts",
)
BASE_RATE_HIGH = Knob(
    "base_rate_high", 0.85, 0.6, 0.95,
    "greatest hidden base rate of reliability of a seed: at 0.95 almost every record is right "
    "and evidence has little to separate",
)
WRONG_CONTRADICTED_P = Knob(
    "contradiction_rate", 0.5, 0.2, 0.9,
    "chance a use of a wrong record is reported 'contradicted' (the rest split 3:2 between "
    "dismissed and deferred): how clearly evidence names a wrong record",
)


def wrong_outcome_p(seed: ScenarioSeed) -> tuple[float, ...]:
    """Acted, dismissed, contradicted, deferred chances of a wrong record's use (today's at the
    default: ``WRONG_OUTCOME_P``)."""
    contradicted = WRONG_CONTRADICTED_P.read(seed)
    if contradicted == WRONG_CONTRADICTED_P.default:
        return WRONG_OUTCOME_P
    rest = 1.0 - contradicted
    return (0.0, 0.6 * rest, contradicted, 0.4 * rest)


def hidden_params(seed: ScenarioSeed) -> tuple[float, float, float]:
    """The seed's hidden base rate of reliability, its concentration, and recency need."""
    rng = seed.rng(7)
    base_rate = float(rng.uniform(BASE_RATE_LOW.read(seed), BASE_RATE_HIGH.read(seed)))
    concentration = float(rng.uniform(1.5, 6.0))
    rho = float(np.exp(rng.uniform(np.log(0.02), np.log(0.5))))
    return base_rate, concentration, rho


def surfacing_counts(
    rng: np.random.Generator, seed: ScenarioSeed, importance: np.ndarray
) -> np.ndarray:
    """How often each record was surfaced: more with outcome_frequency and with importance."""
    lam = 3.0 * seed.outcome_frequency * (0.3 + importance) / 0.8
    return np.minimum(rng.poisson(lam), MAX_EVENTS)


def draw_events(
    rng: np.random.Generator,
    count: int,
    reliability: float,
    noise_ratio: float,
    wrong_p: tuple[float, ...] = WRONG_OUTCOME_P,
) -> list[str]:
    """One record's outcomes; a ``noise_ratio`` share is uniform, the rest follow the truth."""
    events = []
    for _ in range(count):
        if rng.random() < noise_ratio:
            events.append(OUTCOMES[int(rng.integers(len(OUTCOMES)))])
            continue
        probs = RIGHT_OUTCOME_P if rng.random() < reliability else wrong_p
        events.append(OUTCOMES[int(rng.choice(len(OUTCOMES), p=probs))])
    return events


def event_history(
    seed: ScenarioSeed, importance: np.ndarray, reliability: np.ndarray, created: np.ndarray
) -> tuple[list[tuple[str, ...]], np.ndarray]:
    """Every record's outcome events (oldest first) and its days since last real use."""
    event_rng = seed.rng(4)
    counts = surfacing_counts(event_rng, seed, importance)
    wrong_p = wrong_outcome_p(seed)
    outcomes = [
        tuple(draw_events(event_rng, int(c), float(r), seed.noise_ratio, wrong_p))
        for c, r in zip(counts, reliability, strict=True)
    ]
    time_rng = seed.rng(5)
    ages = np.array(
        [last_use_age(time_rng, float(a), list(o)) for a, o in zip(created, outcomes, strict=True)]
    )
    return outcomes, ages


def last_use_age(rng: np.random.Generator, created_age: float, events: list[str]) -> float:
    """Days since the last real use: the latest "acted" event, else the record's own age.

    Events are spread over the record's lifetime; "acted" is a use (popoto's ``touch()``).
    """
    times = np.sort(rng.uniform(0.01, created_age, len(events)))[::-1]  # oldest first
    acted = [t for t, e in zip(times, events, strict=True) if e == "acted"]
    return float(min(acted)) if acted else float(created_age)


class ConfidenceFamily(PhasedFamily):
    name = "confidence"
    description = "outcome evidence -> ConfidenceField (initial / acted / contradicted signals)"
    knobs = (BASE_RATE_LOW, BASE_RATE_HIGH, WRONG_CONTRADICTED_P)

    def build_world(self, seed: ScenarioSeed) -> World:
        n = seed.record_count
        keys, value, created = base_draws(seed)
        importance = noisy(seed.rng(2), value, seed.noise_ratio)
        base_rate, concentration, rho = hidden_params(seed)
        reliability = seed.rng(3).beta(
            base_rate * concentration, (1.0 - base_rate) * concentration, n
        )
        outcomes, ages = event_history(seed, importance, reliability, created)
        utility = value * reliability * (1.0 + ages) ** -rho
        records = build_records(
            seed, utility, keys=keys, importance=importance, ages=ages, outcomes=outcomes
        )
        return World(seed=seed, records=records, extras={"reliability": reliability.tolist()})

    setup_reads = frozenset({"initial_confidence"})

    def build_model(self, world: World, ctx: RunContext) -> type:
        from popoto import FloatField, KeyField
        from popoto.fields.confidence_field import ConfidenceField
        from popoto.fields.decaying_sorted_field import DecayingSortedField

        return ctx.model(
            "Conf",
            {
                "key": KeyField(),
                "importance": FloatField(default=0.0),
                "relevance": DecayingSortedField(base_score_field="importance"),
                "confidence": ConfidenceField(),
            },
        )

    def setup(self, world: World, ctx: RunContext, model: type) -> Prepared:
        return Prepared(instances=save_all(model, world))

    def finish(self, world: World, ctx: RunContext, model: type, prepared: Prepared) -> Ranking:
        from popoto.redis_db import get_REDIS_DB

        instances = prepared.instances
        apply_outcomes(instances, world)
        # After the outcomes: "acted" touched the clock to *now*; re-date every clock to the
        # simulated time of the record's last use (the last "acted" event, else its creation).
        set_ages(model, instances, world, now=ctx.now, client=get_REDIS_DB())
        return composite_ranking(
            model.query, model, record_count=len(world.records), indexes=WEIGHTS
        )


def apply_outcomes(instances: list, world: World) -> None:
    """Feed the event history to popoto, oldest round first, one ``on_context_used`` a round.

    Round ``j`` holds every record's ``j``-th event: the records an agent saw together.
    """
    from popoto.fields.observation import ObservationProtocol
    from popoto.redis_db import get_REDIS_DB

    client = get_REDIS_DB()
    rounds = max((len(r.outcomes) for r in world.records), default=0)
    for j in range(rounds):
        batch = [
            (inst, rec.outcomes[j])
            for inst, rec in zip(instances, world.records, strict=True)
            if len(rec.outcomes) > j
        ]
        pipe = client.pipeline(transaction=False)
        ObservationProtocol.on_context_used(
            [inst for inst, _ in batch],
            {inst.db_key.redis_key: outcome for inst, outcome in batch},
            pipeline=pipe,
        )
        pipe.execute()
