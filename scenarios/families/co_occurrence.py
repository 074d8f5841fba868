"""Co-occurrence family: cue-driven recall through ``CoOccurrenceField`` association edges.

Latent truth: a query has a *cue* (two anchor records already in context). Each other record has
a hidden association ``assoc`` with the cue's current task: the task's current topic (high), a
bridge topic reachable through it (moderate), a topic the cue *used to* belong to before the
task drifted (near zero) and unrelated background topics (zero). Its utility mixes that
association with general usefulness, ``lam * assoc * (0.5 + 0.5 * value) + (1 - lam) * value *
(1 + age) ** -rho``, with the seed's hidden ``lam`` (how cue-driven the query is) and ``rho``.

popoto never sees ``assoc``. It sees what an application would write: an ``importance`` (a noisy
view of ``value``), last-use ages, and an association graph built from a co-use history in two
epochs. In the *old* epoch (``old_gap_passes`` nightly maintenance passes ago) the cue was
co-used with the since-drifted topic and with long-standing members of its current topic; in
the *recent* epoch (today, before any pass) with its current topic. The cue's co-use comes from
*task sessions* (``co_occurrence_sessions``): every record used in a session counts as co-used
with the cue, related records recur from session to session in proportion to their association,
and each session also holds chance company from a side task. Background topics have their own
co-use, and ``noise_ratio`` adds incidental co-uses (mostly around busy records like the cue
and with popular records). The first co-use of a pair is a ``link()``
(``CO_OCCURRENCE_INITIAL_WEIGHT``), every repeat a ``strengthen(delta=...)``; each nightly
maintenance pass calls ``weaken_all()`` on every record with edges (the field's
constructor-captured ``decay_factor``), so old evidence fades and weak edges are pruned.
Retrieval is ``composite_score`` over the decay arm (importance x recency, at the seed's
application weight) plus ``co_occurrence_boost = propagate(cue, depth=2)``
(``CO_OCCURRENCE_DECAY_PER_HOP``, entering at weight 1.0); the cue's own records are left out.

Wrong links (what a small ``initial_weight``, ``delta`` and ``decay_per_hop`` guard against):
coincidental co-use. A session's side task (one background topic per session) brings records
unrelated to the cue's task into the session, ``noise_ratio`` of its records on average; the app
links them to the anchors and to a task record they were used beside, exactly as it links the
related ones. Mostly once, sometimes again when a side task recurs (a habitual companion). The
edge is real in popoto's graph but the record is useless to the query; such records (background,
grade 0, linked to the cue or its current topic) are listed in ``extras["guarded"]`` and cost a
top-5 slot when a permissive weighting trusts one co-use, saturates after a few, or chains a
weak link a hop further. Genuine associates still earn their boost by recurring.

The world is drawn from the seed alone, so it cannot depend on any of the four constants; they
only change how popoto turns the observed co-use history into a boost and how that boost weighs
against the decay arm (whose scores are unnormalised, ~importance at the default decay rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scenarios.families.base import PhasedFamily, Prepared, Ranking, RunContext
from scenarios.families.co_occurrence_run import (
    ranking_without_cue,
    replay_history,
    save_with_ages,
    strengthen_default_delta,
)
from scenarios.families.co_occurrence_sessions import SESSION_KNOBS, CoUse, task_sessions
from scenarios.seeds import ScenarioSeed
from scenarios.world import (
    World,
    ages_days,
    build_records,
    intrinsic_values,
    noisy,
    record_keys,
)

CUE_SIZE = 2
PROPAGATION_DEPTH = 2
# The application's composite weight on the decay arm, drawn per seed (log-uniform) from the
# span of popoto's own examples (0.4 .. 1.0, rounded out): the boost arm always enters at 1.0,
# so the best boost scale depends on this weight and no single app setting should decide it.
RELEVANCE_WEIGHT_RANGE = (0.3, 1.0)
BACKGROUND_TOPIC_SIZE = 8
# How cue-driven a query is: from nearly context-free (a fresh question) to mostly about the
# cue's task. It was [0.35, 0.9], which made links dominate every truth.
CUE_DEPENDENCE_RANGE = (0.05, 0.9)
# Hidden association with the cue's current task, by latent role.
ASSOC_RANGES = {
    "current": (0.55, 1.0),
    "bridge": (0.2, 0.5),
    "drifted": (0.0, 0.1),
    "background": (0.0, 0.0),
}


@dataclass(frozen=True)
class CueRecord:
    """An anchor of the query: stored in popoto like any record, never a retrieval candidate."""

    key: str
    importance: float
    age_days: float


def hidden_task(seed: ScenarioSeed) -> tuple[float, float, float]:
    """The seed's hidden ``lam`` (cue dependence), ``rho`` (recency need) and topic ``drift``."""
    rng = seed.rng(6)
    lam = float(rng.uniform(*CUE_DEPENDENCE_RANGE))
    rho = float(np.exp(rng.uniform(np.log(0.05), np.log(0.5))))
    drift = float(rng.uniform(0.0, 1.0))
    return lam, rho, drift


