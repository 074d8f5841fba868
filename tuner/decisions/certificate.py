"""A certificate when nothing is accepted: how much better any value looked at could be.

For a constant that is not accepted, the certificate is an upper confidence bound on

    max over the values looked at of (equal-weight mean score at v - at the incumbent)

simultaneous over those values and corrected like the decisions (Bonferroni over every
certificate of the run). The values looked at are a grid fixed before any data (both search
edges and evenly spaced points between them, ``certification_grid``), scored paired on the
whole train pool — fixed values are unbiased there, whatever the study chose — and the
proposal, scored on held-out scenarios (its sequential looks counted in its share of alpha).

"No value in [0.05, 0.5] beats 0.1 by more than 0.006 (95%, 7 families)" is then a claim a
maintainer can cite; a wide bound says how many scenarios per family would narrow it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.stats import t as student_t

from tuner.catalog import Constant
from tuner.decisions.comparison import PairedComparison

CERTIFICATE_CONFIDENCE = 0.95


@dataclass(frozen=True)
class ValueBound:
    """One value's upper confidence bound on its gain over the incumbent."""

    value: float
    mean: float
    bound: float
    n: int
    source: str  # "train grid" or "held-out"
    sd_by_family: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Certificate:
    """No value looked at beats the incumbent by more than ``bound`` (at ``confidence``)."""

    constant: str
    incumbent: float
    low: float
    high: float
    bound: float
    confidence: float
    level_each: float
    families: tuple[str, ...]
    values: tuple[ValueBound, ...]
    collapsed: bool = False
    narrow_with: int | None = None  # scenarios per family that would bound it at target
    target: float | None = None

    @property
    def worst(self) -> ValueBound | None:
        return max(self.values, key=lambda v: v.bound) if self.values else None

    def text(self) -> str:
        gain = max(self.bound, 0.0)
        where = f"[{self.low:.4g}, {self.high:.4g}]"
        families = (f"{len(self.families)} famil"
                    f"{'y' if len(self.families) == 1 else 'ies'}")
        if self.collapsed:
            return (f"no value tried in {where} changed any scenario's score: none beats "
                    f"{self.incumbent:.4g} ({families})")
        head = (f"no value of the {len(self.values)} looked at in {where} beats "
                f"{self.incumbent:.4g} by more than {gain:.4f} "
                f"({self.confidence:.0%}, {families})")
        if self.narrow_with and self.target is not None:
            head += (f"; ~{self.narrow_with} train scenarios per family would bound it at "
                     f"{self.target:.3f}")
        return head

    def to_dict(self) -> dict:
        data = asdict(self)
        data["text"] = self.text()
        return data


def upper_bound(comparison: PairedComparison, level: float) -> tuple[float, dict[str, float]]:
    """One-sided (1 - level) upper bound of the equal-weight mean delta (Student t).

    SE = sqrt(sum_f s_f**2 / n_f) / F with Welch-Satterthwaite degrees of freedom. A family
    whose deltas are all zero contributes no variance: a value that changes nothing is bounded
    at exactly 0.
    """
    families = comparison.families
    if not families:
        return math.inf, {}
    sds, parts, dof_num, dof_den = {}, [], 0.0, 0.0
    for name, fc in families.items():
        values = np.fromiter(fc.deltas.values(), dtype=float)
        if values.size < 2:
            return math.inf, {}
        sd = float(values.std(ddof=1))
        sds[name] = sd
        part = sd ** 2 / values.size
        parts.append(part)
        dof_num += part
        dof_den += part ** 2 / (values.size - 1)
    variance = sum(parts) / len(families) ** 2
    if variance == 0:
        return comparison.mean, sds
    dof = dof_num ** 2 / dof_den if dof_den else 1.0
    quantile = float(student_t.isf(level, dof))
    return comparison.mean + quantile * math.sqrt(variance), sds


def scenarios_to_narrow(sds: dict[str, float], target: float, level: float,
                        families: int) -> int:
    """Scenarios per family at which the bound's half-width reaches ``target``."""
    spread = math.sqrt(sum(s ** 2 for s in sds.values())) / max(1, families)
    if spread == 0 or target <= 0:
        return 0
    from tuner.decisions.power import z_of

    return math.ceil((z_of(level) * spread / target) ** 2)


def certify(
    constant: Constant, incumbent: float, grid: Sequence[tuple[float, PairedComparison]],
    held_out: Sequence[tuple[float, PairedComparison, int]], *, certificates: int,
    confidence: float = CERTIFICATE_CONFIDENCE, target: float | None = None,
    collapsed: bool = False,
) -> Certificate:
    """Bound the gain of every value looked at, simultaneously, at ``confidence`` over
    ``certificates`` certificates of the run.

    ``grid`` holds (value, paired comparison on the train pool); ``held_out`` holds (value,
    comparison on held-out scenarios, number of looks its sequential test planned).
    """
    alpha = (1.0 - confidence) / max(1, certificates)
    count = len(grid) + len(held_out)
    each = alpha / max(1, count)
    bounds = []
    for value, comparison in grid:
        ucb, sds = upper_bound(comparison, each)
        bounds.append(ValueBound(value, comparison.mean, ucb, comparison.n, "train grid", sds))
    for value, comparison, looks in held_out:
        ucb, sds = upper_bound(comparison, each / max(1, looks))
        bounds.append(ValueBound(value, comparison.mean, ucb, comparison.n, "held-out", sds))
    bound = max((b.bound for b in bounds), default=0.0)
    worst = max(bounds, key=lambda b: b.bound) if bounds else None
    narrow = None
    if target is not None and worst is not None and bound > target:
        narrow = scenarios_to_narrow(worst.sd_by_family, max(target - worst.mean, target / 2),
                                     each, len(constant.reached_families))
    return Certificate(
        constant=constant.name, incumbent=incumbent, low=constant.search_low,
        high=constant.search_high, bound=bound, confidence=confidence, level_each=each,
        families=tuple(constant.reached_families), values=tuple(bounds), collapsed=collapsed,
        narrow_with=narrow, target=target)
