"""Worlds where both directions can lose: every threshold or filter constant guards against an
item its family's world really contains, and letting the item in costs.

For each guard constant the test runs the first train seeds at the permissive extreme of the
catalog range and at a value that keeps the guarded-against items out (popoto's default, or the
strict extreme where the default does not keep them out). It shows the mechanism: the
permissive extreme puts guarded-against records (harmful ones, of negative grade, or the noise
and wrongly linked records a world lists in ``extras["guarded"]``) into the top k on some seeds
where the keeping value puts fewer, and on those seeds the family's score is lower. It asserts
no best value: only that the permissive direction can lose, which a world without the guarded
items could never show.
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
    # Wrong records pushed proactively (the threshold only truncates the push list).
    Guard("DEFAULT_SURFACING_THRESHOLD", permissive="low"),
    # A high signal raises the runners-up instead of inhibiting them; wrong ones among them
    # then reach the proactive list.
    Guard("COMPETITIVE_SUPPRESSION_SIGNAL", permissive="high"),
]


# Findings, not fixed (issue 8): a guard this family's world cannot judge, with why. strict:
# the day one passes, this list shrinks. The surfacing threshold compares each record's decayed
# relevance (importance x recency); contradictions reach that score only through
# confidence-modulated decay (at most -13% at 30 days at popoto's defaults). It does not tell
# wrong records from useful ones: of the top-5 pushes a 0.5 threshold cuts on 50 train seeds,
# ~15% are wrong (as in the whole list) and ~65% useful, so cutting them costs on average, and
# a world whose wrong records sat lower would be built for the threshold (README Fair worlds).
NOT_YET_PUNISHED = {
    "DEFAULT_SURFACING_THRESHOLD": "context_assembler: the push score popoto thresholds does "
                                   "not separate wrong records from useful ones",
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
