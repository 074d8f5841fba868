"""Prediction-ledger family: predictions resolved against outcomes feed back into confidence.

Latent world: each memory has a hidden *value* ``v`` (how often it is relevant to a task) and a
hidden *accuracy* ``a`` (how often what it says holds). A memory is useful in proportion to
``v * a``; that product is the graded relevance. popoto sees a noisy stated importance (a view
of ``v``) and, over a few rounds of use, the outcomes of using memories.

Each round the agent retrieves its current top 5 (``composite_score`` over confidence and
importance) and the task cues 1-4 more (more with the seed's ``outcome_frequency``). For
every memory in context it records a prediction from the memory's claim
(``record_prediction``). Sometimes the application can check
the claim and resolves it explicitly (``resolve_prediction``): the error is continuous and
larger for inaccurate memories. Then the agent's use is reported through
``ObservationProtocol.on_context_used`` (acted / used / dismissed / contradicted, drawn from
``v`` and ``a``), which auto-resolves any prediction still open with the outcome's
``PL_AUTO_RESOLVE_*`` error. A resolution whose error exceeds
``PL_CONFIDENCE_ERROR_THRESHOLD`` sends ``PL_CONFIDENCE_LOW_SIGNAL`` to the ConfidenceField.

Records differ in prediction error (continuous errors from explicit checks, and different
outcome mixes), so the gate separates them instead of moving every record the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scenarios.families.base import PhasedFamily, Prepared, Ranking, RunContext, composite_ranking
from scenarios.knobs import Knob
from scenarios.seeds import ScenarioSeed
from scenarios.world import World, build_records, intrinsic_values, noisy, record_keys

ROUNDS = 4
RETRIEVED = 5  # the agent's context: its top-5 retrieval, plus 1-4 memories the task cues
OUTCOMES = ("acted", "used", "dismissed", "contradicted")
MAX_USES = ROUNDS  # a memory is in context at most once per round
QUERY_WEIGHTS = {"confidence": 1.0, "importance": 1.0}  # no preference between the two arms
ACCURACY_ALPHA = 2.0  # hidden accuracy ~ Beta(ACCURACY_ALPHA, accuracy_beta)
CHECK_SHARE_LOW = 0.2
ERROR_SPREAD_FLOOR = 0.05  # an accurate memory's prediction error still spreads this much

ACCURACY_BETA = Knob(
    "accuracy_beta", 1.5, 0.5, 4.0,
    "second shape of the hidden accuracy a ~ Beta(2, this): mean accuracy 2 / (2 + this), "
    "0.57 at 1.5, 0.8 at 0.5, 0.33 at 4: how many memories' claims fail",
)
CHECK_SHARE_MAX = Knob(
    "check_share_max", 0.6, 0.25, 1.0,
    "upper end of a seed's share of uses the application can check and resolve explicitly, "
    "U[0.2, this]; the rest auto-resolve from the outcome",
)
ERROR_SPREAD = Knob(
    "error_spread", 0.6, 0.2, 1.2,
    "how much an inaccurate memory's measured value strays from its claim: error sd = "
    "0.05 + this x (1 - a), so how far apart the error gate sees right and wrong memories",
)


@dataclass(frozen=True)
class Use:
    """What happens the j-th time a memory is in context (drawn from the latent state)."""

    outcome: str
    checked: bool  # the application can verify the claim and resolves explicitly
    actual: float  # measured value when checked


@dataclass(frozen=True)
class LedgerPlan:
    """Family-specific structure kept in ``World.extras['ledger']``."""

    claims: tuple[float, ...]  # per record: the value the memory predicts
    uses: tuple[tuple[Use, ...], ...]  # per record: its successive uses
    cued: tuple[tuple[int, ...], ...]  # per round: record indices the task cues


def outcome_probabilities(v: float, a: float) -> np.ndarray:
    """Outcome mix of one use: irrelevant memories get dismissed, wrong ones contradicted."""
    dismissed = 0.4 * (1.0 - v)
    rest = 1.0 - dismissed
    acted = rest * 0.8 * a
    contradicted = rest * 0.8 * (1.0 - a)
    used = rest * 0.2
    return np.array([acted, used, dismissed, contradicted])


def draw_uses(seed: ScenarioSeed, v: np.ndarray, a: np.ndarray, claims: np.ndarray):
    """Every memory's possible uses; which ones happen depends on retrieval at run time."""
    rng = seed.rng(3)
    check_share = float(rng.uniform(CHECK_SHARE_LOW, CHECK_SHARE_MAX.read(seed)))
    swap = 0.5 * seed.noise_ratio  # share of outcomes reported as a random category
    per_inaccuracy = ERROR_SPREAD.read(seed)
    plans = []
    for i in range(len(v)):
        probs = outcome_probabilities(float(v[i]), float(a[i]))
        spread = ERROR_SPREAD_FLOOR + per_inaccuracy * (1.0 - a[i])
        uses = []
        for _ in range(MAX_USES):
            outcome = OUTCOMES[int(rng.choice(4, p=probs))]
            if rng.random() < swap:
                outcome = OUTCOMES[int(rng.integers(4))]
            actual = float(max(0.0, claims[i] + rng.normal(0.0, spread)))
            uses.append(Use(outcome, bool(rng.random() < check_share), round(actual, 6)))
        plans.append(tuple(uses))
    return tuple(plans)


