"""ContextAssembler family: a working session of query turns, then a proactive surfacing call.

The application is an agent that calls ``ContextAssembler.assemble()`` on every user turn and,
when a new session opens, calls it once more without query cues to push what is worth having in
context proactively. Its model carries importance, a ``CyclicDecayField`` (the assembler's push
path scans it) and a ``ConfidenceField``; the assembler runs in explicit ``"composite"`` mode
with the weights of popoto's own docstring (``{"relevance": 0.6, "confidence": 0.3}``). Composite
mode is query-blind (popoto ignores the cues there), so each turn ranks the store the same way
except for what the session's own effects changed; the confidence arm is what lets those effects,
suppression among them, move the next turn.

What the two constants do there (popoto 1.10.1, ``recipes/context_assembler.py``):
- ``COMPETITIVE_SUPPRESSION_SIGNAL``: on every query turn the pull path fetches ``2 * max_items``
  candidates, injects the first ``max_items`` and sends this confidence signal to every other
  candidate (lateral inhibition). It shows from the next call on: through the confidence arm of
  the composite, through confidence-modulated decay, and through which records the agent then
  sees and reacts to.
- ``DEFAULT_SURFACING_THRESHOLD``: the push path keeps only records whose decayed relevance
  reaches it (``composite_score(min_score=...)``); the proactive call returns those, best first.

Latent truth, from the seed alone: a record is *wrong* (obsolete or mistaken: worth 0) or
genuine with value ``v``; its utility at the end of the session is ``v * (1 + age) ** -rho`` with
the seed's hidden recency need ``rho``. popoto sees a noisy importance and the age. On each query
turn the agent reacts to the records it was shown by a pre-drawn per-(turn, record) outcome:
genuine records are acted on with a chance that grows with their utility rank (else dismissed),
wrong ones are mostly contradicted; a noise share is random. Which records are shown is popoto's
doing, under the constants; what the agent would do with each is fixed by the world.

The Ranking is what the final proactive call surfaced, in order; its scores are the assembler's
own injection-time trace scores (``emit_trace=True``).
"""

from __future__ import annotations

import time

import numpy as np

from scenarios.families.base import Family, Ranking, RunContext
from scenarios.families.decay import recency_need, save_all
from scenarios.seeds import ScenarioSeed
from scenarios.world import (
    SECONDS_PER_DAY,
    World,
    base_draws,
    build_records,
    noisy,
)

MAX_ITEMS = 5
SCORE_WEIGHTS = {"relevance": 0.6, "confidence": 0.3}  # ContextAssembler's docstring weights
MIN_TURNS, MAX_TURNS = 2, 4
OUTCOMES = ("acted", "dismissed", "contradicted")
WRONG_CONTRADICTED_P = 0.7


def hidden_wrong_share(seed: ScenarioSeed) -> float:
    """The seed's hidden share of wrong (obsolete or mistaken) records."""
    return float(seed.rng(8).uniform(0.05, 0.3))


def session_turns(seed: ScenarioSeed) -> int:
    """How many query turns the session has before the proactive call: more when busier."""
    return MIN_TURNS + int(round(seed.outcome_frequency * (MAX_TURNS - MIN_TURNS)))


def outcome_table(
    seed: ScenarioSeed, utility: np.ndarray, wrong: np.ndarray, turns: int
) -> list[list[str]]:
    """What the agent would do with each record if shown on each turn (fixed by the world).

    A genuine record is acted on with a chance rising with its utility rank (0.05 .. 0.95), else
    dismissed; a wrong one is contradicted with ``WRONG_CONTRADICTED_P``, else dismissed. A
    ``noise_ratio / 2`` share of reactions is uniformly random.
    """
    rng = seed.rng(6)
    n = len(utility)
    rank = np.argsort(np.argsort(utility)) / max(n - 1, 1)
    acted_p = 0.05 + 0.9 * rank
    table = []
    for _ in range(turns):
        draw, noise, pick = rng.random(n), rng.random(n), rng.integers(len(OUTCOMES), size=n)
        row = np.where(
            wrong,
            np.where(draw < WRONG_CONTRADICTED_P, "contradicted", "dismissed"),
            np.where(draw < acted_p, "acted", "dismissed"),
        )
        row = np.where(noise < 0.5 * seed.noise_ratio, np.array(OUTCOMES)[pick], row)
        table.append([str(o) for o in row])
    return table


