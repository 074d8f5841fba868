"""Reach: every catalog constant changes what popoto returns, or is proven unreachable.

Checking that an attribute changed proves nothing. For each reachable constant, the same train
scenarios are run at the catalog's ``low`` and ``high``: at least one must rank or score
differently. For each constant marked unreachable, the same runs must be identical.
"""

import pytest

from scenarios.families import FAMILIES
from tuner.catalog import load_catalog
from tuner.evaluation import BankSpec, evaluate_values

CATALOG = load_catalog()
SEEDS_PER_CHECK = 6


def outcomes(constant, value):
    train, _ = BankSpec(size=10).pools(constant.family)
    evaluation = evaluate_values({constant: value}, train[:SEEDS_PER_CHECK])
    assert not evaluation.errors, evaluation.errors
    return [(r.top, round(r.ndcg, 9), round(r.spearman, 9)) for r in evaluation.results]


@pytest.mark.usefixtures("popoto_redis")
@pytest.mark.parametrize("constant", list(CATALOG), ids=lambda c: c.name)
def test_constant_reaches_popoto_or_is_proven_unreachable(constant):
    if constant.family not in FAMILIES:
        pytest.fail(f"{constant.name}: family {constant.family!r} is not implemented")
    low, high = outcomes(constant, constant.low), outcomes(constant, constant.high)
    if constant.reachable:
        assert low != high, f"{constant.name} changed nothing between {constant.low} and " \
                            f"{constant.high} on {SEEDS_PER_CHECK} seeds of {constant.family}"
    else:
        assert low == high, f"{constant.name} is marked unreachable ({constant.reason}) " \
                            "but changed the result"