class PredictionLedgerFamily(PhasedFamily):
    name = "prediction_ledger"
    description = "PredictionLedgerMixin error gate feeding ConfidenceField over rounds of use"
    knobs = (ACCURACY_BETA, CHECK_SHARE_MAX, ERROR_SPREAD)

    def build_world(self, seed: ScenarioSeed) -> World:
        n = seed.record_count
        keys = record_keys(seed.rng(0), n)
        rng = seed.rng(1)
        value = intrinsic_values(rng, seed.importance_shape, n)
        accuracy = np.clip(rng.beta(ACCURACY_ALPHA, ACCURACY_BETA.read(seed), n), 0.02, 1.0)
        claims = np.round(rng.uniform(0.2, 1.0, n), 6)
        importance = noisy(seed.rng(2), value, seed.noise_ratio)
        cue_rng = seed.rng(4)
        per_round = min(n, 1 + round(3 * seed.outcome_frequency))
        cued = tuple(
            tuple(int(i) for i in cue_rng.choice(n, size=per_round, replace=False))
            for _ in range(ROUNDS)
        )
        plan = LedgerPlan(
            claims=tuple(float(c) for c in claims),
            uses=draw_uses(seed, value, accuracy, claims),
            cued=cued,
        )
        records = build_records(
            seed, value * accuracy, keys=keys, importance=importance, ages=np.full(n, 0.01)
        )
        return World(seed=seed, records=records, extras={"ledger": plan})

    setup_reads = frozenset({"initial_confidence"})

    def build_model(self, world: World, ctx: RunContext) -> type:
        from popoto import FloatField, SortedField, UniqueKeyField
        from popoto.fields.confidence_field import ConfidenceField
        from popoto.fields.prediction_ledger import PredictionLedgerMixin

        return ctx.model(
            "Ledger",
            {
                "key": UniqueKeyField(),
                "importance": SortedField(type=float),
                "claim": FloatField(default=0.0),
                "confidence": ConfidenceField(),
            },
            (PredictionLedgerMixin,),
        )

    def setup(self, world: World, ctx: RunContext, model: type) -> Prepared:
        return Prepared(instances=save_all(model, world, world.extras["ledger"]))

    def finish(self, world: World, ctx: RunContext, model: type, prepared: Prepared) -> Ranking:
        plan: LedgerPlan = world.extras["ledger"]
        instances = prepared.instances
        by_key = {inst.key: (i, inst) for i, inst in enumerate(instances)}
        used = [0] * len(instances)
        for round_no in range(ROUNDS):
            retrieved = composite_ranking(
                model.query, model, record_count=RETRIEVED, k=RETRIEVED, indexes=QUERY_WEIGHTS
            ).top
            cued = [world.records[i].key for i in plan.cued[round_no]]
            context = list(dict.fromkeys([*retrieved, *cued]))
            use_context([by_key[key] for key in context], plan, used)
        return composite_ranking(
            model.query, model, record_count=len(world.records), indexes=QUERY_WEIGHTS
        )


def save_all(model: type, world: World, plan: LedgerPlan) -> list:
    """Save every memory in one pipeline."""
    from popoto.redis_db import get_REDIS_DB

    pipe = get_REDIS_DB().pipeline(transaction=False)
    instances = []
    for record, claim in zip(world.records, plan.claims, strict=True):
        inst = model(key=record.key, importance=record.importance, claim=claim)
        inst.save(pipeline=pipe)
        instances.append(inst)
    pipe.execute()
    return instances


def use_context(members: list[tuple[int, object]], plan: LedgerPlan, used: list[int]) -> None:
    """One round of use: predict, check what can be checked, report the outcomes."""
    from popoto.fields.observation import ObservationProtocol
    from popoto.fields.prediction_ledger import PredictionLedgerMixin

    outcomes = {}
    for index, inst in members:
        use = plan.uses[index][used[index] % len(plan.uses[index])]
        used[index] += 1
        PredictionLedgerMixin.record_prediction(inst, {"value": inst.claim})
        if use.checked:
            PredictionLedgerMixin.resolve_prediction(inst, {"value": use.actual})
        outcomes[inst.db_key.redis_key] = use.outcome
    ObservationProtocol.on_context_used([inst for _, inst in members], outcomes)
