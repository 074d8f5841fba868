"""Reach: does changing a constant change what popoto returns in a scenario family?

A constant is scored, validated and confirmed in every family where it reaches popoto's ranking,
so the catalog's ``families`` must be measured, not guessed. Reach is judged on popoto's output
itself (the top k and the order of every scored record), not on a metric that might hide it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from scenarios import ScenarioSeed
from scenarios.families import RunContext, get_family
from scenarios.runner import build_world, delete_namespace
from tuner.catalog import Constant
from tuner.evaluation.overrides import applied_constants

Output = tuple[tuple[str, ...], tuple[str, ...]] | tuple[str, str]


def ranking_output(values: dict[Constant, float], seed: ScenarioSeed) -> Output:
    """popoto's top k and full order for ``seed`` under ``values`` (an error is an output too).

    Orders, not raw scores: decay scores drift with the wall clock between two runs, orders
    of a deterministic world do not.
    """
    with applied_constants(values) as arguments:
        ctx = RunContext(family=seed.family, arguments=dict(arguments))
        try:
            ranking = get_family(seed.family).run(build_world(seed), ctx)
        except Exception as exc:  # noqa: BLE001 - a value that breaks popoto reaches it
            return ("error", type(exc).__name__)
        finally:
            delete_namespace(ctx.class_names, ctx.extra_cleanup_patterns)
    order = sorted(ranking.scores, key=lambda key: (-ranking.scores[key], key))
    return tuple(ranking.top), tuple(order)


def reaches(constant: Constant, seeds: Sequence[ScenarioSeed],
            values: Iterable[float] | None = None, *,
            reference: Callable[[ScenarioSeed], Output] | None = None) -> bool:
    """True when some value (default: the range's ends) changes popoto's output on a seed.

    ``reference`` gives a seed's output at popoto's defaults (default: run it now); a caller
    checking many constants on the same seeds passes a cached one, since it never changes.
    """
    tried = list(values) if values is not None else [constant.low, constant.high]
    at_default = reference or (lambda seed: ranking_output({}, seed))
    for seed in seeds:
        expected = at_default(seed)
        if any(ranking_output({constant: v}, seed) != expected for v in tried):
            return True
    return False
