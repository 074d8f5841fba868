"""Evaluate one set of constant values on a list of scenarios: the single path every caller uses.

The objective, the validator, the ratchet's checks and grid sweeps all score values through
``evaluate_values``, so a value means the same thing wherever it is measured. Results are
deterministic in (values, scenario), so each pair is evaluated once per process and memoised:
the baseline, the top-k re-scoring, the cliff probes, validation and the joint check never
score the same pair twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from scenarios import ScenarioResult, ScenarioSeed, evaluate_scenario, split_bank
from scenarios.runner import family_bank
from tuner.catalog import Constant
from tuner.catalog.profile import Profile, active_profile
from tuner.defaults import (
    DEFAULT_BANK_SIZE,
    DEFAULT_BASE_SEED,
    DEFAULT_HELD_OUT,
    DEFAULT_VALIDATION_FRACTION,
)
from tuner.evaluation.fingerprint import popoto_defaults, state_digest
from tuner.evaluation.overrides import applied_constants

MEMO_LIMIT = 500_000

ValuesKey = tuple[str, tuple[tuple[str, str, float], ...]]  # (popoto state, values)
_MEMO: dict[tuple[ValuesKey, ScenarioSeed], ScenarioResult] = {}
_POOL = None  # a WorkerPool while `--workers N > 1`, a ClusterPool while `--cluster ADDRESS`
_CACHE = None  # a tuner.evaluation.result_cache.ResultCache while a command keeps results on disk
_RUNS = [0]  # scenario runs on popoto in this process (memo and disk hits not counted)


def scenario_runs() -> int:
    """How many (values, scenario) pairs this process has run on popoto: the cost a decision
    design is measured by (benchmarks/bench_power.py)."""
    return _RUNS[0]


def set_result_cache(cache: object) -> object:
    """Keep results in ``cache`` too (None: this process's memo only); returns the previous."""
    global _CACHE
    previous, _CACHE = _CACHE, cache
    return previous


def set_worker_pool(pool: object) -> object:
    """Route evaluations through ``pool`` (None: in-process); returns the previous pool."""
    global _POOL
    previous, _POOL = _POOL, pool
    return previous


@dataclass(frozen=True)
class BankSpec:
    """Which scenario bank a study draws from; part of a study's identity.

    ``profile`` (``tuner.catalog.profile``) is the deployment's: its knob values set the world
    every seed of the bank is drawn in, and its tag is part of the bank's. Not given, it is the
    active profile of the running command (the default profile outside one), so a bank derived
    anywhere in a run (a confirmation bank) is drawn in the same world.
    """

    size: int = DEFAULT_BANK_SIZE
    base_seed: int = DEFAULT_BASE_SEED
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION
    held_out: int = DEFAULT_HELD_OUT
    profile: Profile = field(default_factory=active_profile)

    def pools(self, family: str) -> tuple[list[ScenarioSeed], list[ScenarioSeed]]:
        """(train, validation) seeds of ``family``; validation seeds never reach a study."""
        return split_bank(self.bank(family), self.validation_fraction)

    def held_out_prefix(self, family: str, n: int) -> list[ScenarioSeed]:
        """The first ``n`` held-out scenarios sequential validation walks, in order: the bank's
        validation half, then seeds past the bank's end (ids no study ever draws), up to
        ``held_out``.

        Seeds are free, so the pool is sized by power (``tuner.decisions.power``), not by the
        train pool's size; only the prefix a look needs is generated.
        """
        n = min(n, self.held_out)
        validation = self.pools(family)[1]
        if n <= len(validation):
            return validation[:n]
        longer = family_bank(family, size=self.size + n - len(validation),
                             base_seed=self.base_seed, knobs=self.profile.knob_pairs(family))
        return validation + longer[self.size:]

    def prefix(self, family: str, n: int) -> list[ScenarioSeed]:
        """The first ``n`` seeds of the whole bank (a confirmation bank is walked this way)."""
        size = max(2, min(n, self.size))
        return family_bank(family, size=size, base_seed=self.base_seed,
                           knobs=self.profile.knob_pairs(family))[:n]

    def bank(self, family: str) -> list[ScenarioSeed]:
        """Every seed of ``family`` in this bank (the confirmation check uses them all)."""
        return family_bank(family, size=self.size, base_seed=self.base_seed,
                           knobs=self.profile.knob_pairs(family))

    @property
    def tag(self) -> str:
        tag = f"b{self.base_seed}n{self.size}"
        if self.validation_fraction != DEFAULT_VALIDATION_FRACTION:
            tag += f"v{round(100 * self.validation_fraction)}"
        return tag + self.profile.tag


@dataclass(frozen=True)
class Evaluation:
    """Per-scenario results of one set of values, with the aggregates a study records."""

    results: tuple[ScenarioResult, ...]

    @property
    def mean_score(self) -> float:
        """Mean score over *every* scenario: failed ones count as 0, never dropped.

        The score is the family's metric: nDCG@5, or signed nDCG@5 in families whose worlds
        hold harmful records a guard constant exists to keep out (see scenarios/metrics.py).
        """
        return float(np.mean([r.score for r in self.results])) if self.results else 0.0

    @property
    def mean_ndcg(self) -> float:
        """Plain nDCG@5 (harm counted as 0), for display beside the score."""
        return float(np.mean([r.ndcg for r in self.results])) if self.results else 0.0

    @property
    def mean_spearman(self) -> float:
        return float(np.mean([r.spearman for r in self.results])) if self.results else -1.0

    @property
    def errors(self) -> dict[str, str]:
        return {r.label: r.error for r in self.results if r.error}

    def by_label(self) -> dict[str, float]:
        """Each scenario's score (the family's metric), by label."""
        return {r.label: float(r.score) for r in self.results}


def values_key(values: Mapping[Constant, float]) -> ValuesKey:
    """The numbers in force when ``values`` are applied, in a canonical, hashable form.

    A key names everything a run depends on besides the seed: popoto's state (its version, every
    ``Defaults`` number and its source, by digest: ``fingerprint.state_digest``) and each
    applied value *by its number*. A value equal to the number popoto already holds for it
    (its ``Defaults`` entry, or the frozen default argument) leaves every number in force as it
    was, so ``{}`` and ``{decay_rate: 0.1}`` share one key while popoto's ``DECAY_RATE`` is 0.1
    and the ratchet's baselines share their runs; once popoto's number is another, the state
    digest is another too and no earlier result is read. Incumbent and carried-forward values
    are applied values, so they are keyed the same way.
    """
    held = popoto_defaults()
    items = []
    for constant, value in values.items():
        number = float(value)
        current = held.get(constant.attr) if constant.attr else constant.default()
        if isinstance(current, int | float) and not isinstance(current, bool) \
                and number == float(current):
            continue
        items.append((constant.name, constant.attr or constant.argument or "", number))
    return state_digest(), tuple(sorted(items))


def evaluate_values(
    values: Mapping[Constant, float], seeds: Sequence[ScenarioSeed]
) -> Evaluation:
    """Score every seed under ``values``; each (values, seed) pair runs on popoto once.

    The values are applied (and restored, whatever happens) only when some seed is not yet
    memoised. A lost Redis connection propagates and memoises nothing.
    """
    return evaluate_many([(values, seeds)])[0]


Request = tuple[Mapping[Constant, float], Sequence[ScenarioSeed]]  # values, seeds to score
Todo = dict[ValuesKey, tuple[Mapping[Constant, float], list[ScenarioSeed]]]  # by values key


def evaluate_many(requests: Sequence[Request]) -> list[Evaluation]:
    """``evaluate_values`` for several value sets at once: what none has memoised goes to the
    worker pool as **one** request.

    A decision that needs a candidate and its reference (or every open comparison of a
    confirmation round) asked the pool once per value set, and each request ended with a core
    idle while the other finished its last chunk; one request for all of them ends once.
    Results and memo are exactly those of one call per value set.
    """
    keys = [values_key(values) for values, _ in requests]
    todo = _not_memoised(keys, requests)
    if len(_MEMO) + sum(len(seeds) for _, seeds in todo.values()) > MEMO_LIMIT:
        _MEMO.clear()  # then everything asked is missing, memoised a moment ago or not
        todo = _not_memoised(keys, requests)
    if todo:
        _MEMO.update(_stored_or_run(todo))
    return [Evaluation(results=tuple(_MEMO[(key, seed)] for seed in seeds))
            for key, (_, seeds) in zip(keys, requests, strict=True)]


def _not_memoised(keys: Sequence[ValuesKey], requests: Sequence[Request]) -> Todo:
    """Per values key, the seeds asked for and not in the memo (each once, in order)."""
    wanted: dict[ValuesKey, tuple[Mapping[Constant, float], dict[ScenarioSeed, None]]] = {}
    for key, (values, seeds) in zip(keys, requests, strict=True):
        missing = wanted.setdefault(key, (values, {}))[1]
        missing.update((seed, None) for seed in seeds if (key, seed) not in _MEMO)
    return {key: (values, list(seeds)) for key, (values, seeds) in wanted.items() if seeds}


def prefetch(requests: Sequence[Request]) -> None:
    """Run (in one pool request) every pair of ``requests`` not yet memoised, so the calls of
    ``evaluate_values`` that follow read them from the memo."""
    evaluate_many(requests)


def _stored_or_run(todo: Todo) -> list[tuple[tuple[ValuesKey, ScenarioSeed], ScenarioResult]]:
    """Results from the disk cache where it has them; the rest run (and are stored)."""
    if _CACHE is None:
        return _run(todo)
    from tuner.evaluation.result_cache import result_key

    names = {(key, seed): result_key(key, seed) for key, (_, seeds) in todo.items()
             for seed in seeds}
    stored = _CACHE.get_many(list(names.values()))  # type: ignore[attr-defined]
    left = {key: (values, [s for s in seeds if names[(key, s)] not in stored])
            for key, (values, seeds) in todo.items()}
    fresh = _run({key: pair for key, pair in left.items() if pair[1]})
    _CACHE.put_many({names[pair]: result for pair, result in fresh})  # type: ignore[attr-defined]
    return [(pair, stored[name]) for pair, name in names.items() if name in stored] + fresh


def _run(todo: Todo) -> list[tuple[tuple[ValuesKey, ScenarioSeed], ScenarioResult]]:
    """Run every (values, seed) of ``todo`` on popoto: on the worker pool (one request) when
    one is installed, else right here."""
    total = sum(len(seeds) for _, seeds in todo.values())
    _RUNS[0] += total
    pairs = [(key, seed) for key, (_, seeds) in todo.items() for seed in seeds]
    if _POOL is not None and total > 1:
        results = _POOL.evaluate_many(list(todo.values()))  # type: ignore[attr-defined]
        return list(zip(pairs, results, strict=True))
    out = []
    for key, (values, seeds) in todo.items():
        with applied_constants(values) as arguments:
            out.extend(((key, seed), evaluate_scenario(seed, arguments=arguments))
                       for seed in seeds)
    return out


def clear_memo() -> None:
    """Forget every memoised result (tests that count real popoto runs call this)."""
    _MEMO.clear()


def flat_seeds(seeds_by_family: Mapping[str, Sequence[ScenarioSeed]]) -> list[ScenarioSeed]:
    """Every family's seeds in one list, family after family: the shape of one pool request."""
    return [seed for seeds in seeds_by_family.values() for seed in seeds]


def evaluate_families(
    values: Mapping[Constant, float], seeds_by_family: Mapping[str, Sequence[ScenarioSeed]],
    *, evaluate: Callable[..., Evaluation] | None = None,
) -> dict[str, Evaluation]:
    """``evaluate_values`` over every family's seeds in **one** request, split back per family
    (insertion order kept).

    One request per family left a core idle at the end of each (a 20-scenario family sample
    ends on one worker's last chunk) and made a 7-family trial wait seven times; one request
    lets the pool balance the families' very different costs (7 to 150 ms a scenario).
    """
    flat = flat_seeds(seeds_by_family)
    results = (evaluate or evaluate_values)(values, flat).results
    out, start = {}, 0
    for family, seeds in seeds_by_family.items():
        out[family] = Evaluation(results=results[start:start + len(seeds)])
        start += len(seeds)
    return out


def family_mean(evaluations: Mapping[str, Evaluation]) -> float:
    """Equal-weight mean over families of each family's mean score.

    A family with 50 scenarios weighs as much as one with 5: a constant is judged wherever
    popoto reads it, not mostly where the bank happens to be large.
    """
    means = [e.mean_score for e in evaluations.values()]
    return float(np.mean(means)) if means else 0.0


def sample_seeds(
    pool: Sequence[ScenarioSeed], *, batch: int | None, study_seed: int, trial_number: int,
    stream: int = 0,
) -> list[ScenarioSeed]:
    """The train scenarios trial ``trial_number`` evaluates: reproducible per (seed, number).

    The whole pool when ``batch`` is missing or not smaller than it; otherwise a sample drawn
    without replacement by an RNG seeded from the study seed, the trial number and ``stream``
    (one stream per family, so families are not sampled in lockstep).
    """
    if batch is None or batch >= len(pool):
        return list(pool)
    entropy = [study_seed, trial_number] + ([stream] if stream else [])
    rng = np.random.default_rng(entropy)
    picked = np.sort(rng.choice(len(pool), size=batch, replace=False))
    return [pool[i] for i in picked]


def batch_per_family(batch: int | None, families: int) -> int | None:
    """Split a trial's ``batch`` evenly over the reached families (at least 3 each).

    ``--batch`` stays the cost of one trial whatever the number of families a constant reaches.
    """
    if batch is None:
        return None
    return max(3, -(-batch // max(1, families)))
