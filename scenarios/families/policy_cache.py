"""PolicyCache family: an agent's event log crystallized into policies, learned, then scheduled.

Latent world: situations, each with 1-4 candidate actions (one record per situation-action
pair). Every pair has a hidden success rate ``p``; some actions lead on to a successor situation,
and the seed hides how much that downstream value matters (``horizon``). The true value of a
policy is ``Q* = p + horizon * max Q*(successor)``. Some situations recur on one weekday
(latent rhythm). At the query moment a policy is useful in proportion to ``Q*`` times how likely
its situation is to come up *now*; that product is the graded relevance.

Bad policies (what the Wilson bound and the event count are for): a hidden share of actions is
the wrong tool for its situation and mostly fails (``p < 0.5``). A cached policy is executed
instead of deliberating, and a failure costs what a success gains, so surfacing such a policy
is worse than surfacing nothing: it grades ``HARM_GRADE`` and the family is scored with
``signed_ndcg`` (plain nDCG would count a bad policy like an empty slot). Win-stay/lose-shift
sessions still give bad actions lucky runs; a permissive threshold crystallizes them, and since
the bloom filter locks a situation to its first policy, a lucky bad action can also lock the
good one out. Neither cost depends on the constants: ``p`` and the log are drawn from the seed.

``MIN_EVENTS_FOR_CRYSTALLIZATION`` only binds below the Wilson bound's own minimum: at the
default ``WILSON_CI_THRESHOLD`` (0.6) a group needs 6 straight successes in one batch
(``wilson_ci_lower(6, 6) = 0.61``), so any count up to 6 behaves the same there; its guard shows
under a permissive Wilson threshold (``tests/test_family_guards.py`` applies both).

What popoto sees, through the recipe's real code paths (``popoto.recipes.policy_cache``):

1. The event log (win-stay/lose-shift sessions, outcomes flipped by recording noise) is fed to
   ``crystallization_handler`` in ``StreamConsumer``-sized batches (50, its default). A group
   crystallizes when it has ``MIN_EVENTS_FOR_CRYSTALLIZATION`` events *in one batch* and a Wilson
   lower bound above ``WILSON_CI_THRESHOLD``; the global ``PolicyEntry`` bloom filter is keyed by
   state fingerprint, so the first qualifying action locks its situation.
2. The agent then uses its policies for three rounds; each use is a TD(0) update
   (``TDValueField.td_update`` with ``alpha=Defaults.TD_ALPHA, gamma=Defaults.TD_GAMMA`` passed
   explicitly, ``max_future_q`` = the successor's learned Q at the start of the round).
3. ``temporal_discovery_handler`` runs on each crystallized situation's timestamps; a discovered
   weekly cycle ``(period, INITIAL_CYCLE_AMPLITUDE, phase)`` is installed on the policy's record
   of a scheduling model (``CyclicDecayField`` with ``base_score_field="q_value"``), as the
   recipe tells applications to do, and the policies are ranked by ``rank_decayed`` at the
   world's query moment (an explicit ``now``, so results do not depend on the wall clock).

``CHI_SQUARED_P_THRESHOLD`` is read by nothing in popoto 1.10.1 (see the catalog).
"""

from __future__ import annotations

import numpy as np

from scenarios.families.base import Family, Ranking, RunContext
from scenarios.families.policy_cache_log import PolicyLog, Situation
from scenarios.families.policy_cache_run import (
    BLOOM_KEY,
    MAX_USES,
    TD_ROUNDS,
    crystallize,
    delete_policies,
    learn,
    rank_schedule,
    situation_fingerprints,
)
from scenarios.knobs import Knob, scaled_range
from scenarios.seeds import ScenarioSeed
from scenarios.world import SECONDS_PER_DAY, World, build_records, intrinsic_values, record_keys

