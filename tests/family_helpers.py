"""Helpers shared by the scenario-family tests (tests/test_family_*.py).

Determinism and zero leaked keys of a plain run are checked once for every family by
``tests/test_runner.py``; what is here serves the family-specific checks: reach at the catalog's
low and high, worlds that ignore the constants, and runs inspected before their cleanup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import msgpack

from scenarios.families import Ranking, RunContext, get_family
from scenarios.runner import ScenarioResult, build_world, delete_namespace, evaluate_scenario
from scenarios.seeds import ScenarioSeed
from scenarios.world import World
from tuner.catalog import Constant
from tuner.evaluation.engine import BankSpec
from tuner.evaluation.overrides import applied_constants


def train_seeds(family: str, count: int) -> list[ScenarioSeed]:
    """The first ``count`` train seeds of the family's default bank (degenerate ones rejected)."""
    return BankSpec().pools(family)[0][:count]


def evaluate_at(constant: Constant, value: float, seeds: Sequence[ScenarioSeed]):
    """Each seed's result with ``constant`` applied at ``value``, as a study would score it."""
    with applied_constants({constant: value}) as arguments:
        return [evaluate_scenario(seed, arguments=arguments) for seed in seeds]


def low_and_high(
    constant: Constant, seeds: Sequence[ScenarioSeed]
) -> tuple[list[ScenarioResult], list[ScenarioResult]]:
    """Results at the catalog's low and at its high; every run must have succeeded."""
    low = evaluate_at(constant, constant.low, seeds)
    high = evaluate_at(constant, constant.high, seeds)
    assert all(r.error is None for r in low + high), [r.error for r in low + high]
    return low, high


def differs_on(*fields: str) -> Callable[[ScenarioResult, ScenarioResult], bool]:
    """Whether two results differ (exactly) in any of ``fields`` (``top``, ``ndcg``...)."""
    return lambda a, b: any(getattr(a, f) != getattr(b, f) for f in fields)


def seeds_it_reaches(
    constant: Constant,
    seeds: Sequence[ScenarioSeed],
    differ: Callable[[ScenarioResult, ScenarioResult], bool],
) -> list[str]:
    """Labels of the seeds whose results at the catalog's low and high ``differ``."""
    low, high = low_and_high(constant, seeds)
    return [seed.label for seed, a, b in zip(seeds, low, high, strict=True) if differ(a, b)]


def evaluate_all(seeds: Sequence[ScenarioSeed]) -> None:
    """Run each seed at popoto's defaults; every run must succeed."""
    for seed in seeds:
        result = evaluate_scenario(seed)
        assert result.error is None, result.error


def worlds_at_low_and_high(family: str, constant: Constant, seed: ScenarioSeed) -> list[World]:
    """The seed's world built afresh (never from the cache) at the constant's low and high."""
    worlds = []
    for value in (constant.low, constant.high):
        with applied_constants({constant: value}):
            worlds.append(get_family(family).build_world(seed))
    return worlds


def assert_world_ignores(
    family: str, constant: Constant, seeds: Sequence[ScenarioSeed], *parts: str
) -> None:
    """Each seed's world, built afresh at the constant's low and high, is the same in ``parts``
    (``records``, ``relevance``, ``extras``)."""
    for seed in seeds:
        low, high = worlds_at_low_and_high(family, constant, seed)
        for part in parts:
            assert getattr(low, part) == getattr(high, part), (seed.label, part)


def assert_raw_rankings_repeat(family: str, seeds: Sequence[ScenarioSeed]) -> None:
    """Stricter than the runner's same-seed check: every score of the raw Ranking repeats."""
    for seed in seeds:
        assert run_ranking(family, seed) == run_ranking(family, seed)


def assert_key_set_unchanged(seeds: Sequence[ScenarioSeed]) -> None:
    """Stricter than the runner's key count: evaluating ``seeds`` leaves the very same key set."""
    before = all_keys()
    evaluate_all(seeds)
    assert all_keys() == before


def redis():
    from popoto.redis_db import get_REDIS_DB

    return get_REDIS_DB()


