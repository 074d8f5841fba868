"""Re-score a value on the outside families (the LoCoMo replays), paired, CI by conversation.

An outside family is a world nobody here wrote (``scenarios/outside.py``, docs/locomo.md). It is
never part of a study's objective; this module answers the robustness question for an accepted
value: on the same scenarios, does the value hold against its incumbent there? Scenarios cluster
within a handful of conversations, so the confidence interval of the mean paired
gain resamples whole conversations (a seeded cluster bootstrap), never single scenarios.

The verdict uses the decisions' no-harm rule: *holds* when the interval's lower end is above
``-harm_margin``, *loses* when its upper end is below 0, else *inconclusive*. A family whose data
is not configured is *unavailable*, with the one-line reason.

Outside runs bypass the disk result cache: its key names the harness, popoto and the seed but
not the data file a replay read, so a result kept from another copy of the data could be
returned for this one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from tuner.catalog import Constant
from tuner.defaults import DEFAULT_HARM_MARGIN
from tuner.evaluation.engine import BankSpec, evaluate_values, set_result_cache

OUTSIDE_BASE_SEED = 20261225  # a bank of its own: no decision walks the outside families anyway
OUTSIDE_SIZE = 40
BOOTSTRAP_DRAWS = 2000


@dataclass(frozen=True)
class OutsideLine:
    """One value against its incumbent on one outside family."""

    family: str
    verdict: str  # holds | loses | inconclusive | unavailable
    estimate: float = 0.0
    ci_low: float = 0.0
    ci_high: float = 0.0
    scenarios: int = 0
    conversations: int = 0
    errors: int = 0
    reason: str = ""

    def text(self) -> str:
        if self.verdict == "unavailable":
            return f"{self.family}: unavailable ({self.reason})"
        return (f"{self.verdict} on LoCoMo ({self.family}): {self.estimate:+.4f} "
                f"[{self.ci_low:+.4f}, {self.ci_high:+.4f}] over {self.scenarios} scenarios in "
                f"{self.conversations} conversations (95% CI by conversation)"
                + (f"; {self.errors} failed runs scored 0" if self.errors else ""))

    def to_dict(self) -> dict:
        return asdict(self)


def cluster_bootstrap(deltas: Sequence[float], clusters: Sequence[str], *,
                      draws: int = BOOTSTRAP_DRAWS, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean of ``deltas``, resampling whole clusters with
    replacement (each draw's mean is over every scenario of the drawn clusters)."""
    values = np.asarray(deltas, dtype=float)
    names = sorted(set(clusters))
    index = {name: i for i, name in enumerate(names)}
    member = np.array([index[c] for c in clusters])
    sums = np.bincount(member, weights=values, minlength=len(names))
    counts = np.bincount(member, minlength=len(names)).astype(float)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(names), size=(draws, len(names)))
    means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    tail = (1.0 - level) / 2.0
    return float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))


def verdict_of(ci_low: float, ci_high: float, *, harm_margin: float) -> str:
    if ci_low > -harm_margin:
        return "holds"
    if ci_high < 0.0:
        return "loses"
    return "inconclusive"


def paired_line(family: str, candidate: Mapping[Constant, float],
                incumbent: Mapping[Constant, float], *, size: int = OUTSIDE_SIZE,
                base_seed: int = OUTSIDE_BASE_SEED, harm_margin: float = DEFAULT_HARM_MARGIN,
                draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> OutsideLine:
    """``candidate`` against ``incumbent`` on the same ``size`` scenarios of ``family``."""
    from scenarios.outside import outside_reason
    from scenarios.runner import build_world

    reason = outside_reason(family)
    if reason is not None:
        return OutsideLine(family, "unavailable", reason=reason)
    seeds = BankSpec(size=size, base_seed=base_seed).bank(family)
    previous = set_result_cache(None)
    try:
        base = evaluate_values(incumbent, seeds)
        moved = evaluate_values({**incumbent, **candidate}, seeds)
    finally:
        set_result_cache(previous)
    deltas = [m.score - b.score for m, b in zip(moved.results, base.results, strict=True)]
    clusters = [build_world(s).extras["conversation"] for s in seeds]
    low, high = cluster_bootstrap(deltas, clusters, draws=draws, seed=seed)
    return OutsideLine(family, verdict_of(low, high, harm_margin=harm_margin),
                       float(np.mean(deltas)), low, high, len(seeds), len(set(clusters)),
                       len(moved.errors) + len(base.errors))


def outside_lines(constant: Constant, value: float, incumbent: Mapping[Constant, float],
                  **options: object) -> list[OutsideLine]:
    """Every outside family the catalog says reads ``constant``: ``value`` against the
    incumbent's value (popoto's default unless ``incumbent`` names another)."""
    return [paired_line(family, {constant: value}, incumbent, **options)  # type: ignore[arg-type]
            for family in constant.outside_families]
