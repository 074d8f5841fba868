"""Worlds where both directions can lose: every threshold or filter constant guards against an
item its family's world really contains, and letting the item in costs.

For each guard constant the test runs the first train seeds at the permissive extreme of the
catalog range and at a value that keeps the guarded-against items out (popoto's default, or the
strict extreme where the default does not keep them out). It shows the mechanism: the
permissive extreme puts guarded-against records (harmful ones, of negative gain, or the noise,
wrongly linked and useless pushed records a world lists in ``extras["guarded"]``) into the top
k on some seeds where the keeping value puts fewer, and on those seeds the family's score is
lower. It asserts no best value: only that the permissive direction can lose, which a world
without the guarded items could never show; and that the loss on those seeds is significant
(a one-sided sign-flip test of the paired losses, p < 0.05), so a world that lost by chance on
a few seeds does not pass.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pytest
from family_helpers import GuardRow, guard_rows

from tuner.decisions.stats import paired_test
from tuner.evaluation.engine import BankSpec

GUARD_SEEDS = 100  # train seeds of a 200-seed bank (its first 50 are the default bank's)
FEW_SEEDS = 30  # for the guards whose significance is a finding below: keeps their cost down
GUARD_ALPHA = 0.05


@dataclass(frozen=True)
class Guard:
    """A guard constant: which end of its range is permissive, what keeps items out, and any
    other constant that must be applied for its guard to bind (``base``)."""

    name: str
    permissive: str  # "low" or "high": the catalog end that admits the most
    keeping: str | float = "default"  # "default", "strict" or a value
    base: tuple[tuple[str, str], ...] = ()  # (other constant, "low"/"high"/"default")
    seeds: int = GUARD_SEEDS

    def value(self, constant, which):
        if which == "default":
            return constant.default()
        if which == "strict":
            return constant.high if self.permissive == "low" else constant.low
        if which in ("low", "high"):
            return getattr(constant, which)
        return float(which)


GUARDS = [
    Guard("WILSON_CI_THRESHOLD", permissive="low", seeds=FEW_SEEDS),
    # At the default Wilson bound (0.6) any count up to 6 is inert (6/6 successes are needed);
    # the count's own guard shows under a permissive Wilson bound.
    Guard("MIN_EVENTS_FOR_CRYSTALLIZATION", "low", base=(("WILSON_CI_THRESHOLD", "low"),),
          seeds=FEW_SEEDS),
    # Wrong links (coincidental co-use: a side task's records used in the cue's task sessions,
    # mostly once): a large first-link weight, strengthening step or hop factor boosts them.
    Guard("initial_weight", permissive="high"),
    Guard("delta", permissive="high"),
    Guard("decay_per_hop", permissive="high", keeping="strict"),  # 0.5 still passes 2 hops
    # Chatter whose noisy salience clears a permissive write gate, then scores at retrieval.
    Guard("_wf_min_threshold", permissive="low", seeds=FEW_SEEDS),
    # Pushes not worth their interruption (useless records, each costing the seed's hidden c)
    # and wrong records, pushed proactively (the threshold only truncates the push list).
    Guard("DEFAULT_SURFACING_THRESHOLD", permissive="low", seeds=FEW_SEEDS),
    # A high signal raises the runners-up instead of inhibiting them; wrong ones among them
    # then reach the proactive list.
    Guard("COMPETITIVE_SUPPRESSION_SIGNAL", permissive="high"),
]


# Findings, not fixed (issue 8): a guard this family's world cannot judge, with why. strict:
# the day one passes, this list shrinks. The world holds what the surfacing threshold guards
# against: a useless push (grade 0) costs the seed's hidden interruption cost c ~ U[0, 1], and
# the permissive end admits it (on 6 of the 30 seeds 0.05 pushes more useless or wrong records
# than the default 0.5; 4 of the 6 score higher at 0.5). But the threshold compares decayed
# relevance (importance x recency), which contradictions barely move, and it cuts by the
# store's importance scale: of the 12 pushes 0.5 cuts there, 6 are useful (mean grade 2), 3
# useless and 3 wrong, and a store that looks unimportant throughout gets no push at all (one
# seed loses 0.59). Mean Delta on the 6 seeds: -0.102 (-0.163 on 3 before the cost);
# docs/fair-worlds.md. c's range is fixed from what a push costs, not fitted to this test.
NOT_YET_PUNISHED = {
    "DEFAULT_SURFACING_THRESHOLD": "context_assembler: the push score cuts useful records with "
                                   "the useless and wrong ones it admits",
}


# Findings, not fixed: the loss on admitting seeds is positive but not significant. Measured on
# the first 100 train seeds (2026-12-07): WILSON_CI_THRESHOLD 9 admitting seeds, mean loss
# 0.045, p = 0.28; MIN_EVENTS_FOR_CRYSTALLIZATION 3 seeds, 0.066, p = 0.125; _wf_min_threshold
# 7 seeds, 0.077, p = 0.16. Their worlds rarely let the permissive end admit a guarded record,
# so few seeds can show the cost. strict: they run on FEW_SEEDS here (their 100-seed runs cost
# two minutes), and the day one turns significant there, this list shrinks.
NOT_YET_SIGNIFICANT = {
    "WILSON_CI_THRESHOLD": "policy_cache: 9 admitting seeds of 100, p = 0.28",
    "MIN_EVENTS_FOR_CRYSTALLIZATION": "policy_cache: 3 admitting seeds of 100, p = 0.125",
    "_wf_min_threshold": "write_filter: 7 admitting seeds of 100, p = 0.16",
}


def guard_param(guard, *findings):
    reason = next((f[guard.name] for f in findings if guard.name in f), None)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(guard, id=guard.name, marks=marks)


@functools.cache
def admitting_rows(guard: Guard) -> tuple[float, float, tuple[GuardRow, ...]]:
    """(permissive, keeping, the rows of seeds where the permissive value lets more guarded
    records into the top k); computed once per guard for both tests below."""
    from tuner.catalog import load_catalog

    catalog = load_catalog()
    constant = catalog.resolve(guard.name)
    base = {
        catalog.resolve(name): guard.value(catalog.resolve(name), which)
        for name, which in guard.base
    }
    permissive = guard.value(constant, guard.permissive)
    keeping = guard.value(constant, guard.keeping)
    seeds = BankSpec(size=2 * guard.seeds).pools(constant.family)[0][:guard.seeds]
    rows = guard_rows(constant, permissive, keeping, seeds, base)
    return permissive, keeping, tuple(r for r in rows if r.harmful_permissive > r.harmful_keeping)


@pytest.mark.usefixtures("popoto_redis")
@pytest.mark.parametrize("guard", [guard_param(g, NOT_YET_PUNISHED) for g in GUARDS])
def test_permissive_extreme_admits_harmful_items_and_pays(guard):
    permissive, keeping, admitted = admitting_rows(guard)
    assert admitted, f"{guard.name}={permissive} never admits more harmful records than {keeping}"
    lost = np.mean([r.score_keeping - r.score_permissive for r in admitted])
    assert lost > 0, f"admitting harmful records did not cost on {[r.label for r in admitted]}"


@pytest.mark.usefixtures("popoto_redis")
@pytest.mark.parametrize("guard", [guard_param(g, NOT_YET_PUNISHED, NOT_YET_SIGNIFICANT)
                                   for g in GUARDS])
def test_the_cost_of_admitting_is_significant(guard):
    """The paired losses on the admitting seeds, sign-flip tested (the gate's own test): a few
    seeds that happened to lose do not pass."""
    _, _, admitted = admitting_rows(guard)
    test = paired_test([[r.score_keeping - r.score_permissive for r in admitted]])
    assert test.p_value < GUARD_ALPHA, (
        f"{guard.name}: loss {test.mean:.3f} on {len(admitted)} admitting seeds, "
        f"p = {test.p_value:.3f}")
