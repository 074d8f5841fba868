"""The policy_cache family's run phase: the recipe's real code paths on a built world.

Split from ``policy_cache.py`` (which builds the latent world) to keep each module small. Every
function here drives popoto (``popoto.recipes.policy_cache``) the way an application would; see
that module's docstring for the sequence.
"""

from __future__ import annotations

import asyncio
import json
import math

from scenarios.families.base import Ranking
from scenarios.families.policy_cache_log import PolicyLog
from scenarios.world import World

CONSUMER_BATCH = 50  # StreamConsumer's default batch_size: the handler never sees more at once
TD_ROUNDS = 3
BLOOM_KEY = "$EF:PolicyEntry:bloom"
MAX_USES = 40


def situation_fingerprints(log: PolicyLog, agent: str) -> list[str]:
    """``compute_fingerprint`` of each situation's state features (agent-scoped)."""
    from popoto.recipes.policy_cache import compute_fingerprint

    return [
        compute_fingerprint({"task": f"situation-{s}", "agent": agent})
        for s in range(len(log.situations))
    ]


def stream_entries(world: World, log: PolicyLog, agent: str, fingerprints: list[str]) -> list:
    """The event log as ``StreamConsumer`` hands it to handlers: ``(entry_id, {str: str})``."""
    entries = []
    for seq, (rec, success, ts) in enumerate(log.events):
        situation = log.situation_of[rec]
        fields = {
            "state_fingerprint": fingerprints[situation],
            "action_type": world.records[rec].key,
            "outcome": "success" if success else "failure",
            "agent_id": agent,
            "state_features": json.dumps({"task": f"situation-{situation}"}),
            "action_spec": "{}",
            "ts": repr(ts),
        }
        entries.append((f"{int(ts * 1000)}-{seq}", fields))
    return entries


def crystallize(world: World, log: PolicyLog, agent: str, fingerprints: list[str]) -> None:
    """Run ``crystallization_handler`` over the log in consumer-sized batches, in order."""
    from popoto.recipes.policy_cache import crystallization_handler

    entries = stream_entries(world, log, agent, fingerprints)
    batches = [entries[i : i + CONSUMER_BATCH] for i in range(0, len(entries), CONSUMER_BATCH)]

    async def consume() -> None:
        for batch in batches:
            await crystallization_handler(batch)

    asyncio.run(consume())


def load_policies(agent: str) -> dict[str, object]:
    """This agent's crystallized ``PolicyEntry`` instances by action type (= record key)."""
    from popoto.recipes.policy_cache import PolicyEntry

    return {p.action_type: p for p in PolicyEntry.query.filter(agent_id=agent).all()}


def learn(log: PolicyLog, agent: str, world: World) -> None:
    """Three rounds of use: TD(0) updates with the successor's Q from the round's start."""
    from popoto.fields.constants import Defaults
    from popoto.fields.td_value_field import TDValueField
    from popoto.redis_db import get_REDIS_DB

    index = {r.key: i for i, r in enumerate(world.records)}
    used = [0] * len(world.records)
    for round_no in range(TD_ROUNDS):
        policies = load_policies(agent)
        if not policies:
            return
        best = situation_q(policies, index, log)
        pipe = get_REDIS_DB().pipeline(transaction=False)
        for key, policy in policies.items():
            rec = index[key]
            nxt = log.successor[rec]
            future = best.get(nxt, 0.0)
            for _ in range(log.uses[log.situation_of[rec]][round_no]):
                reward = log.rewards[rec][used[rec] % MAX_USES]
                used[rec] += 1
                TDValueField.td_update(
                    policy,
                    "q_value",
                    reward=float(reward),
                    max_future_q=future,
                    alpha=Defaults.TD_ALPHA,
                    gamma=Defaults.TD_GAMMA,
                    pipeline=pipe,
                )
        pipe.execute()


def situation_q(policies: dict, index: dict[str, int], log: PolicyLog) -> dict[int, float]:
    """Best learned Q per situation (what ``max_future_q`` stands for)."""
    best: dict[int, float] = {}
    for key, policy in policies.items():
        situation = log.situation_of[index[key]]
        best[situation] = max(best.get(situation, -math.inf), float(policy.q_value))
    return best


def discovered_cycles(log: PolicyLog, situations: set[int]) -> dict[int, list]:
    """``temporal_discovery_handler`` over each situation's logged timestamps."""
    from popoto.recipes.policy_cache import temporal_discovery_handler

    entries: dict[int, list] = {s: [] for s in situations}
    for seq, (rec, _, ts) in enumerate(log.events):
        situation = log.situation_of[rec]
        if situation in entries:
            entries[situation].append((str(seq), {"ts": repr(ts)}))

    async def discover() -> dict[int, list]:
        return {s: await temporal_discovery_handler(e) for s, e in entries.items()}

    return asyncio.run(discover())


def rank_schedule(schedule: type, world: World, log: PolicyLog, agent: str, client) -> Ranking:
    """Mirror learned policies into the scheduling model, install cycles, rank at ``now``."""
    import msgpack

    policies = load_policies(agent)
    if not policies:
        return Ranking(top=[], scores={})
    index = {r.key: i for i, r in enumerate(world.records)}
    pipe = client.pipeline(transaction=False)
    instances = {}
    for key, policy in policies.items():
        inst = schedule(key=key, q_value=float(policy.q_value))
        inst.save(pipeline=pipe)
        instances[key] = inst
    pipe.execute()
    field = schedule._meta.fields["schedule"]
    first = next(iter(instances.values()))
    zkey = field.get_partitioned_sortedset_db_key(first, "schedule").redis_key
    pipe = client.pipeline(transaction=False)
    pipe.zadd(zkey, {inst.db_key.redis_key: log.now for inst in instances.values()})
    found = discovered_cycles(log, {log.situation_of[index[key]] for key in instances})
    for key, inst in instances.items():
        cycles = found[log.situation_of[index[key]]]
        if cycles:
            packed = msgpack.packb([list(c) for c in cycles])
            pipe.hset(field.get_cycles_hash_key(inst, "schedule"), inst.db_key.redis_key, packed)
    pipe.execute()
    flat = field.rank_decayed(zkey, now=log.now)
    return flat_ranking(flat, prefix=f"{schedule.__name__}:")


def flat_ranking(flat: list, *, prefix: str, k: int = 5) -> Ranking:
    """``[member, score, ...]`` best first (ties already broken by member key in Lua)."""
    order, scores = [], {}
    for member, score in zip(flat[::2], flat[1::2], strict=True):
        name = member.decode() if isinstance(member, bytes) else str(member)
        key = name[len(prefix) :] if name.startswith(prefix) else name
        order.append(key)
        scores[key] = float(score)
    return Ranking(top=order[:k], scores=scores)


def delete_policies(agent: str) -> None:
    """Delete this run's ``PolicyEntry`` records through popoto, which also removes them from
    the global class set, key-field indexes and confidence hash without touching other members.
    """
    from popoto.redis_db import get_REDIS_DB

    policies = load_policies(agent)
    if not policies:
        return
    pipe = get_REDIS_DB().pipeline(transaction=False)
    for policy in policies.values():
        policy.delete(pipeline=pipe)
    pipe.execute()