WEEK = 7 * SECONDS_PER_DAY
WEEKS_OF_LOG = 4
# Monday 2025-01-06 00:00 UTC. The timeline is synthetic and fixed so that weekday buckets and
# the cosine of the discovered cycle at the query moment never depend on the wall clock.
TIMELINE_START = 1_736_121_600.0
# A cached policy is executed instead of deliberating; a success gains what a failure costs
# (it must be noticed and undone), so executing an action with p < 0.5 is worse than having no
# policy at all: it is harmful to surface.
BAD_SUCCESS_RATE = 0.5
BAD_SHARE_RANGE = (0.1, 0.5)  # hidden per-seed share of wrong-tool actions
BAD_RATE_RANGE = (0.05, 0.45)
SESSION_LENGTH_RANGE = (5.0, 30.0)  # a seed's mean session length, log-uniform

BAD_POLICY_SHARE = Knob(
    "bad_policy_share", 0.3, 0.05, 0.5,
    "mean hidden share of wrong-tool actions (a seed draws its share from [1/3, 5/3] of this, "
    "U[0.1, 0.5] at 0.3): how many policies are harmful to cache",
)
BAD_SUCCESS_RATE_MAX = Knob(
    "bad_success_rate_max", BAD_RATE_RANGE[1], 0.2, 0.5,
    "upper end of a wrong-tool action's true success rate, U[0.05, this]: win-stay keeps a bad "
    "action after each success, so its lucky runs last 1 / (1 - p) uses on average",
)
SESSION_LENGTH_MAX = Knob(
    "session_length_max", SESSION_LENGTH_RANGE[1], 10.0, 60.0,
    "upper end of a seed's mean session length in events (log-uniform from 5): room for a "
    "lucky run inside one consumer batch of 50",
)


def split_situations(rng: np.random.Generator, n: int) -> list[list[int]]:
    """Group record indices into situations of 1-4 actions (random order, random sizes)."""
    order = rng.permutation(n)
    groups: list[list[int]] = []
    start = 0
    while start < n:
        size = int(min(rng.integers(2, 5), n - start))
        groups.append([int(i) for i in order[start : start + size]])
        start += size
    return groups


def weekly_demand(situation: Situation, weekday: int) -> float:
    """How likely the situation is to come up on ``weekday``, relative to a uniform week."""
    if situation.peak_day < 0:
        return 1.0
    off_peak = (1.0 - situation.peak_share) / 7.0
    share = situation.peak_share + off_peak if weekday == situation.peak_day else off_peak
    return 7.0 * share


def true_values(p: np.ndarray, log_sits: list[list[int]], succ: np.ndarray, horizon: float):
    """``Q* = p + horizon * max Q*(successor)`` by value iteration (horizon < 1 converges)."""
    q = p.copy()
    for _ in range(200):
        best = np.array([q[recs].max() for recs in log_sits])
        future = np.where(succ >= 0, best[np.maximum(succ, 0)], 0.0)
        new = p + horizon * future
        if np.max(np.abs(new - q)) < 1e-9:
            return new
        q = new
    return q


def draw_situations(seed: ScenarioSeed, groups: list[list[int]]) -> list[Situation]:
    """Rhythm and frequency of each situation (latent, from the seed)."""
    rng = seed.rng(4)
    rhythmic_share = rng.uniform(0.2, 0.7)
    out = []
    for recs in groups:
        rhythmic = rng.random() < rhythmic_share
        out.append(
            Situation(
                records=tuple(recs),
                peak_day=int(rng.integers(0, 7)) if rhythmic else -1,
                peak_share=float(rng.uniform(0.5, 0.9)),
                rate=float(rng.lognormal(0.0, 0.5)),
            )
        )
    return out


def session_times(rng: np.random.Generator, sit: Situation, count: int) -> np.ndarray:
    """Session start times over the log's weeks, following the situation's weekly rhythm."""
    week = rng.integers(0, WEEKS_OF_LOG, count)
    day = rng.integers(0, 7, count)
    if sit.peak_day >= 0:
        day = np.where(rng.random(count) < sit.peak_share, sit.peak_day, day)
    hour = rng.uniform(7.0, 20.0, count)
    return TIMELINE_START + week * WEEK + day * SECONDS_PER_DAY + hour * 3600.0


