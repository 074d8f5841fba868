"""LoCoMo replay, co-occurrence shape: links from turns used together, recall from one of them.

The whole conversation is history (its last ``window_turns`` turns). A held-out question with
at least two cited turns in the window is drawn from the seed; the questions before it (in the
world's order) are replayed as co-use: the agent answered each with the turns its evidence names
(the annotators say those were needed, found by whatever route: a lexical search our constants
do not move), so the application logs each pair of them as used together, ``link()`` the first
time and ``strengthen(delta)`` on every repeat (each cited turn missing from the use with
the ``outcome_noise`` chance: an evidence slip). Before any question, at write time, an
application that links what was *said* together also links adjacent turns of a session, each
pair with chance ``co_presence_links``: in LoCoMo such closeness is almost never a true link
(issue 25: adjacent turns are hardly ever cited together), the natural noise that
``initial_weight``, ``delta`` and ``decay_per_hop`` must weigh.

Query: ``propagate`` from one cited turn of the held-out question (the cue, already in context,
left out of the ranking) at depth 2, entering ``composite_score`` beside the decay arm (at the
knob ``relevance_weight``), as the co_occurrence family does. Truth: the held-out question's
other cited turns grade 3, and turns cited together with the cue by questions not yet replayed
grade 1 per question (capped at 3 overall): real co-need, never a constant. The links' evidence
is exogenous here (what the agent used, not what popoto surfaced): a query-blind surfacing would
almost never show two cited turns together, so a closed loop would learn no links at all; see
docs/locomo.md.
"""

from __future__ import annotations

from typing import ClassVar

from scenarios.families.base import Prepared, Ranking, RunContext
from scenarios.families.co_occurrence import CueRecord
from scenarios.families.co_occurrence_run import (
    ranking_without_cue,
    save_with_ages,
    strengthen_default_delta,
)
from scenarios.families.locomo_replay import (
    MAX_GRADE,
    SHARED_KNOBS,
    LocomoFamily,
    age_days,
    base_extras,
)
from scenarios.knobs import Knob
from scenarios.outside import register_outside
from scenarios.seeds import DegenerateSeedError, ScenarioSeed
from scenarios.world import World

PROPAGATION_DEPTH = 2
MIN_TARGETS = 1  # the held-out question's other cited turns in the window

CO_PRESENCE = Knob(
    "co_presence_links", 0.5, 0.0, 1.0,
    meaning="chance the app links two adjacent turns of a session at write time (0: it links "
            "only what was used together; 1: every adjacent pair)")
RELEVANCE_WEIGHT = Knob(
    "relevance_weight", 0.5, 0.3, 1.0,
    meaning="the app's composite weight on the decay arm beside the boost (popoto's examples "
            "span 0.4-1.0, as in the co_occurrence family)")


