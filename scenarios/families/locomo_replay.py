"""What the LoCoMo replay families share: the stream, the window, the clock and the knobs.

A LoCoMo replay (``docs/locomo.md``) takes one conversation of the configured data
(``scenarios/locomo_data.py``) and replays its exogenous stream into popoto: each turn of the
history is a record saved at its session's date (the scenario clock; turns of a session 30 s
apart), and the annotated questions are need events. The truth is the annotators' evidence
(which turns a question cites) and co-citation; nothing in it depends on a constant. What popoto
observes at write time is the turn's length (``length_importance``) and its date, never the
evidence. Logged outcomes are never replayed: a family that feeds outcomes back derives them
from the evidence applied to what *the values under test* surfaced, so every value runs the same
stream (paired) and earns its own outcomes (closed loop).

Which conversation and which cut a scenario takes is drawn from its seed (stream 20 and up);
the rest of ``ScenarioSeed``'s axes are not used: the data has its own shape. A record count must
stay within ``scenarios.seeds.MAX_RECORDS``, so the history is a window of its last
``window_turns`` turns (at most 100) before the cut.

The families are *outside* families (``scenarios/outside.py``): registered only while the data
is configured, and never a tuning target unless the catalog says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from scenarios.families.base import PhasedFamily
from scenarios.knobs import Knob
from scenarios.locomo_data import Conversation, Turn, configured_data, unavailable_reason
from scenarios.seeds import DegenerateSeedError, ScenarioSeed
from scenarios.world import MIN_RELEVANT, SECONDS_PER_DAY, Record, record_keys

TURN_SECONDS = 30.0
MAX_GRADE = 3

WINDOW = Knob(
    "window_turns", 100, 20, 100, integer=True,
    meaning="turns of history kept before the cut (the last ones): popoto's scenario record "
            "limit is 100; fewer is a younger memory")
LENGTH_IMPORTANCE = Knob(
    "length_importance", 1.0, 0.0, 1.0,
    meaning="how much a turn's write-time importance follows its length (log chars, scaled to "
            "the window's longest): 0 = uniform importance 0.5, 1 = length only")
OUTCOME_NOISE = Knob(
    "outcome_noise", 0.06, 0.0, 0.3,
    meaning="chance that an outcome contradicts the evidence (acted <-> dismissed, or a cited "
            "turn not used); about the error rate an independent audit (dial481/locomo-audit) "
            "reports for LoCoMo's answer keys")
QUESTION_ORDER = Knob(
    "question_order", 1, 0, 1, integer=True,
    meaning="the order questions arrive in: 0 = the file's order, 1 = a seeded shuffle "
            "(the data gives questions no times)")
SHARED_KNOBS = (WINDOW, LENGTH_IMPORTANCE, OUTCOME_NOISE, QUESTION_ORDER)


@dataclass(frozen=True)
class Replay:
    """A scenario's slice of a conversation: the window of turns and its clock."""

    conversation: Conversation
    window: tuple[Turn, ...]
    stamps: dict[str, float]  # turn id -> save time (epoch seconds)
    now: float  # when the ranking is asked for


