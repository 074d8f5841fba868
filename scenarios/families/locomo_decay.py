"""LoCoMo replays with outcome feedback: decay/confidence at a session boundary, and re-need.

Both rank the window query-blind, through ``composite_score`` over a ``DecayingSortedField``
(importance x recency, decay modulated by confidence) and a ``ConfidenceField``, with the
weights of popoto's own docstring (as the confidence family). Query-blind because the
constants under test move that arm; popoto's lexical/hybrid path does not read them, and the
data holds no text to search anyway.

Closed loop: before the ranking that is scored, the questions already asked are replayed in the
world's order. For each, the values under test rank the window and surface the top
``surfaced_per_question``; a surfaced turn the question cites is "acted" (popoto's ``touch`` and
a confidence signal), a surfaced turn it does not cite is "dismissed", each flipped with the
``outcome_noise`` chance (a fixed draw per question and record, so every value meets the same
noise). A value that surfaces other turns therefore earns other outcomes. The questions carry no
times, so they are all asked at the scenario's "now".

- ``locomo_decay``: the cut is a session boundary drawn from the seed; "now" is the next
  session's date. Replayed: the questions whose evidence lies wholly before the cut (already
  askable). Grade of a window turn: how many of the other questions (those citing a later
  session, still to come) cite it, capped at 3: future need against age.
- ``locomo_reneed``: the whole conversation is history, "now" the last session's date plus a
  day. Replayed: the first r questions of the order (r from the seed); graded: the evidence of
  the next questions (the next one, and more until 3 turns are cited), so an acted touch is
  judged by whether it helps the repeat needs that really follow.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from scenarios.families.base import Prepared, Ranking, RunContext, composite_ranking
from scenarios.families.decay import save_all, set_ages
from scenarios.families.locomo_replay import (
    SHARED_KNOBS,
    LocomoFamily,
    Replay,
    base_extras,
    grades_from,
)
from scenarios.knobs import Knob
from scenarios.outside import register_outside
from scenarios.seeds import DegenerateSeedError, ScenarioSeed
from scenarios.world import SECONDS_PER_DAY, World

WEIGHTS = {"relevance": 0.4, "confidence": 0.3}
RENEED_GAP_DAYS = 1.0
NEXT_QUESTIONS_MAX = 5

SURFACED = Knob(
    "surfaced_per_question", 5, 1, 10, integer=True,
    meaning="turns the agent's context shows per question (outcomes come only from these)")
REPLAYED = Knob(
    "replayed_questions", 30, 5, 60, integer=True,
    meaning="most questions replayed before the scored ranking (a cost bound: a conversation "
            "may hold a few hundred)")


class FeedbackReplay(LocomoFamily):
    """Shared run of the two shapes: save, replay questions closed-loop, rank."""

    knobs: ClassVar = (*SHARED_KNOBS, SURFACED, REPLAYED)
    setup_reads = frozenset({"initial_confidence"})
    sanity_note = ("In LoCoMo need hardly falls with age (issue 25) and turn length is a weak "
                   "view of it, so a query-blind ranking carries little of the truth. That is "
                   "the outside check, not a defect to tune away.")

    def finish_world(self, seed: ScenarioSeed, replay: Replay, grades: dict[str, int],
                     replayed: list[tuple[str, ...]], shape: str) -> World:
        records, key_of = self.records(seed, replay, grades)
        extras = base_extras(replay, shape)
        extras.update({
            "replayed": tuple(tuple(key_of[t] for t in q) for q in replayed),
            "noise_seed": int(seed.rng(22).integers(0, 2**31 - 1)),
            "outcome_noise": self.knob(seed, "outcome_noise"),
            "surfaced": int(self.knob(seed, "surfaced_per_question")),
        })
        return World(seed=seed, records=records, extras=extras)

    def build_model(self, world: World, ctx: RunContext) -> type:
        from popoto import FloatField, KeyField
        from popoto.fields.confidence_field import ConfidenceField
        from popoto.fields.decaying_sorted_field import DecayingSortedField

        return ctx.model("Loco", {
            "key": KeyField(),
            "importance": FloatField(default=0.0),
            "relevance": DecayingSortedField(base_score_field="importance"),
            "confidence": ConfidenceField(),
        })

    def setup(self, world: World, ctx: RunContext, model: type) -> Prepared:
        from popoto.redis_db import get_REDIS_DB

        instances = save_all(model, world)
        set_ages(model, instances, world, now=ctx.now, client=get_REDIS_DB())
        return Prepared(instances=instances)

    def finish(self, world: World, ctx: RunContext, model: type, prepared: Prepared) -> Ranking:
        replay_outcomes(world, model, prepared.instances)
        return composite_ranking(model.query, model, record_count=len(world.records),
                                 indexes=WEIGHTS)


def replay_outcomes(world: World, model: type, instances: list) -> int:
    """Each replayed question: rank, surface the top, feed back acted/dismissed; returns how many
    acted outcomes popoto received (what the values earned)."""
    from popoto.fields.observation import ObservationProtocol
    from popoto.redis_db import get_REDIS_DB

    extras = world.extras
    by_key = {r.key: (i, inst) for i, (r, inst) in
              enumerate(zip(world.records, instances, strict=True))}
    n, acted = len(world.records), 0
    client = get_REDIS_DB()
    for j, evidence in enumerate(extras["replayed"]):
        shown = composite_ranking(model.query, model, record_count=n, k=extras["surfaced"],
                                  indexes=WEIGHTS).top
        flips = np.random.default_rng([extras["noise_seed"], j]).random(n)
        cited = set(evidence)
        outcomes, batch = {}, []
        for key in shown:
            index, inst = by_key[key]
            used = (key in cited) != bool(flips[index] < extras["outcome_noise"])
            outcomes[inst.db_key.redis_key] = "acted" if used else "dismissed"
            acted += used
            batch.append(inst)
        if batch:
            pipe = client.pipeline(transaction=False)
            ObservationProtocol.on_context_used(batch, outcomes, pipeline=pipe)
            pipe.execute()
    return acted


class LocomoDecayFamily(FeedbackReplay):
    name = "locomo_decay"
    description = ("LoCoMo replay (outside): rank at a session boundary, grade = future "
                   "citations (decay_rate, confidence signals)")

    def build_world(self, seed: ScenarioSeed) -> World:
        conv = self.conversation(seed)
        sessions = len(conv.sessions)
        if sessions < 3:
            raise DegenerateSeedError(f"seed {seed.label}: conversation {conv.id} too short")
        cut = int(seed.rng(23).integers(1, sessions - 1))  # last session kept, a later one follows
        replay = self.window(seed, conv, last_session=cut,
                             now=conv.sessions[cut + 1].timestamp)
        history = {t.id for s in conv.sessions[: cut + 1] for t in s.turns}
        window = {t.id for t in replay.window}
        everything = self.ordered_questions(seed, conv, history | _later(conv, cut))
        past = [q for q in everything if set(q) <= history]
        future = [q for q in everything if not set(q) <= history]
        replayed = [tuple(t for t in q if t in window) for q in past]
        replayed = [q for q in replayed if q][: int(self.knob(seed, "replayed_questions"))]
        grades = grades_from([tuple(t for t in q if t in window) for q in future])
        world = self.finish_world(seed, replay, grades, replayed, "decay")
        world.extras["cut_session"] = conv.sessions[cut].number
        return world


class LocomoReneedFamily(FeedbackReplay):
    name = "locomo_reneed"
    description = ("LoCoMo replay (outside): questions closed-loop, grade = the next "
                   "questions' evidence (decay_rate, confidence signals)")

    def build_world(self, seed: ScenarioSeed) -> World:
        conv = self.conversation(seed)
        last = len(conv.sessions) - 1
        replay = self.window(seed, conv, last_session=last,
                             now=conv.sessions[last].timestamp + RENEED_GAP_DAYS * SECONDS_PER_DAY)
        questions = self.ordered_questions(seed, conv, {t.id for t in replay.window})
        most = min(int(self.knob(seed, "replayed_questions")), len(questions) - 1)
        if most < 1:
            raise DegenerateSeedError(f"seed {seed.label}: too few questions in the window")
        r = int(seed.rng(24).integers(1, most + 1))
        scored, cited = [], set()
        for evidence in questions[r : r + NEXT_QUESTIONS_MAX]:
            scored.append(evidence)
            cited |= set(evidence)
            if len(cited) >= 3:
                break
        world = self.finish_world(seed, replay, grades_from(scored), questions[:r], "reneed")
        world.extras["replayed_count"] = r
        return world


def _later(conv, cut: int) -> set[str]:
    return {t.id for s in conv.sessions[cut + 1 :] for t in s.turns}


register_outside(LocomoDecayFamily, LocomoDecayFamily.unavailable)
register_outside(LocomoReneedFamily, LocomoReneedFamily.unavailable)
