"""Worlds where both directions can lose: every threshold or filter constant guards against an
item its family's world really contains, and letting the item in costs.

For each guard constant the test runs the first train seeds at the permissive extreme of the
catalog range and at a value that keeps the guarded-against items out (popoto's default, or the
strict extreme where the default does not keep them out). It shows the mechanism: the
permissive extreme puts guarded-against records (harmful ones, of negative gain, or the noise,
wrongly linked and useless pushed records a world lists in ``extras["guarded"]``) into the top
k on some seeds where the keeping value puts fewer, and on those seeds the family's score is
lower. It asserts no best value: only that the permissive direction can lose, which a world
without the guarded items could never show.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from family_helpers import guard_rows, train_seeds

GUARD_SEEDS = 30


@dataclass(frozen=True)
class Guard:
    """A guard constant: which end of its range is permissive, what keeps items out, and any
    other constant that must be applied for its guard to bind (``base``)."""

    name: str
    permissive: str  # "low" or "high": the catalog end that admits the most
    keeping: str | float = "default"  # "default", "strict" or a value
    base: tuple[tuple[str, str], ...] = ()  # (other constant, "low"/"high"/"default")

    def value(self, constant, which):
        if which == "default":
            return constant.default()
        if which == "strict":
            return constant.high if self.permissive == "low" else constant.low
        if which in ("low", "high"):
            return getattr(constant, which)
        return float(which)


GUARDS = [
    Guard("WILSON_CI_THRESHOLD", permissive="low"),
    # At the default Wilson bound (0.6) any count up to 6 is inert (6/6 successes are needed);
    # the count's own guard shows under a permissive Wilson bound.
    Guard("MIN_EVENTS_FOR_CRYSTALLIZATION", "low", base=(("WILSON_CI_THRESHOLD", "low"),)),
    # Wrong links (coincidental co-use: a side task's records used in the cue's task sessions,
    # mostly once): a large first-link weight, strengthening step or hop factor boosts them.
    Guard("initial_weight", permissive="high"),
    Guard("delta", permissive="high"),
    Guard("decay_per_hop", permissive="high", keeping="strict"),  # 0.5 still passes 2 hops
    # Chatter whose noisy salience clears a permissive write gate, then scores at retrieval.
    Guard("_wf_min_threshold", permissive="low"),
    # Pushes not worth their interruption (useless records, each costing the seed's hidden c)
    # and wrong records, pushed proactively (the threshold only truncates the push list).
    Guard("DEFAULT_SURFACING_THRESHOLD", permissive="low"),
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


def guard_param(guard):
    reason = NOT_YET_PUNISHED.get(guard.name)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(guard, id=guard.name, marks=marks)


@pytest.mark.parametrize("guard", [guard_param(g) for g in GUARDS])
def test_permissive_extreme_admits_harmful_items_and_pays(popoto_redis, catalog, guard):
    constant = catalog.resolve(guard.name)
    base = {
        catalog.resolve(name): guard.value(catalog.resolve(name), which)
        for name, which in guard.base
    }
    permissive = guard.value(constant, guard.permissive)
    keeping = guard.value(constant, guard.keeping)
    rows = guard_rows(
        constant, permissive, keeping, train_seeds(constant.family, GUARD_SEEDS), base
    )
    admitted = [r for r in rows if r.harmful_permissive > r.harmful_keeping]
    assert admitted, f"{guard.name}={permissive} never admits more harmful records than {keeping}"
    lost = np.mean([r.score_keeping - r.score_permissive for r in admitted])
    assert lost > 0, f"admitting harmful records did not cost on {[r.label for r in admitted]}"