def session_events(rng, sit: Situation, p: np.ndarray, length: int, start: float, flip: float):
    """One session, win-stay/lose-shift: keep an action after a success, often switch after a
    failure. Recorded outcomes are flipped with probability ``flip`` (logging noise)."""
    recs = list(sit.records)
    action = recs[int(rng.integers(len(recs)))]
    events = []
    for k in range(length):
        success = bool(rng.random() < p[action])
        recorded = success != bool(rng.random() < flip)
        events.append((action, recorded, start + 60.0 * k))
        if not success and len(recs) > 1 and rng.random() < 0.7:
            action = int(rng.choice([r for r in recs if r != action]))
    return events


def event_log(seed: ScenarioSeed, sits: list[Situation], p: np.ndarray) -> list:
    """All sessions of all situations, in time order; group sizes vary with the seed."""
    rng = seed.rng(6)
    low, high = SESSION_LENGTH_RANGE[0], SESSION_LENGTH_MAX.read(seed)
    mean_length = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    sessions_per = 3.0 + 9.0 * seed.outcome_frequency
    flip = 0.3 * seed.noise_ratio
    events = []
    for sit in sits:
        count = max(1, int(rng.poisson(sessions_per * sit.rate)))
        for start in session_times(rng, sit, count):
            length = 1 + int(rng.poisson(mean_length))
            events.extend(session_events(rng, sit, p, length, float(start), flip))
    events.sort(key=lambda e: e[2])
    return events


def experience(seed: ScenarioSeed, sits: list[Situation], p: np.ndarray):
    """Uses per situation and TD round (a round is about a week of work), and each record's
    reward sequence: the outcomes its action would have if the agent used it (latent draws)."""
    rng = seed.rng(7)
    rate = 0.5 + 2.5 * seed.outcome_frequency
    uses = tuple(tuple(int(u) for u in rng.poisson(rate * s.rate, TD_ROUNDS)) for s in sits)
    rewards = tuple(tuple(int(r) for r in rng.random(MAX_USES) < pi) for pi in p)
    return uses, rewards


def query_moment(seed: ScenarioSeed) -> tuple[int, float]:
    """The weekday and epoch of the query: working hours of the week after the log."""
    rng = seed.rng(5)
    day = int(rng.integers(0, 7))
    hour = float(rng.uniform(8.0, 18.0))
    return day, TIMELINE_START + WEEKS_OF_LOG * WEEK + day * SECONDS_PER_DAY + hour * 3600.0


def observed_views(n: int, events: list, now: float) -> tuple[np.ndarray, np.ndarray]:
    """Per record: smoothed observed success rate and days since its last logged event."""
    wins, totals, last = np.zeros(n), np.zeros(n), np.full(n, TIMELINE_START)
    for rec, success, ts in events:
        totals[rec] += 1
        wins[rec] += success
        last[rec] = max(last[rec], ts)
    return (wins + 1.0) / (totals + 2.0), np.maximum((now - last) / SECONDS_PER_DAY, 0.01)