class LocomoCooccurrenceFamily(LocomoFamily):
    name = "locomo_cooccurrence"
    description = ("LoCoMo replay (outside): co-citation links, propagate from a cited turn "
                   "(initial_weight, delta, decay_per_hop)")
    knobs: ClassVar = (*SHARED_KNOBS, CO_PRESENCE, RELEVANCE_WEIGHT)
    sanity_note = ("Few turns are graded (the held-out question's other cited turns and the "
                   "cue's later co-citations), so most of the Spearman is ties among zeros.")

    def build_world(self, seed: ScenarioSeed) -> World:
        conv = self.conversation(seed)
        last = len(conv.sessions) - 1
        replay = self.window(seed, conv, last_session=last,
                             now=conv.sessions[last].timestamp + 86_400.0)
        questions = self.ordered_questions(seed, conv, {t.id for t in replay.window})
        candidates = [i for i, q in enumerate(questions) if i > 0 and len(q) >= 1 + MIN_TARGETS]
        if not candidates:
            raise DegenerateSeedError(f"seed {seed.label}: no multi-turn question in the window")
        held = candidates[int(seed.rng(25).integers(len(candidates)))]
        evidence = questions[held]
        cue = evidence[int(seed.rng(26).integers(len(evidence)))]
        grades = {t: MAX_GRADE for t in evidence if t != cue}
        for later in questions[held + 1 :]:
            if cue in later:
                for t in later:
                    if t != cue and grades.get(t, 0) < MAX_GRADE:
                        grades[t] = grades.get(t, 0) + 1
        records, key_of = self.records(seed, replay, grades, skip=(cue,),
                                       min_relevant=MIN_TARGETS)
        extras = base_extras(replay, "cooccurrence")
        extras.update({
            "cue": (CueRecord(key_of[cue], self.importance_of(seed, replay)[cue],
                              age_days(replay, cue)),),
            "co_presence": _adjacent_links(seed, replay, key_of,
                                           self.knob(seed, "co_presence_links")),
            "co_use": _co_use(seed, questions[:held], key_of, self.knob(seed, "outcome_noise")),
            "relevance_weight": self.knob(seed, "relevance_weight"),
            "held_out": held,
        })
        return World(seed=seed, records=records, extras=extras)

    def build_model(self, world: World, ctx: RunContext) -> type:
        from popoto import FloatField, KeyField
        from popoto.fields.co_occurrence_field import CoOccurrenceField
        from popoto.fields.decaying_sorted_field import DecayingSortedField

        return ctx.model("LocoCo", {
            "key": KeyField(),
            "importance": FloatField(default=0.0),
            "relevance": DecayingSortedField(base_score_field="importance"),
            "assoc": CoOccurrenceField(),
        })

    def setup(self, world: World, ctx: RunContext, model: type) -> Prepared:
        return Prepared(state={"pk": save_with_ages(model, world, now=ctx.now)})

    def finish(self, world: World, ctx: RunContext, model: type, prepared: Prepared) -> Ranking:
        pk = prepared.state["pk"]
        delta = ctx.argument("delta", strengthen_default_delta())
        log_co_use(model, world, pk, delta=delta)
        cue = [pk[c.key] for c in world.extras["cue"]]
        boost = model._meta.fields["assoc"].propagate(model, cue, depth=PROPAGATION_DEPTH)
        return ranking_without_cue(model, world, boost)


def log_co_use(model: type, world: World, pk: dict[str, str], *, delta: float) -> None:
    """Write-time co-presence links, then each replayed question's pairs: link the first time a
    pair is used together, strengthen on every repeat (no edge is ever pruned here, so the set
    of linked pairs is known without asking Redis)."""
    from popoto.redis_db import get_REDIS_DB

    field = model._meta.fields["assoc"]
    linked: set[tuple[str, str]] = set()
    for a, b in world.extras["co_presence"]:
        field.link(model, pk[a], pk[b])
        linked.add((a, b))
    pipe = get_REDIS_DB().pipeline(transaction=False)
    for evidence in world.extras["co_use"]:
        for i, a in enumerate(evidence):
            for b in evidence[i + 1 :]:
                if (a, b) in linked:
                    field.strengthen(model, pk[a], pk[b], delta=delta, pipeline=pipe)
                else:
                    pipe.execute()  # earlier strengthens first: a pair's order is kept
                    field.link(model, pk[a], pk[b])
                    linked.add((a, b))
    pipe.execute()


def _co_use(seed: ScenarioSeed, questions: list[tuple[str, ...]], key_of: dict[str, str],
            noise: float) -> tuple[tuple[str, ...], ...]:
    """Each replayed question's used turns as sorted keys; each cited turn is missing from the
    use with chance ``noise`` (an evidence slip: the agent did not use it after all)."""
    rng = seed.rng(29)
    used = []
    for evidence in questions:
        keep = rng.random(len(evidence)) >= noise
        used.append(tuple(sorted(key_of[t] for t, k in zip(evidence, keep, strict=True) if k)))
    return tuple(used)


def _adjacent_links(seed: ScenarioSeed, replay, key_of: dict[str, str],
                    rate: float) -> tuple[tuple[str, str], ...]:
    """Adjacent turn pairs of a session in the window the app linked (one draw per pair)."""
    window = replay.window
    draws = seed.rng(27).random(max(1, len(window) - 1))
    pairs = []
    for i, (a, b) in enumerate(zip(window, window[1:], strict=False)):
        if a.session == b.session and draws[i] < rate:
            pairs.append(tuple(sorted((key_of[a.id], key_of[b.id]))))
    return tuple(pairs)


register_outside(LocomoCooccurrenceFamily, LocomoCooccurrenceFamily.unavailable)