def old_gap_passes(seed: ScenarioSeed) -> int:
    """Nightly maintenance passes since the old epoch: a share of the seed's age spread."""
    share = seed.rng(8).uniform(0.3, 0.9)
    return max(2, int(round(share * seed.age_spread_days)))


def relevance_weight(seed: ScenarioSeed) -> float:
    """The application's weight on the decay arm for this seed (configuration, not truth)."""
    low, high = RELEVANCE_WEIGHT_RANGE
    return round(float(np.exp(seed.rng(12).uniform(np.log(low), np.log(high)))), 4)


def assign_roles(rng: np.random.Generator, n: int, drift: float) -> list[str]:
    """Latent role of each candidate, in random order so roles never follow key order."""
    current = max(2, round(0.2 * n))
    bridge = max(1, round(0.1 * n))
    drifted = min(round(drift * current), n - current - bridge)
    roles = ["current"] * current + ["bridge"] * bridge + ["drifted"] * drifted
    roles += ["background"] * (n - len(roles))
    return [roles[i] for i in rng.permutation(n)]


def associations(rng: np.random.Generator, roles: list[str]) -> np.ndarray:
    """Hidden association with the cue's current task, drawn per role."""
    return np.array([rng.uniform(*ASSOC_RANGES[role]) for role in roles])