def all_keys() -> set[bytes]:
    return set(redis().scan_iter())


@dataclass(frozen=True)
class FamilyRun:
    """One run of a family whose namespace still exists (inside ``family_run``)."""

    world: World
    ranking: Ranking
    ctx: RunContext

    @property
    def class_name(self) -> str:
        """The run's one model class (the checks that use it rely on there being one)."""
        (name,) = self.ctx.class_names
        return name


@contextmanager
def family_run(
    family: str, seed: ScenarioSeed, values: Mapping[Constant, float] | None = None
) -> Iterator[FamilyRun]:
    """Run ``family`` on ``seed`` under ``values`` as the runner does; the block sees the run's
    keys, which are deleted (with the runner's cleanup) when it ends."""
    world = build_world(seed)
    with applied_constants(values or {}) as arguments:
        ctx = RunContext(family=family, arguments=arguments)
        try:
            ranking = get_family(family).run(world, ctx)
            yield FamilyRun(world, ranking, ctx)
        finally:
            delete_namespace(ctx.class_names, ctx.extra_cleanup_patterns)


def run_ranking(
    family: str, seed: ScenarioSeed, values: Mapping[Constant, float] | None = None
) -> Ranking:
    """The family's raw Ranking (all scores), cleaned up like the runner does."""
    with family_run(family, seed, values) as run:
        return run.ranking


def keys_written_by_a_run(family: str, seed: ScenarioSeed) -> tuple[str, set[bytes]]:
    """The run's class name and every key the run added, read before its cleanup."""
    before = all_keys()
    with family_run(family, seed) as run:
        return run.class_name, all_keys() - before


def confidence_data(class_name: str) -> dict[str, dict]:
    """The companion hash of the class's ConfidenceField, keyed by record key."""
    raw = redis().hgetall(f"$ConfidencF:{class_name}:confidence:data")
    prefix = f"{class_name}:"
    return {k.decode().removeprefix(prefix): msgpack.unpackb(v, raw=False) for k, v in raw.items()}


@dataclass(frozen=True)
class GuardRow:
    """One seed under a guard constant: harmful records in the top k and the family's score, at
    the permissive value and at a value that keeps harmful records out."""

    label: str
    harmful_permissive: int
    harmful_keeping: int
    score_permissive: float
    score_keeping: float


def guarded_keys(world: World) -> set[str]:
    """The records a guard constant exists to keep out: harmful ones (negative grade) and those
    the family lists in ``World.extras["guarded"]`` (noise, wrongly linked records)."""
    harmful = {key for key, grade in world.relevance.items() if grade < 0}
    return harmful | set(world.extras.get("guarded", ()))


def harmful_in_top(result: ScenarioResult, world: World) -> int:
    """How many of the returned top-k records are guarded-against items of the world."""
    guarded = guarded_keys(world)
    return sum(1 for key in result.top if key in guarded)


def guard_rows(
    constant: Constant,
    permissive: float,
    keeping: float,
    seeds: Sequence[ScenarioSeed],
    base: Mapping[Constant, float] | None = None,
) -> list[GuardRow]:
    """Each seed at ``permissive`` and at ``keeping`` (with ``base`` applied under both)."""
    runs = {}
    for value in (permissive, keeping):
        runs[value] = evaluate_at_all({**(base or {}), constant: value}, seeds)
    rows = []
    for i, seed in enumerate(seeds):
        world, a, b = build_world(seed), runs[permissive][i], runs[keeping][i]
        assert a.error is None and b.error is None, (a.error, b.error)
        rows.append(
            GuardRow(
                seed.label, harmful_in_top(a, world), harmful_in_top(b, world), a.score, b.score
            )
        )
    return rows


def evaluate_at_all(values: Mapping[Constant, float], seeds: Sequence[ScenarioSeed]):
    """Each seed's result with every constant of ``values`` applied."""
    with applied_constants(values) as arguments:
        return [evaluate_scenario(seed, arguments=arguments) for seed in seeds]
