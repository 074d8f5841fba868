"""Does a family's ranking carry signal at popoto's defaults? The per-family Spearman check.

A family whose scores at the defaults hardly rank the latent truth (mean Spearman below
``MIN_SANITY_RHO``) cannot tell a good value of its constants from a bad one by much more than
which records it happens to return; it must say why (``Family.sanity_note``) or be rebuilt. The
share of scenarios returning fewer than ``k`` items is reported beside it: a family that often
returns short lists is mostly measuring *how many* items it returns.

Runs under whatever constants are applied right now (popoto's defaults unless the caller
applied others); it never imports ``tuner``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scenarios.families import FAMILIES
from scenarios.runner import DEFAULT_K, evaluate_scenario
from scenarios.seeds import ScenarioSeed

MIN_SANITY_RHO = 0.2


@dataclass(frozen=True)
class FamilySanity:
    """A family's ranking signal on a set of seeds."""

    family: str
    mean_spearman: float
    short_share: float  # share of scenarios that returned fewer than k items
    scenarios: int
    errors: int
    metric: str
    mean_score: float
    note: str  # the family's ``sanity_note`` (why a low rho is expected), may be empty

    @property
    def carries_signal(self) -> bool:
        return self.mean_spearman >= MIN_SANITY_RHO

    @property
    def explained(self) -> bool:
        """Either the ranking carries signal or the family says why it does not."""
        return self.carries_signal or bool(self.note)


def family_sanity(
    family: str, seeds: Sequence[ScenarioSeed], *, k: int = DEFAULT_K
) -> FamilySanity:
    """Mean Spearman and short-list share of ``family`` on ``seeds``; failures count as rho -1
    and as short (never dropped)."""
    if not seeds:
        raise ValueError(f"family {family!r}: no seeds to check")
    if any(seed.family != family for seed in seeds):
        raise ValueError(f"every seed must belong to family {family!r}")
    results = [evaluate_scenario(seed, k=k) for seed in seeds]
    return FamilySanity(
        family=family,
        mean_spearman=float(np.mean([r.spearman for r in results])),
        short_share=float(np.mean([len(r.top) < k for r in results])),
        scenarios=len(results),
        errors=sum(r.error is not None for r in results),
        metric=FAMILIES[family].metric,
        mean_score=float(np.mean([r.score for r in results])),
        note=FAMILIES[family].sanity_note,
    )
