"""The co_occurrence family's run phase: popoto's edge API replaying a built world's history.

Split from ``co_occurrence.py`` (which builds the latent world and documents the sequence) to
keep each module small.
"""

from __future__ import annotations

import inspect

from scenarios.families.base import Ranking, composite_ranking
from scenarios.families.co_occurrence_sessions import CoUse
from scenarios.world import SECONDS_PER_DAY, World


def strengthen_default_delta() -> float:
    """popoto's frozen ``strengthen(delta=...)`` default, read from the installed signature."""
    from popoto.fields.co_occurrence_field import CoOccurrenceField

    return float(inspect.signature(CoOccurrenceField.strengthen).parameters["delta"].default)


def save_with_ages(model: type, world: World, *, now: float) -> dict[str, str]:
    """Save candidates and cue in one pipeline, then give each its last-use time.

    Returns record key -> popoto redis key (the node id the co-occurrence graph uses).
    """
    from popoto.fields.decaying_sorted_field import DecayingSortedField
    from popoto.redis_db import get_REDIS_DB

    client = get_REDIS_DB()
    rows = [(r.key, r.importance, r.age_days) for r in world.records]
    rows += [(c.key, c.importance, c.age_days) for c in world.extras["cue"]]
    pipe = client.pipeline(transaction=False)
    instances = []
    for key, importance, _ in rows:
        inst = model(key=key, importance=importance)
        inst.save(pipeline=pipe)
        instances.append(inst)
    pipe.execute()
    zkey = DecayingSortedField.get_partitioned_sortedset_db_key(instances[0], "relevance")
    stamps = {
        inst.db_key.redis_key: now - age * SECONDS_PER_DAY
        for inst, (_, _, age) in zip(instances, rows, strict=True)
    }
    client.zadd(zkey.redis_key, stamps)
    return {key: inst.db_key.redis_key for inst, (key, _, _) in zip(instances, rows, strict=True)}


def replay_history(model: type, world: World, pk: dict[str, str], *, delta: float) -> None:
    """Replay the co-use history through popoto's own edge API, in time order.

    Old epoch, then the nightly maintenance passes of the gap, then the recent epoch (today's
    sessions, which no pass has touched yet). The gap's ``old_gap_passes`` nightly
    ``weaken_all()`` calls per record are applied as one call with ``decay_factor ** passes``:
    with no edge writes in between, that is exactly the repeated passes (same product, same
    prune decision since weights only fall), at one round trip instead of ``passes``.
    """
    field = model._meta.fields["assoc"]
    pairs: tuple[CoUse, ...] = world.extras["pairs"]
    old = [(pk[p.a], pk[p.b], p.old) for p in pairs if p.old]
    recent = [(pk[p.a], pk[p.b], p.recent) for p in pairs if p.recent]
    record_epoch(model, field, old, delta=delta, existing=set())
    nodes = sorted({node for a, b, _ in old for node in (a, b)})
    factor = field.decay_factor ** world.extras["old_gap_passes"]
    for node in nodes:
        field.weaken_all(model, node, factor=factor)
    record_epoch(model, field, recent, delta=delta, existing=surviving_edges(model, field, recent))


def surviving_edges(model: type, field, events: list[tuple[str, str, int]]) -> set:
    """Which of these pairs still have an edge (the app checks before link vs strengthen)."""
    from popoto.redis_db import get_REDIS_DB

    pipe = get_REDIS_DB().pipeline(transaction=False)
    for a, b, _ in events:
        pipe.zscore(field.get_edge_key(model, a), b)
    scores = pipe.execute()
    return {(a, b) for (a, b, _), score in zip(events, scores, strict=True) if score is not None}


def record_epoch(
    model: type, field, events: list[tuple[str, str, int]], *, delta: float, existing: set
) -> None:
    """Each co-use of a pair: ``link()`` if it has no edge yet, else ``strengthen(delta)``.

    Links run at once (popoto evaluates them immediately); strengthens are pipelined and run
    after, which keeps each pair's order (link first) because a pair's repeats all strengthen.
    """
    from popoto.redis_db import get_REDIS_DB

    pipe = get_REDIS_DB().pipeline(transaction=False)
    for a, b, count in events:
        repeats = count
        if (a, b) not in existing:
            field.link(model, a, b)
            repeats -= 1
        for _ in range(repeats):
            field.strengthen(model, a, b, delta=delta, pipeline=pipe)
    pipe.execute()


def ranking_without_cue(model: type, world: World, boost: dict[str, float]) -> Ranking:
    """The composite ranking with the cue's own records left out: they are already in context."""
    cue = {c.key for c in world.extras["cue"]}
    ranking = composite_ranking(
        model.query,
        model,
        record_count=len(world.records) + len(cue),
        k=5 + len(cue),
        indexes={"relevance": world.extras["relevance_weight"]},
        co_occurrence_boost=boost,
    )
    top = [key for key in ranking.top if key not in cue][:5]
    scores = {key: s for key, s in ranking.scores.items() if key not in cue}
    return Ranking(top=top, scores=scores)
