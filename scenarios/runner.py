"""Run one scenario on popoto and score it; always clean up, always return a score.

A scenario that raises scores nDCG 0 (and rho -1) and keeps its error: a failed scenario is
never dropped from a mean. A lost Redis connection is the exception: it is an outage, not a
property of the constant, so it propagates and fails the whole trial instead.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from scenarios.families import FAMILIES, RunContext, get_family
from scenarios.families.base import PhasedFamily
from scenarios.metrics import METRICS, NO_SIGNAL_RHO, ndcg_score, spearman_score
from scenarios.restore import namespace_keys, restore_enabled, run_phased
from scenarios.seeds import DegenerateSeedError, ScenarioSeed, default_bank
from scenarios.world import World

DEFAULT_K = 5


def _outage_errors() -> tuple[type[BaseException], ...]:
    import redis

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


OUTAGE_ERRORS = _outage_errors()


@dataclass(frozen=True)
class ScenarioResult:
    """The score of one scenario run; ``error`` is set (and ndcg, score are 0) when it failed.

    ``ndcg`` is always plain nDCG@k; ``score`` is the family's own metric (``metric``, see
    ``Family.metric``), the number to optimise. They are equal for ``metric == "ndcg"``.
    """

    label: str
    ndcg: float
    spearman: float
    top: tuple[str, ...]
    seconds: float
    error: str | None = None
    metric: str = "ndcg"
    score: float | None = None

    def __post_init__(self) -> None:
        if self.score is None:
            object.__setattr__(self, "score", self.ndcg)

    def to_dict(self) -> dict:
        return asdict(self)


@functools.lru_cache(maxsize=4096)
def build_world(seed: ScenarioSeed) -> World:
    """The seed's world; pure, so it is cached per process."""
    return get_family(seed.family).build_world(seed)


@functools.cache
def is_usable(seed: ScenarioSeed) -> bool:
    """False for a seed whose world generation rejects it as degenerate.

    Cached without bound (a bool per seed): a ratchet walks banks of thousands of seeds many
    times, more than ``build_world``'s cache holds, and rebuilding each world only to learn it
    is usable again cost the parent process (idle workers) about a tenth of a ratchet.
    """
    try:
        build_world(seed)
    except DegenerateSeedError:
        return False
    return True


@functools.lru_cache(maxsize=32)  # a few hundred seeds each; rebuilding one is cheap
def _bank(family: str, size: int, base_seed: int,
          knobs: tuple[tuple[str, float], ...] = ()) -> tuple[ScenarioSeed, ...]:
    return tuple(default_bank(family, size=size, base_seed=base_seed, accept=is_usable,
                              knobs=dict(knobs)))


def family_bank(family: str, *, size: int, base_seed: int,
                knobs: tuple[tuple[str, float], ...] = ()) -> list[ScenarioSeed]:
    """The family's bank with degenerate seeds rejected at generation (pure, so cached);
    ``knobs`` (sorted pairs) draws it in that world variant (a deployment profile's)."""
    return list(_bank(family, size, base_seed, tuple(knobs)))


def clear_world_caches() -> None:
    """Forget every cached world, usability verdict and bank (a test that swaps a family)."""
    build_world.cache_clear()
    is_usable.cache_clear()
    _bank.cache_clear()


def evaluate_scenario(
    seed: ScenarioSeed,
    *,
    arguments: Mapping[str, float] | None = None,
    k: int = DEFAULT_K,
    restore: bool | None = None,
) -> ScenarioResult:
    """Run ``seed`` on popoto under whatever constants are applied right now, and score it.

    ``restore`` (default: on unless ``TUNER_RESTORE=off``) restores a phased family's setup
    from a template instead of re-seeding it (``scenarios/restore.py``); the result is the same.
    """
    started = time.perf_counter()
    ctx = RunContext(family=seed.family, arguments=dict(arguments or {}))
    metric = family_metric(seed.family)
    restore = restore_enabled() if restore is None else restore
    try:
        world = build_world(seed)
        family = get_family(seed.family)
        if isinstance(family, PhasedFamily):
            ranking = run_phased(family, world, ctx, ctx.arguments, restore=restore)
        else:
            ranking = family.run(world, ctx)
        relevance = world.relevance
        return ScenarioResult(
            label=seed.label,
            ndcg=ndcg_score(ranking.top, relevance, k=k),
            spearman=spearman_score(ranking.scores, relevance),
            top=tuple(ranking.top),
            seconds=time.perf_counter() - started,
            metric=metric,
            score=METRICS[metric](ranking.top, relevance, k=k),
        )
    except OUTAGE_ERRORS:
        raise  # the server is gone: that says nothing about the constant, so never score it
    except Exception as exc:  # noqa: BLE001 - any failure is scored, never dropped
        return ScenarioResult(
            label=seed.label,
            ndcg=0.0,
            spearman=NO_SIGNAL_RHO,
            top=(),
            seconds=time.perf_counter() - started,
            error=f"{type(exc).__name__}: {exc}",
            metric=metric,
            score=0.0,
        )
    finally:
        delete_namespace(ctx.class_names, ctx.extra_cleanup_patterns)


def family_metric(family: str) -> str:
    """The metric ``family`` is scored with (``"ndcg"`` for an unknown one, which then fails)."""
    cls = FAMILIES.get(family)
    return cls.metric if cls is not None else "ndcg"


def delete_namespace(class_names: Iterable[str], extra_patterns: Iterable[str] = ()) -> int:
    """Unlink every key of the given model classes in one pipeline; returns how many."""
    from popoto.redis_db import get_REDIS_DB

    client = get_REDIS_DB()
    keys = namespace_keys(client, class_names, extra_patterns)
    if keys:
        pipe = client.pipeline(transaction=False)
        for start in range(0, len(keys), 500):
            pipe.unlink(*keys[start : start + 500])
        pipe.execute()
    return len(keys)
