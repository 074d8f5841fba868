"""Cyclic family: weekly rhythms and unresolved pressure, learned through ``CyclicDecayField``.

The application is an assistant's memory of recurring duties and notes (a weekly report, a
standing meeting's agenda, an invoice that keeps coming back) next to one-off notes. Its model
declares one weekly cycle (``CyclicDecayField(cycles=[(WEEKLY, 0.5, phase)], pressure_rate=...)``
plus a ``ConfidenceField``) and lets popoto learn each record's amplitude from outcomes:
``ObservationProtocol.on_context_used`` strengthens a record's cycle on "acted", weakens it on
"dismissed"/"contradicted", resolves its pressure on "acted", and auto-discharges the pressure of a
"contradicted" record whose confidence fell below ``AUTO_DISCHARGE_CONFIDENCE_THRESHOLD``.

Latent truth, drawn from the seed alone: a record is *wrong* (obsolete or mistaken, useless now)
or genuine. A genuine record has an intrinsic value ``v``, a rhythm depth ``s`` (how much its
usefulness follows the weekly cycle: ``v * ((1 - s) + s * (1 + cos angle))``), and a pending
weight ``pi`` (how much an unaddressed item gains urgency). Utility at the query instant (a seeded
angle in the week) is ``rhythmic value * (1 + days since last use) ** -rho + kappa * pi *
(1 - exp(-days since last use / 21))``; wrong records are worth 0. popoto sees a noisy importance
(wrong records look as valuable as they seemed when written) and a history of past sessions at
random times of the week, in each of which some records were surfaced and the agent acted on
them (with the chance they were useful at that moment), dismissed them, or contradicted them
(mostly the wrong ones; a noise share is random).

Real time is mapped to simulated time the way ``decay.set_ages`` does it: sessions replay
oldest first, and after each one every clock popoto moved (the decay clock by ``touch()``, the
pressure clock by ``resolve_pressure()``) is re-dated to that session's simulated time. Whether a
clock moved is popoto's decision, under the constants being tuned; only the date is ours.

Query: ``composite_score({"relevance": 1.0})`` on the CyclicDecayField, i.e. confidence-modulated
decay of importance + learned amplitude * cos(query angle) + pressure.
"""

from __future__ import annotations

import math

import numpy as np

from scenarios.families.base import PhasedFamily, Prepared, Ranking, RunContext, composite_ranking
from scenarios.families.decay import save_all
from scenarios.knobs import Knob
from scenarios.seeds import ScenarioSeed
from scenarios.world import (
    SECONDS_PER_DAY,
    World,
    build_records,
    intrinsic_values,
    noisy,
    record_keys,
)

PERIOD_DAYS = 7.0
DECLARED_AMPLITUDE = 0.5  # the application's declared weekly amplitude (popoto's own 0.5 prior)
PRESSURE_RATE = 0.01  # urgency per unresolved day the application declares (0.3 after a month)
URGENCY_DAYS = 21.0  # latent: how fast an unaddressed item's need saturates
MIN_HISTORY_DAYS, MAX_HISTORY_DAYS = 14.0, 84.0
MAX_SESSIONS = 24
MAX_SURFACED = 8  # records the application surfaces in one session at most
WRONG_OUTCOME_P = {"acted": 0.0, "dismissed": 0.3, "contradicted": 0.7}
NOISY_OUTCOMES = ("acted", "dismissed", "contradicted")

CONTRADICTION_RATE = Knob(
    "contradiction_rate", WRONG_OUTCOME_P["contradicted"], 0.3, 1.0,
    "chance a surfaced wrong record is 'contradicted' (else 'dismissed'): contradictions weaken "
    "its cycle and, below the discharge threshold, discharge its pressure",
)
WRONG_SHARE_MAX = Knob(
    "wrong_share_max", 0.3, 0.1, 0.6,
    "upper end of a seed's hidden share of wrong records, U[0.08, this]: the records whose "
    "learned rhythm and pressure are worth nothing",
)
URGENCY_WEIGHT_MAX = Knob(
    "urgency_weight_max", 1.0, 0.0, 2.0,
    "upper end of a seed's hidden weight kappa ~ U[0, this] of unresolved urgency in the truth: "
    "how much an unaddressed item's pending need counts next to its rhythmic value",
)
SESSIONS_PER_WEEK = Knob(
    "sessions_per_week", 2.5, 1.0, 5.0,
    "past sessions per week of history (at most 24): how much outcome evidence each record "
    "has, hence where its confidence can land",
)


