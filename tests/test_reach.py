"""The reach matrix: every constant reaches popoto in exactly the families the catalog lists.

Checking that an attribute changed proves nothing. For each constant and each family, the same
train scenarios run at popoto's default and at the catalog's ``low`` and ``high``: a listed
family must change popoto's output (top k or order) on some of 8 seeds; an unlisted one must
not change it on any of 6 (an effect on one seed in five goes unseen 26% of the time, against
51% on 3). popoto's output at its defaults is the same for every constant, so it runs once per
seed, which pays for most of the extra seeds. A constant marked unreachable must change nothing
anywhere.
"""

import functools

import pytest

from scenarios.families import FAMILIES
from tuner.catalog import load_catalog
from tuner.evaluation.engine import BankSpec
from tuner.evaluation.reach import ranking_output, reaches

CATALOG = load_catalog()
LISTED_SEEDS = 8  # a listed family must show reach within this many seeds
UNLISTED_SEEDS = 6  # an unlisted family must show none on these
HARNESS_FAMILIES = sorted(FAMILIES)


def seeds(family, count):
    return BankSpec(size=20).pools(family)[0][:count]


@functools.cache
def at_default(seed):
    """popoto's output at its defaults: the same for every constant, so run once per seed."""
    return ranking_output({}, seed)


@pytest.mark.usefixtures("popoto_redis")
@pytest.mark.parametrize("constant", list(CATALOG), ids=lambda c: c.name)
def test_constant_reaches_exactly_its_listed_families(constant):
    listed = set(constant.reached_families)
    assert listed <= set(HARNESS_FAMILIES), f"{constant.name}: unknown family in {listed}"
    for family in HARNESS_FAMILIES:
        if constant.reachable and family in listed:
            assert reaches(constant, seeds(family, LISTED_SEEDS), reference=at_default), \
                f"{constant.name} is listed for {family} but changed nothing there"
        else:
            assert not reaches(constant, seeds(family, UNLISTED_SEEDS), reference=at_default), \
                f"{constant.name} changes popoto's output in {family}, which the catalog " \
                f"does not list (families = {sorted(listed)})"
