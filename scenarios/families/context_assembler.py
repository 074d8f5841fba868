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

Latent truth, from the seed alone: a record is *wrong* (obsolete or mistaken) or genuine with
value ``v``. A wrong record is harmful to push into context (the agent would act on it and be
contradicted), so it grades ``HARM_GRADE`` and the family is scored with ``signed_ndcg``: plain
nDCG counts a pushed wrong record like an empty slot, so it could only ever favour surfacing
more. Wrong records are what suppression of the runners-up keeps out of the pull list: they look
as important as the rest, and only the session's contradictions (confidence) tell them apart.

A push also interrupts. The proactive call has no query: what it surfaces lands in the agent's
context unasked, and reading it costs attention whether or not it helps. Keeping out pushes not
worth that interruption is what the surfacing threshold is for, so the world holds that cost:
each seed has a hidden *interruption cost* ``c`` (``interruption_cost``, its own stream, never
a constant), and a genuine record the agent gains nothing from (grade 0: below the utility
quotas) gains ``-c`` when pushed (``PushWorld.relevance``); wrong records keep ``HARM_GRADE``.
The range is fixed from that principle, not fitted: ``c`` is uniform in
``INTERRUPTION_COST = (0, 1)`` marginal grades. 0 is a free push (a useless record counts like
an empty slot, the world before this cost); 1 is the most a useless push can cost, as much as a
wrong one, which besides interrupting also misleads. The grade-0 records are listed in
``extras["guarded"]``. Without the cost, nDCG@5 (plain or signed) could not see what the
threshold keeps out, and cutting pushes could only lose. The threshold compares the push score
(decayed relevance, importance x recency): it does not separate wrong records from useful ones
(contradictions move it only through confidence-modulated decay, a few percent at popoto's
defaults), but it does see, noisily, what makes a genuine record useless: a low importance and
a stale clock. Nothing in the world is placed where the threshold would cut it: usefulness is
the latent utility, graded as in every family.