class LocomoFamily(PhasedFamily):
    """Base of the replay families: conversation choice, window, keys, importance, ages."""

    outside: ClassVar[bool] = True
    knobs = SHARED_KNOBS

    @staticmethod
    def unavailable() -> str | None:
        return unavailable_reason()

    def conversation(self, seed: ScenarioSeed) -> Conversation:
        conversations = configured_data().conversations
        return conversations[int(seed.rng(20).integers(len(conversations)))]

    def ordered_questions(self, seed: ScenarioSeed, conv: Conversation,
                          keep: set[str]) -> list[tuple[str, ...]]:
        """Each question's evidence inside ``keep`` (turn ids), in the world's question order;
        questions citing nothing in ``keep`` are left out."""
        questions = [tuple(e for e in q.evidence if e in keep) for q in conv.questions]
        if self.knob(seed, "question_order") >= 1:
            order = seed.rng(21).permutation(len(questions))
            questions = [questions[i] for i in order]
        return [q for q in questions if q]

    def window(self, seed: ScenarioSeed, conv: Conversation, *, last_session: int,
               now: float) -> Replay:
        """The last ``window_turns`` turns of sessions up to ``last_session`` (an index)."""
        history = [t for s in conv.sessions[: last_session + 1] for t in s.turns]
        size = int(self.knob(seed, "window_turns"))
        window = tuple(history[-size:])
        if len(window) < 5:
            raise DegenerateSeedError(f"seed {seed.label}: {len(window)} turns before the cut")
        stamps = {}
        for session in conv.sessions[: last_session + 1]:
            for i, turn in enumerate(session.turns):
                stamps[turn.id] = session.timestamp + i * TURN_SECONDS
        kept = {t.id: stamps[t.id] for t in window}
        # Two sessions may carry the same date string: "now" never precedes a saved turn.
        return Replay(conv, window, kept, max(now, max(kept.values()) + TURN_SECONDS))

    def records(self, seed: ScenarioSeed, replay: Replay, grades: dict[str, int],
                *, skip: Sequence[str] = (), min_relevant: int = MIN_RELEVANT,
                ) -> tuple[tuple[Record, ...], dict[str, str]]:
        """One record per window turn but ``skip``: random hex key, observable importance, age
        on the scenario clock, grade from the evidence. Returns the records and turn id -> key
        for every window turn (``skip`` included)."""
        window = replay.window
        keys = record_keys(seed.rng(0), len(window))
        key_of = {t.id: key for t, key in zip(window, keys, strict=True)}
        importance = self.importance_of(seed, replay)
        records = tuple(
            Record(key=key_of[t.id], grade=int(grades.get(t.id, 0)),
                   utility=float(grades.get(t.id, 0)), importance=importance[t.id],
                   age_days=age_days(replay, t.id))
            for t in window if t.id not in set(skip)
        )
        relevant = sum(1 for r in records if r.grade > 0)
        if relevant < min_relevant:
            raise DegenerateSeedError(f"seed {seed.label}: {relevant} cited turns in the window; "
                                      f"at least {min_relevant} needed")
        return records, key_of

    def importance_of(self, seed: ScenarioSeed, replay: Replay) -> dict[str, float]:
        """Each window turn's write-time importance (rounded as records store it)."""
        values = self.importance(seed, [t.chars for t in replay.window])
        return {t.id: round(float(v), 6) for t, v in zip(replay.window, values, strict=True)}

    def importance(self, seed: ScenarioSeed, chars: Sequence[int]) -> np.ndarray:
        """Write-time importance: log length scaled to the window's longest, mixed with 0.5."""
        weight = self.knob(seed, "length_importance")
        length = np.log1p(np.asarray(chars, dtype=float))
        scaled = length / max(float(length.max()), 1e-9)
        return np.clip((1.0 - weight) * 0.5 + weight * scaled, 0.02, 1.0)


def age_days(replay: Replay, turn_id: str) -> float:
    """Days from the turn's save time to the scenario's "now"."""
    return round((replay.now - replay.stamps[turn_id]) / SECONDS_PER_DAY, 6)


def grades_from(questions: Sequence[Sequence[str]]) -> dict[str, int]:
    """How many of ``questions`` cite each turn id, capped at ``MAX_GRADE``."""
    counts: dict[str, int] = {}
    for evidence in questions:
        for turn in evidence:
            counts[turn] = counts.get(turn, 0) + 1
    return {turn: min(MAX_GRADE, n) for turn, n in counts.items()}


def base_extras(replay: Replay, shape: str) -> dict:
    """What every replay world records: its conversation (the bootstrap's cluster), the data's
    digest and the shape."""
    return {"conversation": replay.conversation.id, "data": configured_data().digest,
            "shape": shape}