def wrong_outcome_p(seed: ScenarioSeed) -> dict[str, float]:
    """Outcome chances of a surfaced wrong record (``WRONG_OUTCOME_P`` at the default)."""
    contradicted = CONTRADICTION_RATE.read(seed)
    if contradicted == CONTRADICTION_RATE.default:
        return WRONG_OUTCOME_P
    return {"acted": 0.0, "dismissed": 1.0 - contradicted, "contradicted": contradicted}


def hidden_params(seed: ScenarioSeed) -> dict[str, float]:
    """The seed's hidden parameters: recency need, wrong share, urgency weight, query angle."""
    rng = seed.rng(7)
    return {
        "rho": float(np.exp(rng.uniform(np.log(0.02), np.log(0.6)))),
        "wrong_share": float(rng.uniform(0.08, WRONG_SHARE_MAX.read(seed))),
        "rhythmic_share": float(rng.uniform(0.2, 0.5)),
        "kappa": float(rng.uniform(0.0, URGENCY_WEIGHT_MAX.read(seed))),
        "query_angle": float(rng.uniform(0.0, 2.0 * math.pi)),
    }


def rhythmic_value(value: np.ndarray, depth: np.ndarray, angle: float | np.ndarray) -> np.ndarray:
    """How useful a genuine record is at ``angle`` of the week, before recency and urgency."""
    return value * ((1.0 - depth) + depth * (1.0 + np.cos(angle)))


def session_schedule(seed: ScenarioSeed, history_days: float) -> np.ndarray:
    """Days-ago of each past session, oldest first, at random times of the week."""
    rng = seed.rng(4)
    per_week = SESSIONS_PER_WEEK.read(seed)
    count = int(min(MAX_SESSIONS, max(3, round(per_week * history_days / PERIOD_DAYS))))
    return np.sort(rng.uniform(0.05, history_days, count))[::-1]


def draw_outcome(
    rng: np.random.Generator,
    useful: float,
    wrong: bool,
    noise: float,
    wrong_p: dict[str, float] = WRONG_OUTCOME_P,
) -> str:
    """What the agent did with one surfaced record; a noise share ignores the truth."""
    if rng.random() < 0.5 * noise:
        return NOISY_OUTCOMES[int(rng.integers(len(NOISY_OUTCOMES)))]
    if wrong:
        names = list(wrong_p)
        return names[int(rng.choice(len(names), p=list(wrong_p.values())))]
    return "acted" if rng.random() < min(0.95, max(0.03, useful)) else "dismissed"


def simulate_sessions(
    seed: ScenarioSeed, importance: np.ndarray, created: np.ndarray, latent: dict
) -> list[tuple[float, list[tuple[int, str]]]]:
    """The event log: per session its days-ago and the (record index, outcome) pairs.

    Which records a session surfaced leans on the observed importance (what the application
    could see); what the agent did with them follows the latent usefulness at that instant.
    """
    rng = seed.rng(5)
    angle_now = latent["query_angle"]
    wrong_p = wrong_outcome_p(seed)
    sessions = []
    for days_ago in session_schedule(seed, float(latent["history_days"])):
        alive = np.flatnonzero(created > days_ago)
        weight = seed.outcome_frequency * 0.5 * (0.4 + importance[alive])
        shown = rng.permutation(alive[rng.random(len(alive)) < weight])[:MAX_SURFACED]
        angle = angle_now - 2.0 * math.pi * days_ago / PERIOD_DAYS
        useful = rhythmic_value(latent["value"], latent["depth"], angle)
        wrong = latent["wrong"]
        events = [
            (int(i), draw_outcome(rng, float(useful[i]), bool(wrong[i]), seed.noise_ratio, wrong_p))
            for i in shown
        ]
        if events:
            sessions.append((float(days_ago), events))
    return sessions