The session: on each query turn the agent *needs* some genuine records (a per-(turn, record)
draw whose chance rises with the record's pre-session utility rank, 0.05 .. 0.95) and uses them
whether or not popoto showed them (it searches for what it was not given). popoto learns of a
use only when it showed the record: the agent then reports "acted" (popoto ``touch()``es the
record's decay clock to now); a shown genuine record it did not need is "dismissed", a shown
wrong one mostly "contradicted"; a ``noise_ratio / 2`` share of reactions is random. The
proactive call opens the *next* session, ``session_gap`` days later (hidden, from the seed):
every decay clock is re-dated back by the gap, touches included, as if the wall clock had moved
on. The truth uses the same clock: a record needed in the session was last used ``gap`` days
before the proactive call, any other ``age + gap`` days, and utility is ``v * (1 + age) **
-rho`` with the seed's hidden recency need ``rho``. So the truth counts every real use, seen or
not, and never depends on what popoto showed; exposure only lets popoto *learn* real uses, it
no longer makes a record useful by touching it.

The Ranking is what the final proactive call surfaced, in order; its scores are the assembler's
own injection-time trace scores (``emit_trace=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scenarios.families.base import PhasedFamily, Prepared, Ranking, RunContext
from scenarios.families.decay import recency_need, save_all
from scenarios.knobs import Knob
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
SESSION_GAP_DAYS = (0.25, 3.0)
# A useless push costs c marginal grades, c ~ U[INTERRUPTION_COST]: from free (0) to as much as
# a wrong record (1), which interrupts and misleads. Fixed from principle, never fitted.
INTERRUPTION_COST = (0.0, 1.0)
INTERRUPTION_COST_STREAM = 10  # streams 0-3 and 6-9 are the family's other draws
WRONG_SHARE_RANGE = (0.05, 0.3)

INTERRUPTION_COST_MAX = Knob(
    "interruption_cost_max", INTERRUPTION_COST[1], 0.0, 1.0,
    "upper end of a seed's hidden interruption cost c ~ U[0, this] (marginal grades a useless "
    "push costs): 0 is a free push, 1 as much as a wrong record",
)
WRONG_SHARE_MAX = Knob(
    "wrong_share_max", WRONG_SHARE_RANGE[1], 0.1, 0.6,
    "upper end of a seed's hidden share of wrong (obsolete or mistaken) records, "
    "U[0.05, this]: how much of the store is harmful to push",
)
WRONG_CONTRADICTED_P = Knob(
    "contradiction_rate", 0.7, 0.3, 1.0,
    "chance the agent reports a shown wrong record 'contradicted' (else 'dismissed'): the only "
    "evidence that tells wrong records from genuine ones",
)


@dataclass(frozen=True)
class PushWorld(World):
    """A world whose useless records cost the interruption of pushing them.

    The push is the family's whole ranking, so a record's relevance is what pushing it is worth:
    its grade, except that a genuine record of grade 0 (the agent gains nothing from it) gains
    ``-interruption_cost``. ``Record.grade`` stays the utility grade every family shares.
    """

    interruption_cost: float = 0.0

    @property
    def relevance(self) -> dict[str, float]:
        """Grades, with every useless (grade 0) record at ``-interruption_cost``."""
        cost = -self.interruption_cost
        return {r.key: (cost if r.grade == 0 else r.grade) for r in self.records}


def interruption_cost(seed: ScenarioSeed) -> float:
    """The seed's hidden cost of one useless push, in marginal grades (its own stream)."""
    low = INTERRUPTION_COST[0]
    return float(seed.rng(INTERRUPTION_COST_STREAM).uniform(low, INTERRUPTION_COST_MAX.read(seed)))


def hidden_wrong_share(seed: ScenarioSeed) -> float:
    """The seed's hidden share of wrong (obsolete or mistaken) records."""
    return float(seed.rng(8).uniform(WRONG_SHARE_RANGE[0], WRONG_SHARE_MAX.read(seed)))


def session_turns(seed: ScenarioSeed) -> int:
    """How many query turns the session has before the proactive call: more when busier."""
    return MIN_TURNS + int(round(seed.outcome_frequency * (MAX_TURNS - MIN_TURNS)))


def session_gap(seed: ScenarioSeed) -> float:
    """Days between the session and the next one's opening (hidden; hours to a few days)."""
    return float(
        np.exp(seed.rng(9).uniform(np.log(SESSION_GAP_DAYS[0]), np.log(SESSION_GAP_DAYS[1])))
    )


def session_needs(seed: ScenarioSeed, prior: np.ndarray, wrong: np.ndarray, turns: int):
    """Which records the agent needs on each turn (genuine only), and its reaction draws.

    A genuine record is needed with a chance rising with its pre-session utility rank
    (0.05 .. 0.95). Returns ``(needed, draw, noise, pick)``, each ``turns x n``.
    """
    rng = seed.rng(6)
    n = len(prior)
    rank = np.argsort(np.argsort(prior)) / max(n - 1, 1)
    acted_p = 0.05 + 0.9 * rank
    draw, noise = rng.random((turns, n)), rng.random((turns, n))
    pick = rng.integers(len(OUTCOMES), size=(turns, n))
    return (~wrong) & (draw < acted_p), draw, noise, pick


def outcome_table(seed: ScenarioSeed, wrong: np.ndarray, draws) -> list[list[str]]:
    """What the agent reports for each record if shown on each turn (fixed by the world).

    A needed record is acted on, an unneeded genuine one dismissed, a wrong one contradicted
    with ``WRONG_CONTRADICTED_P`` (else dismissed); a ``noise_ratio / 2`` share is random.
    """
    needed, draw, noise, pick = draws
    contradicted = WRONG_CONTRADICTED_P.read(seed)
    table = []
    for t in range(len(needed)):
        row = np.where(
            wrong,
            np.where(draw[t] < contradicted, "contradicted", "dismissed"),
            np.where(needed[t], "acted", "dismissed"),
        )
        row = np.where(noise[t] < 0.5 * seed.noise_ratio, np.array(OUTCOMES)[pick[t]], row)
        table.append([str(o) for o in row])
    return table


class ContextAssemblerFamily(PhasedFamily):
    name = "context_assembler"
    description = "ContextAssembler session: competitive suppression, push surfacing threshold"
    metric = "signed_ndcg"
    knobs = (INTERRUPTION_COST_MAX, WRONG_SHARE_MAX, WRONG_CONTRADICTED_P)

    def build_world(self, seed: ScenarioSeed) -> World:
        n = seed.record_count
        keys, value, ages = base_draws(seed)
        wrong = seed.rng(3).random(n) < hidden_wrong_share(seed)
        rho, gap = recency_need(seed), session_gap(seed)
        prior = (~wrong) * value * (1.0 + ages) ** -rho
        draws = session_needs(seed, prior, wrong, session_turns(seed))
        used = draws[0].any(axis=0)
        utility = (~wrong) * value * (1.0 + np.where(used, gap, ages + gap)) ** -rho
        importance = noisy(seed.rng(2), value, seed.noise_ratio)
        records = build_records(
            seed, utility, keys=keys, importance=importance, ages=ages, harmful=wrong
        )
        extras = {
            "turns": outcome_table(seed, wrong, draws),
            "wrong": wrong.tolist(),
            "session_gap_days": gap,
            "guarded": [r.key for r in records if r.grade == 0],  # useless pushes
        }
        cost = interruption_cost(seed)
        return PushWorld(seed=seed, records=records, extras=extras, interruption_cost=cost)

    setup_reads = frozenset({"initial_confidence", "INITIAL_CYCLE_AMPLITUDE"})

    def build_model(self, world: World, ctx: RunContext) -> type:
        return build_model(ctx)

    def setup(self, world: World, ctx: RunContext, model: type) -> Prepared:
        instances = save_all(model, world)
        date_records(model, instances, world, now=ctx.now)
        return Prepared(instances=instances)

    def finish(self, world: World, ctx: RunContext, model: type, prepared: Prepared) -> Ranking:
        instances = prepared.instances
        assembler = build_assembler(model)
        index = {inst.db_key.redis_key: i for i, inst in enumerate(instances)}
        for row in world.extras["turns"]:
            result = assembler.assemble(query_cues={"topic": "session"})
            react(result.records, row, index)
        redate(model, instances, days=world.extras["session_gap_days"])
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


def redate(model: type, instances: list, *, days: float) -> None:
    """Move every decay clock ``days`` into the past: the next session opens that much later.

    popoto reads the wall clock when it scores, so the gap is applied to the stored last-use
    times (touches of the session included) instead of waiting it out.
    """
    from popoto.redis_db import get_REDIS_DB

    field = model._meta.fields["relevance"]
    zset = field.get_partitioned_sortedset_db_key(instances[0], "relevance").redis_key
    client = get_REDIS_DB()
    stamps = dict(client.zrange(zset, 0, -1, withscores=True))
    client.zadd(zset, {member: ts - days * SECONDS_PER_DAY for member, ts in stamps.items()})


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