class _PairLog:
    """Accumulates co-use counts per unordered pair (the history the application observed)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], list[int]] = {}

    def add(self, a: str, b: str, old: int, recent: int) -> None:
        if a == b or old + recent == 0:
            return
        pair = (a, b) if a < b else (b, a)
        counts = self.counts.setdefault(pair, [0, 0])
        counts[0] += int(old)
        counts[1] += int(recent)

    def pairs(self) -> tuple[CoUse, ...]:
        return tuple(CoUse(a, b, old, recent) for (a, b), (old, recent) in self.counts.items())


def co_use_history(
    seed: ScenarioSeed,
    keys: list[str],
    cue: list[str],
    roles: list[str],
    assoc: np.ndarray,
    value: np.ndarray,
) -> tuple[CoUse, ...]:
    """The observed co-use history; ``link_density`` sets how often true associates co-occur."""
    rng = seed.rng(4)
    rate = 8.0 * seed.link_density
    _, _, drift = hidden_task(seed)
    log = _PairLog()
    by_role = {role: [i for i, r in enumerate(roles) if r == role] for role in ASSOC_RANGES}
    current = by_role["current"]
    tenured = [i for i in current if rng.random() >= drift]
    background = by_role["background"]
    topics = [
        background[start : start + BACKGROUND_TOPIC_SIZE]
        for start in range(0, len(background), BACKGROUND_TOPIC_SIZE)
    ]
    task_sessions(
        seed,
        log,
        cue=cue,
        members={"old": [keys[i] for i in tenured], "recent": [keys[i] for i in current]},
        association={keys[i]: float(assoc[i]) for i in current},
        side_topics=[[keys[i] for i in topic] for topic in topics],
    )
    _sparse_partners(rng, log, keys, current, rate, old_share=1.0 - drift, recent_share=1.0)
    for i in by_role["bridge"]:
        j = current[rng.integers(len(current))]
        log.add(keys[i], keys[j], rng.poisson(0.25 * rate), rng.poisson(0.5 * rate))
    for i in by_role["drifted"]:
        strength = rng.uniform(*ASSOC_RANGES["current"])
        for anchor in cue:
            log.add(anchor, keys[i], rng.poisson(0.5 * rate * strength), 0)
    _sparse_partners(rng, log, keys, by_role["drifted"], rate, old_share=1.0, recent_share=0.0)
    for topic in topics:
        _sparse_partners(rng, log, keys, topic, rate, initiators=0.5)
    _spurious(seed, log, keys + cue, value)
    return log.pairs()


def _sparse_partners(
    rng: np.random.Generator,
    log: _PairLog,
    keys: list[str],
    members: list[int],
    rate: float,
    *,
    old_share: float = 0.5,
    recent_share: float = 0.5,
    initiators: float = 1.0,
) -> None:
    """Within-topic co-use: a share ``initiators`` of members was used alongside a topic mate.

    Background topics use 0.5: their internal co-use only matters as onward paths from
    incidental links, and every link is two Redis round trips popoto cannot pipeline.
    """
    if len(members) < 2:
        return
    for i in members:
        j = members[rng.integers(len(members))]
        if rng.random() >= initiators:
            continue
        old = rng.poisson(0.3 * rate * old_share)
        log.add(keys[i], keys[j], old, rng.poisson(0.3 * rate * recent_share))


def _spurious(seed: ScenarioSeed, log: _PairLog, nodes: list[str], popularity: np.ndarray) -> None:
    """Incidental co-uses of unassociated records, ``noise_ratio`` of the true pair count.

    Records used often (high degree, like the cue) get more incidental company, and popular
    (valuable) records are the company most often: retrieval returns them in many contexts.
    """
    rng = seed.rng(5)
    endpoints = [key for pair in log.counts for key in pair]
    count = int(rng.binomial(len(log.counts), seed.noise_ratio))
    weights = popularity / popularity.sum()
    for _ in range(count):
        a = endpoints[rng.integers(len(endpoints))]
        b = nodes[rng.choice(len(nodes), p=weights)]
        uses = 1 + int(rng.poisson(0.5))
        recent = int(rng.binomial(uses, 0.5))
        log.add(a, b, uses - recent, recent)


def last_use_ages(
    seed: ScenarioSeed, keys: list[str], pairs: tuple[CoUse, ...], gap: int
) -> np.ndarray:
    """Days since last use: the seed's access pattern, capped by the record's co-use history."""
    rng = seed.rng(1)
    ages = ages_days(rng, seed.access_pattern, seed.age_spread_days, len(keys))
    recent = {k for p in pairs if p.recent for k in (p.a, p.b)}
    old = {k for p in pairs if p.old for k in (p.a, p.b)}
    fresh = seed.rng(9).uniform(0.02, 1.0, len(keys))
    for i, key in enumerate(keys):
        if key in recent:
            ages[i] = min(ages[i], fresh[i])
        elif key in old:
            ages[i] = min(ages[i], gap + fresh[i])
    return ages


def latent_utility(
    assoc: np.ndarray, value: np.ndarray, ages: np.ndarray, *, lam: float, rho: float
) -> np.ndarray:
    """What a record is really worth to this query: cue association plus general usefulness."""
    return lam * assoc * (0.5 + 0.5 * value) + (1.0 - lam) * value * (1.0 + ages) ** -rho


def wrongly_linked(pairs, cue_keys: list[str], keys: list[str], roles: list[str], records):
    """Background records of grade 0 that have an edge to the cue or its current topic: what a
    permissive link weighting boosts for nothing."""
    useful = set(cue_keys) | {k for k, role in zip(keys, roles, strict=True) if role == "current"}
    useless = {
        r.key
        for r, role in zip(records, roles, strict=True)
        if role == "background" and r.grade == 0
    }
    linked = {p.b for p in pairs if p.a in useful} | {p.a for p in pairs if p.b in useful}
    return tuple(sorted(linked & useless))


class CoOccurrenceFamily(PhasedFamily):
    name = "co_occurrence"
    description = (
        "cue-driven recall: link/strengthen/weaken_all history + propagate() boost "
        "(initial_weight, delta, decay_factor, decay_per_hop)"
    )
    knobs = SESSION_KNOBS

    def build_world(self, seed: ScenarioSeed) -> World:
        n = seed.record_count
        all_keys = record_keys(seed.rng(0), n + CUE_SIZE)
        keys, cue_keys = all_keys[:n], all_keys[n:]
        lam, rho, drift = hidden_task(seed)
        roles = assign_roles(seed.rng(3), n, drift)
        assoc = associations(seed.rng(11), roles)
        value = intrinsic_values(seed.rng(2), seed.importance_shape, n + CUE_SIZE)
        pairs = co_use_history(seed, keys, cue_keys, roles, assoc, value)
        gap = old_gap_passes(seed)
        ages = last_use_ages(seed, keys, pairs, gap)
        utility = latent_utility(assoc, value[:n], ages, lam=lam, rho=rho)
        importance = noisy(seed.rng(10), value, seed.noise_ratio)
        records = build_records(seed, utility, keys=keys, importance=importance[:n], ages=ages)
        cue = tuple(
            CueRecord(key, round(float(importance[n + i]), 6), 0.01)
            for i, key in enumerate(cue_keys)
        )
        extras = {
            "guarded": wrongly_linked(pairs, cue_keys, keys, roles, records),
            "cue": cue,
            "pairs": pairs,
            "old_gap_passes": gap,
            "relevance_weight": relevance_weight(seed),
            "roles": dict(zip(keys, roles, strict=True)),
        }
        return World(seed=seed, records=records, extras=extras)

    def build_model(self, world: World, ctx: RunContext) -> type:
        from popoto import FloatField, KeyField
        from popoto.fields.co_occurrence_field import CoOccurrenceField
        from popoto.fields.decaying_sorted_field import DecayingSortedField

        return ctx.model(
            "CoOc",
            {
                "key": KeyField(),
                "importance": FloatField(default=0.0),
                "relevance": DecayingSortedField(base_score_field="importance"),
                "assoc": CoOccurrenceField(),
            },
        )

    def setup(self, world: World, ctx: RunContext, model: type) -> Prepared:
        return Prepared(state={"pk": save_with_ages(model, world, now=ctx.now)})

    def finish(self, world: World, ctx: RunContext, model: type, prepared: Prepared) -> Ranking:
        delta = ctx.argument("delta", strengthen_default_delta())
        pk = prepared.state["pk"]
        replay_history(model, world, pk, delta=delta)
        cue = [pk[c.key] for c in world.extras["cue"]]
        boost = model._meta.fields["assoc"].propagate(model, cue, depth=PROPAGATION_DEPTH)
        return ranking_without_cue(model, world, boost)