def last_acted(created: np.ndarray, sessions: list) -> np.ndarray:
    """Days since each record was last really used: its latest "acted", else its creation."""
    ages = created.copy()
    for days_ago, events in sessions:
        for i, outcome in events:
            if outcome == "acted":
                ages[i] = min(ages[i], days_ago)
    return ages


def latent_state(seed: ScenarioSeed, n: int) -> dict:
    """Hidden per-record state: value, wrong flag, rhythm depth, pending weight, creation age."""
    params = hidden_params(seed)
    rng = seed.rng(1)
    value = intrinsic_values(rng, seed.importance_shape, n)
    history = float(np.clip(seed.age_spread_days, MIN_HISTORY_DAYS, MAX_HISTORY_DAYS))
    created = rng.uniform(0.15, 1.0, n) * history
    rng3 = seed.rng(3)
    wrong = rng3.random(n) < params["wrong_share"]
    rhythmic = rng3.random(n) < params["rhythmic_share"]
    depth = np.where(rhythmic, rng3.uniform(0.5, 1.0, n), rng3.uniform(0.0, 0.15, n))
    pending = rng3.uniform(0.0, 1.0, n)
    return {
        **params,
        "value": value,
        "wrong": wrong,
        "depth": depth,
        "pending": pending,
        "created": created,
        "history_days": history,
    }


class CyclicFamily(PhasedFamily):
    name = "cyclic"
    description = "outcomes -> CyclicDecayField amplitudes and pressure (cycle factors, discharge)"
    knobs = (CONTRADICTION_RATE, WRONG_SHARE_MAX, URGENCY_WEIGHT_MAX, SESSIONS_PER_WEEK)

    def build_world(self, seed: ScenarioSeed) -> World:
        n = seed.record_count
        keys = record_keys(seed.rng(0), n)
        latent = latent_state(seed, n)
        importance = noisy(seed.rng(2), latent["value"], seed.noise_ratio)
        sessions = simulate_sessions(seed, importance, latent["created"], latent)
        ages = last_acted(latent["created"], sessions)
        now_value = rhythmic_value(latent["value"], latent["depth"], latent["query_angle"])
        urgency = 1.0 - np.exp(-ages / URGENCY_DAYS)
        genuine = ~latent["wrong"]
        utility = genuine * (
            now_value * (1.0 + ages) ** -latent["rho"]
            + latent["kappa"] * latent["pending"] * urgency
        )
        outcomes: list[list[str]] = [[] for _ in range(n)]
        for _, events in sessions:
            for i, outcome in events:
                outcomes[i].append(outcome)
        records = build_records(
            seed,
            utility,
            keys=keys,
            importance=importance,
            ages=ages,
            outcomes=[tuple(o) for o in outcomes],
        )
        extras = {
            "sessions": sessions,
            "created_days": latent["created"].tolist(),
            "query_angle": latent["query_angle"],
            "wrong": latent["wrong"].tolist(),
        }
        return World(seed=seed, records=records, extras=extras)

    setup_reads = frozenset({"initial_confidence", "INITIAL_CYCLE_AMPLITUDE"})

    def build_model(self, world: World, ctx: RunContext) -> type:
        return build_model(ctx, ctx.now, float(world.extras["query_angle"]))

    def setup(self, world: World, ctx: RunContext, model: type) -> Prepared:
        return Prepared(instances=save_all(model, world))

    def finish(self, world: World, ctx: RunContext, model: type, prepared: Prepared) -> Ranking:
        instances = prepared.instances
        clocks = replay_sessions(model, instances, world)
        redate_clocks(model, instances, clocks, now=ctx.now)
        return composite_ranking(
            model.query, model, record_count=len(world.records), indexes={"relevance": 1.0}
        )


