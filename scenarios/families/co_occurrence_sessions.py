"""The co_occurrence family's task sessions: how the cue and its topic were really co-used.

Split from ``co_occurrence.py`` (which builds the rest of the latent world) to keep modules
small. An application learns co-occurrence from *sessions*: every record used in the same
session counts as co-used with the cue. Some of those records belong to the cue's task (used
because they are related, so the same ones recur session after session); others were used in
the same session for an unrelated reason: a side task interleaved with the main one (an email
thread, a lookup for another project). Those coincidental companions are co-used with the cue
as really as the related records are, but mostly once, because the next session's side task
is another one. That is the evidence problem ``CO_OCCURRENCE_INITIAL_WEIGHT`` (what a single
co-use is worth), the ``strengthen`` ``delta`` (what each repeat adds) and
``CO_OCCURRENCE_DECAY_PER_HOP`` (how far a link's boost chains through the graph) exist to
solve: trusting one co-use fully, saturating after a few, or propagating far lets chance
company into the top of a cue-driven recall; genuine repeated co-use still earns a boost.

Everything is drawn from the seed (stream 13), never from a constant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from scenarios.knobs import Knob
from scenarios.seeds import ScenarioSeed

# Task sessions per epoch: one, plus a Poisson count rising with the seed's link density (the
# axis that says how often true associates are used together): 1.3 .. 4.6 on average.
SESSIONS_PER_DENSITY = Knob(
    "sessions_per_density", 6.0, 2.0, 12.0,
    "task sessions per epoch per unit of link_density (plus one): how much co-use evidence "
    "the cue's task leaves (1.3 .. 4.6 sessions on average at 6)",
)
# Chance that a current-topic record is used in one task session, per unit of its hidden
# association (0.55 .. 1.0): related records recur across sessions, in proportion to relation.
USE_PER_ASSOC = Knob(
    "use_per_assoc", 0.6, 0.3, 1.0,
    "chance a related record is used in one task session per unit of its hidden association: "
    "how often genuine associates recur (at 1.0 a fully related record is in every session)",
)
# Chance that each cue anchor is itself used in a task session (sessions without the cue still
# co-use the topic with its side task: onward paths for propagation).
ANCHOR_PRESENCE = 0.8
# Most records a single side task contributes to one session.
MAX_SIDE_RECORDS = Knob(
    "max_side_records", 4, 1, 8,
    "most records one session's side task adds (chance company co-used with the cue)",
    integer=True,
)
SIDE_SHARE_SCALE = Knob(
    "side_share_scale", 1.0, 0.5, 2.0,
    "multiplies the expected side-task company of a session (noise_ratio / (1 - noise_ratio) "
    "records per task record at 1): how much co-use is coincidence",
)
SESSION_KNOBS = (USE_PER_ASSOC, SESSIONS_PER_DENSITY, MAX_SIDE_RECORDS, SIDE_SHARE_SCALE)


@dataclass(frozen=True)
class CoUse:
    """One pair of records that was used together: how often, in the old and recent epochs."""

    a: str
    b: str
    old: int
    recent: int


class PairSink(Protocol):
    """Where co-uses go (``co_occurrence._PairLog``)."""

    def add(self, a: str, b: str, old: int, recent: int) -> None: ...


def task_sessions(
    seed: ScenarioSeed,
    log: PairSink,
    *,
    cue: list[str],
    members: dict[str, list[str]],
    association: dict[str, float],
    side_topics: list[list[str]],
) -> None:
    """Log the co-uses of the cue's task sessions in each epoch.

    ``members`` maps ``"old"``/``"recent"`` to the current-topic records of the task in that
    epoch (the tenured ones already belonged to it in the old epoch), ``association`` each one's
    hidden association with the task. In every session each anchor is used with
    ``ANCHOR_PRESENCE``, each member with ``USE_PER_ASSOC * association``; then a side task
    (one background topic, picked per session) adds coincidental records, as many on average
    as ``noise_ratio / (1 - noise_ratio)`` times the session's task records, so that
    ``noise_ratio`` is the expected share of chance company among a session's records. The
    app logs each anchor with every other record of the session, and each coincidental record
    with one task record it was used beside.
    """
    rng = seed.rng(13)
    odds = seed.noise_ratio / (1.0 - seed.noise_ratio) * SIDE_SHARE_SCALE.read(seed)
    per_density, use_rate = SESSIONS_PER_DENSITY.read(seed), USE_PER_ASSOC.read(seed)
    most = int(MAX_SIDE_RECORDS.read(seed))
    for epoch in ("old", "recent"):
        old, recent = (1, 0) if epoch == "old" else (0, 1)
        for _ in range(1 + int(rng.poisson(per_density * seed.link_density))):
            anchors = [a for a in cue if rng.random() < ANCHOR_PRESENCE]
            used = [k for k in members[epoch] if rng.random() < use_rate * association[k]]
            mean = odds * max(1, len(anchors) + len(used))
            side = side_task(rng, side_topics, mean, most=most)
            for anchor in anchors:
                for key in used + side:
                    log.add(anchor, key, old, recent)
            task = used or anchors
            for key in side:
                if task:
                    log.add(key, task[int(rng.integers(len(task)))], old, recent)


def side_task(
    rng: np.random.Generator, topics: list[list[str]], mean: float, *, most: int
) -> list[str]:
    """The coincidental records of one session: a Poisson(``mean``) draw from one background
    topic (the side task), capped by ``most`` (``MAX_SIDE_RECORDS``) and the topic's size."""
    count = int(rng.poisson(mean))
    topics = [t for t in topics if t]
    if not count or not topics:
        return []
    topic = topics[int(rng.integers(len(topics)))]
    size = min(count, most, len(topic))
    return [topic[i] for i in rng.choice(len(topic), size=size, replace=False)]