def success_rates(seed: ScenarioSeed, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each action's true success rate, and which actions are *bad* (``p < BAD_SUCCESS_RATE``).

    Most of an agent's repertoire works (``p`` in (0.5, 1], the seed's value shape), but a hidden
    share of actions is the wrong tool for its situation and mostly fails (``p`` in
    ``BAD_RATE_RANGE``). Those are what the Wilson bound and the event count exist to keep out:
    win-stay/lose-shift sessions still give them lucky runs of successes.
    """
    rng = seed.rng(8)
    shares = scaled_range(BAD_SHARE_RANGE, BAD_POLICY_SHARE.read(seed), BAD_POLICY_SHARE.default)
    bad = rng.random(len(value)) < rng.uniform(*shares)
    rates = (BAD_RATE_RANGE[0], BAD_SUCCESS_RATE_MAX.read(seed))
    p = np.where(bad, rng.uniform(*rates, len(value)), 0.5 + 0.5 * value)
    return p, p < BAD_SUCCESS_RATE


class PolicyCacheFamily(Family):
    name = "policy_cache"
    description = "event log -> crystallization -> TD learning -> discovered weekly cycles"
    metric = "signed_ndcg"
    knobs = (BAD_POLICY_SHARE, BAD_SUCCESS_RATE_MAX, SESSION_LENGTH_MAX)

    def build_world(self, seed: ScenarioSeed) -> World:
        n = seed.record_count
        keys = record_keys(seed.rng(0), n)
        rng = seed.rng(1)
        groups = split_situations(rng, n)
        p, bad = success_rates(seed, intrinsic_values(rng, seed.importance_shape, n))
        situation_of = np.zeros(n, dtype=int)
        for s, recs in enumerate(groups):
            situation_of[recs] = s
        sits = draw_situations(seed, groups)
        succ = successors(seed, situation_of, sits)
        horizon = float(seed.rng(3).uniform(0.3, 0.95))
        now_day, now = query_moment(seed)
        demand = np.array([weekly_demand(sits[s], now_day) for s in situation_of])
        utility = true_values(p, groups, succ, horizon) * demand
        events = event_log(seed, sits, p)
        uses, rewards = experience(seed, sits, p)
        importance, ages = observed_views(n, events, now)
        records = build_records(
            seed, utility, keys=keys, importance=importance, ages=ages, harmful=bad
        )
        log = PolicyLog(
            situation_of=tuple(int(s) for s in situation_of),
            situations=tuple(sits),
            successor=tuple(int(s) for s in succ),
            events=tuple(events),
            uses=uses,
            rewards=rewards,
            now=now,
        )
        return World(seed=seed, records=records, extras={"policy": log})

    def run(self, world: World, ctx: RunContext) -> Ranking:
        from popoto import FloatField, UniqueKeyField
        from popoto.fields.cyclic_decay_field import CyclicDecayField
        from popoto.redis_db import get_REDIS_DB

        log: PolicyLog = world.extras["policy"]
        schedule = ctx.model(
            "Policy",
            {
                "key": UniqueKeyField(),
                "q_value": FloatField(default=0.0),
                "schedule": CyclicDecayField(base_score_field="q_value"),
            },
        )
        # The agent id carries the model's unique name, so every per-agent PolicyEntry key
        # (hashes, agent index, decay zset, mutation stream) falls under the runner's cleanup.
        agent = schedule.__name__
        client = get_REDIS_DB()
        if not client.exists(BLOOM_KEY):
            ctx.extra_cleanup_patterns.append(BLOOM_KEY)
        try:
            fingerprints = situation_fingerprints(log, agent)
            crystallize(world, log, agent, fingerprints)
            learn(log, agent, world)
            return rank_schedule(schedule, world, log, agent, client)
        finally:
            delete_policies(agent)


def successors(seed: ScenarioSeed, situation_of: np.ndarray, sits: list[Situation]) -> np.ndarray:
    """Per record: the situation its action leads to, or -1 when it ends the task.

    Follow-ups land on frequent situations more often (that is partly why they are frequent).
    """
    rng = seed.rng(2)
    n, count = len(situation_of), len(sits)
    if count < 2:
        return np.full(n, -1)
    follows = rng.random(n) < 0.2 + seed.link_density  # most tasks have a follow-up step
    rates = np.array([s.rate for s in sits])
    target = np.empty(n, dtype=int)
    for i, own in enumerate(situation_of):
        weights = rates.copy()
        weights[own] = 0.0
        target[i] = int(rng.choice(count, p=weights / weights.sum()))
    return np.where(follows, target, -1)