def build_model(ctx: RunContext, now: float, query_angle: float) -> type:
    """The application's model: a weekly cycle whose peak puts ``now`` at ``query_angle``."""
    from popoto import FloatField, UniqueKeyField
    from popoto.fields.confidence_field import ConfidenceField
    from popoto.fields.constants import TemporalPeriod
    from popoto.fields.cyclic_decay_field import CyclicDecayField

    period = TemporalPeriod.WEEKLY
    phase = now - query_angle * period / (2.0 * math.pi)
    return ctx.model(
        "Cyclic",
        {
            "key": UniqueKeyField(),
            "importance": FloatField(default=0.0),
            "relevance": CyclicDecayField(
                base_score_field="importance",
                cycles=[(period, DECLARED_AMPLITUDE, phase)],
                pressure_rate=PRESSURE_RATE,
            ),
            "confidence": ConfidenceField(),
        },
    )


def clock_keys(model: type, instance) -> tuple[str, str]:
    """The decay-clock sorted set and the pressure hash of the model's CyclicDecayField."""
    field = model._meta.fields["relevance"]
    zset = field.get_partitioned_sortedset_db_key(instance, "relevance").redis_key
    return zset, field.get_pressure_hash_key(instance, "relevance")


def replay_sessions(model: type, instances: list, world: World) -> dict[str, np.ndarray]:
    """Feed each past session to ``on_context_used``, oldest first; date the clocks it moved.

    Returns, per record, the simulated days-ago of its decay clock ("touch") and of its pressure
    clock ("resolved"), starting from its creation. The clocks of a session's records are read
    at the end of that session's own pipeline, so detecting a move costs no extra round trip.
    """
    from popoto.fields.observation import ObservationProtocol
    from popoto.redis_db import get_REDIS_DB

    client = get_REDIS_DB()
    created = np.asarray(world.extras["created_days"], dtype=float)
    clocks = {"touch": created.copy(), "resolved": created.copy()}
    members = [inst.db_key.redis_key for inst in instances]
    zset, pressure = clock_keys(model, instances[0])
    seen = read_clocks(client.pipeline(transaction=False), zset, pressure, members, execute=True)
    for days_ago, events in world.extras["sessions"]:
        shown = [i for i, _ in events]
        pipe = client.pipeline(transaction=False)
        ObservationProtocol.on_context_used(
            [instances[i] for i in shown],
            {members[i]: outcome for i, outcome in events},
            pipeline=pipe,
        )
        read_clocks(pipe, zset, pressure, [members[i] for i in shown])
        *_, touched, resolved = pipe.execute()
        for name, values in (("touch", touched), ("resolved", resolved)):
            for i, value in zip(shown, values, strict=True):
                if value != seen[name][i]:
                    clocks[name][i] = days_ago
                    seen[name][i] = value
    return clocks


def read_clocks(pipe, zset: str, pressure: str, members: list[str], *, execute: bool = False):
    """Queue a read of both clocks of ``members`` (raw values, compared for change only)."""
    pipe.zmscore(zset, members)
    pipe.hmget(pressure, members)
    if not execute:
        return None
    touched, resolved = pipe.execute()
    return {"touch": touched, "resolved": resolved}


def redate_clocks(model: type, instances: list, clocks: dict, *, now: float) -> None:
    """Write the simulated dates: decay clock into the sorted set, pressure clock into its hash."""
    import msgpack
    from popoto.redis_db import get_REDIS_DB

    zset, pressure = clock_keys(model, instances[0])
    members = [inst.db_key.redis_key for inst in instances]
    touched = [float(now - d * SECONDS_PER_DAY) for d in clocks["touch"]]
    resolved = [float(now - d * SECONDS_PER_DAY) for d in clocks["resolved"]]
    pipe = get_REDIS_DB().pipeline(transaction=False)
    pipe.zadd(zset, dict(zip(members, touched, strict=True)))
    pipe.hset(
        pressure,
        mapping={
            m: msgpack.packb({"rate": PRESSURE_RATE, "last_resolved": t})
            for m, t in zip(members, resolved, strict=True)
        },
    )
    pipe.execute()
