"""A certificate when nothing is accepted: how much better any value looked at could be.

For a constant that is not accepted, the certificate is an upper confidence bound on the gain

    (weighted mean score at v - at the incumbent)

of each value v looked at, simultaneous over those values and over every constant the run
decides (a count fixed before any data: constants x (grid values + the proposal)). The values
are a grid fixed before any data (``grid_values``), scored paired on the whole train pool —
fixed values are unbiased there, whatever the study chose — and the proposal, scored on
held-out scenarios. The bound is the anytime-valid bounded-mean bound of ``betting.py``: it
holds for sparse deltas (a value that changes 1% of scenarios by +0.5) as for dense ones, and a
value that changed nothing seen is still bounded by what the unseen scenarios could do (the
bound shrinks like log(1/level) / n, never to 0).

The certificate names what it bounds: "no value of 0.01, 0.05, 0.3, 1.2 and 0.1346 beats 0.1
by more than 0.013" is about those five values, not the range between them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from tuner.catalog import Constant
from tuner.decisions import betting
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
    decided: int = 1  # constants the run decides: the correction's count, fixed before data

    @property
    def worst(self) -> ValueBound | None:
        return max(self.values, key=lambda v: v.bound) if self.values else None

    def text(self) -> str:
        where = f"[{self.low:.4g}, {self.high:.4g}]"
        families = (f"{len(self.families)} famil"
                    f"{'y' if len(self.families) == 1 else 'ies'}")
        if not self.values:
            return (f"nothing was scored in {where}: no bound tighter than the range, "
                    f"{self.bound:g} ({families})")
        named = _listing(list(dict.fromkeys(f"{v.value:.4g}" for v in self.values)))
        scope = (f"{self.confidence:.0%} simultaneous over the run's {self.decided} constant"
                 f"{'' if self.decided == 1 else 's'}, {families}")
        if self.collapsed:
            n = max(v.n for v in self.values)
            return (f"no value of {named} changed any of the {n} scenarios scored; none beats "
                    f"{self.incumbent:.4g} by more than {self.bound:.4f} ({scope}; the bound "
                    f"is what the unseen scenarios could still do)")
        head = (f"no value of {named} beats {self.incumbent:.4g} by more than "
                f"{self.bound:.4f} ({scope}; these values, not the range {where} between them)")
        if self.narrow_with and self.target is not None:
            head += (f"; ~{self.narrow_with} train scenarios per family would bound it at "
                     f"{self.target:.3f}")
        return head

    def to_dict(self) -> dict:
        data = asdict(self)
        data["text"] = self.text()
        return data


def upper_bound(comparison: PairedComparison, level: float) -> tuple[float, dict[str, float]]:
    """Anytime-valid one-sided (1 - level) upper bound of the weighted mean delta (betting,
    valid for any deltas in [-1, 1]), and each family's delta SD (to say how many scenarios
    would narrow it)."""
    if not comparison.families or comparison.rounds.size == 0:
        return math.inf, {}
    sds = {name: float(fc.values.std(ddof=1)) if fc.n > 1 else 0.0
           for name, fc in comparison.families.items()}
    return betting.upper_bound(comparison.rounds, level=level), sds


def _listing(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


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
    collapsed: bool = False, values_each: int | None = None,
) -> Certificate:
    """Bound the gain of every value looked at, simultaneously, at ``confidence`` over the
    ``certificates`` constants the run decides (fixed before any data, not the number refused).

    ``grid`` holds (value, paired comparison on the train pool); ``held_out`` holds (value,
    comparison on held-out scenarios, looks planned — kept for the record: anytime bounds need
    no share per look). ``values_each`` is the number of values each constant may bound (its
    grid and one proposal), fixed by the catalog; by default the ones given here.
    """
    alpha = (1.0 - confidence) / max(1, certificates)
    count = values_each if values_each is not None else len(grid) + len(held_out)
    each = alpha / max(1, count)
    bounds = []
    for value, comparison in grid:
        ucb, sds = upper_bound(comparison, each)
        bounds.append(ValueBound(value, comparison.mean, ucb, comparison.n, "train grid", sds))
    for value, comparison, _looks in held_out:
        ucb, sds = upper_bound(comparison, each)
        bounds.append(ValueBound(value, comparison.mean, ucb, comparison.n, "held-out", sds))
    bound = max((b.bound for b in bounds), default=betting.HIGH)  # nothing scored: the range
    worst = max(bounds, key=lambda b: b.bound) if bounds else None
    narrow = None
    if target is not None and worst is not None and bound > target and not collapsed:
        narrow = scenarios_to_narrow(worst.sd_by_family, max(target - worst.mean, target / 2),
                                     each, len(constant.reached_families))
    return Certificate(
        constant=constant.name, incumbent=incumbent, low=constant.search_low,
        high=constant.search_high, bound=bound, confidence=confidence, level_each=each,
        families=tuple(constant.reached_families), values=tuple(bounds), collapsed=collapsed,
        narrow_with=narrow, target=target, decided=max(1, certificates))