class ContextAssemblerFamily(Family):
    name = "context_assembler"
    description = "ContextAssembler session: competitive suppression, push surfacing threshold"

    def build_world(self, seed: ScenarioSeed) -> World:
        n = seed.record_count
        keys, value, ages = base_draws(seed)
        wrong = seed.rng(3).random(n) < hidden_wrong_share(seed)
        utility = (~wrong) * value * (1.0 + ages) ** -recency_need(seed)
        importance = noisy(seed.rng(2), value, seed.noise_ratio)
        records = build_records(seed, utility, keys=keys, importance=importance, ages=ages)
        table = outcome_table(seed, utility, wrong, session_turns(seed))
        return World(seed=seed, records=records, extras={"turns": table, "wrong": wrong.tolist()})

    def run(self, world: World, ctx: RunContext) -> Ranking:
        model = build_model(ctx)
        instances = save_all(model, world)
        date_records(model, instances, world, now=time.time())
        assembler = build_assembler(model)
        index = {inst.db_key.redis_key: i for i, inst in enumerate(instances)}
        for row in world.extras["turns"]:
            result = assembler.assemble(query_cues={"topic": "session"})
            react(result.records, row, index)
        final = assembler.assemble(query_cues=None, emit_trace=True)
        return surfaced_ranking(model, final)


def build_model(ctx: RunContext) -> type:
    """Importance, a decayed relevance the push path can scan, and a confidence."""
    from popoto import FloatField, UniqueKeyField
    from popoto.fields.confidence_field import ConfidenceField
    from popoto.fields.cyclic_decay_field import CyclicDecayField

    return ctx.model(
        "Assembler",
        {
            "key": UniqueKeyField(),
            "importance": FloatField(default=0.0),
            "relevance": CyclicDecayField(base_score_field="importance"),
            "confidence": ConfidenceField(),
        },
    )


def build_assembler(model: type):
    """The assembler, with the surfacing threshold passed explicitly (a frozen default arg)."""
    from popoto.fields.constants import Defaults
    from popoto.recipes.context_assembler import ContextAssembler

    return ContextAssembler(
        model,
        score_weights=SCORE_WEIGHTS,
        max_items=MAX_ITEMS,
        surfacing_threshold=Defaults.DEFAULT_SURFACING_THRESHOLD,
        retrieval_mode="composite",
    )


def date_records(model: type, instances: list, world: World, *, now: float) -> None:
    """ZADD each record's last-use time into the decay clock the assembler reads."""
    from popoto.redis_db import get_REDIS_DB

    field = model._meta.fields["relevance"]
    zset = field.get_partitioned_sortedset_db_key(instances[0], "relevance").redis_key
    mapping = {
        inst.db_key.redis_key: float(now - record.age_days * SECONDS_PER_DAY)
        for inst, record in zip(instances, world.records, strict=True)
    }
    get_REDIS_DB().zadd(zset, mapping)


def react(shown: list, row: list[str], index: dict[str, int]) -> None:
    """Report what the agent did with the records this turn injected."""
    from popoto.fields.observation import ObservationProtocol
    from popoto.redis_db import get_REDIS_DB

    if not shown:
        return
    keys = [inst.db_key.redis_key for inst in shown]
    pipe = get_REDIS_DB().pipeline(transaction=False)
    ObservationProtocol.on_context_used(
        shown, {key: row[index[key]] for key in keys}, pipeline=pipe
    )
    pipe.execute()


def surfaced_ranking(model: type, result) -> Ranking:
    """The proactive call's records in order, scored by the assembler's own trace scores."""
    prefix = f"{model.__name__}:"
    top = [inst.key for inst in result.records]
    scores = {
        entry["key"].removeprefix(prefix): float(entry["score"])
        for entry in result.metadata.get("trace", [])
    }
    return Ranking(top=top, scores=scores)
