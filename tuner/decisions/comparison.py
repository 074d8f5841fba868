"""Paired comparisons of two sets of constant values on the same scenarios, family by family.

Common random numbers: candidate and reference run on exactly the same scenarios, so each
scenario's delta carries the effect and none of its difficulty. Families are strata: each
family's mean delta counts equally in the overall figure, and each family is also judged on
its own, because a value that helps one primitive may hurt another that reads it too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from scenarios import ScenarioSeed
from tuner.catalog import Constant
from tuner.decisions.stats import PairedTest, paired_test
from tuner.defaults import DEFAULT_ALPHA
from tuner.evaluation.engine import Evaluation, evaluate_values, family_mean


@dataclass(frozen=True)
class FamilyComparison:
    """One family's paired deltas (candidate minus reference) and their test."""

    family: str
    mean: float
    p_value: float
    p_harm: float
    ci_low: float
    ci_high: float
    n: int
    deltas: dict[str, float] = field(default_factory=dict)

    def harm_p(self, margin: float) -> float:
        """One-sided p-value that the loss is beyond ``margin`` (H1: mean delta < -margin).

        Sign flips of ``delta + margin``: under the boundary hypothesis (mean delta = -margin)
        each shifted delta is as likely +d as -d.
        """
        shifted = [d + margin for d in self.deltas.values()]
        return paired_test([shifted]).p_harm if shifted else 1.0

    def harms(self, *, margin: float, alpha: float = DEFAULT_ALPHA) -> bool:
        """The no-harm rule: a loss significantly beyond ``margin`` (non-inferiority).

        It does not grow stricter as pools grow: a loss smaller than the margin never blocks,
        however many scenarios measure it; a loss beyond it blocks once the data show it.
        """
        return self.mean < -margin and self.harm_p(margin) < alpha


@dataclass(frozen=True)
class PairedComparison:
    """Equal-weight mean delta over families, its sign-flip p-value, CI, and every family."""

    mean: float
    ci_low: float
    ci_high: float
    n: int
    p_value: float = 1.0
    families: dict[str, FamilyComparison] = field(default_factory=dict)
    n_nonzero: int = 0

    @property
    def deltas(self) -> dict[str, float]:
        return {k: v for fc in self.families.values() for k, v in fc.deltas.items()}

    def regressions(self, *, margin: float, alpha: float = DEFAULT_ALPHA) -> dict[str, float]:
        """Families whose loss is significantly beyond ``margin``, with their mean deltas.

        ``alpha`` is shared over the families (alpha / F each): a value that costs no family
        more than the margin is wrongly blocked at most ``alpha`` of the time, however many
        families read it.
        """
        each = alpha / max(1, len(self.families))
        return {f: fc.mean for f, fc in self.families.items()
                if fc.harms(margin=margin, alpha=each)}

    def losses(self) -> dict[str, float]:
        """Every family that loses on average (shown to the reviewer, blocking or not)."""
        return {f: fc.mean for f, fc in self.families.items() if fc.mean < 0}

    def to_dict(self) -> dict:
        return asdict(self)


def compare_evaluations(
    candidate: Mapping[str, Evaluation], reference: Mapping[str, Evaluation], *,
    level: float | None = None,
) -> PairedComparison:
    """Pair scenarios by label within each family; test the equal-weight mean delta.

    ``level`` is the smallest level the p-value will be judged at (sizes the Monte Carlo).
    """
    families: dict[str, FamilyComparison] = {}
    strata = []
    for family, evaluation in candidate.items():
        ref = reference[family].by_label()
        deltas = {label: score - ref[label] for label, score in evaluation.by_label().items()}
        values = list(deltas.values())
        strata.append(values)
        test = paired_test([values])
        families[family] = FamilyComparison(family, test.mean, test.p_value, test.p_harm,
                                             test.ci_low, test.ci_high, test.n, deltas)
    overall: PairedTest = paired_test(strata, level=level)
    return PairedComparison(overall.mean, overall.ci_low, overall.ci_high, overall.n,
                            overall.p_value, families, overall.n_nonzero)


def compare_values(
    candidate: Mapping[Constant, float], reference: Mapping[Constant, float],
    seeds_by_family: Mapping[str, Sequence[ScenarioSeed]], *, level: float | None = None,
) -> PairedComparison:
    """Run both value sets on the same scenarios of every family and compare them paired."""
    cand = {f: evaluate_values(candidate, seeds) for f, seeds in seeds_by_family.items()}
    ref = {f: evaluate_values(reference, seeds) for f, seeds in seeds_by_family.items()}
    return compare_evaluations(cand, ref, level=level)


class FamilyScorer:
    """Equal-weight mean nDCG@5 of one constant's values over fixed pools, one per family.

    Evaluations are memoised by ``evaluate_values``, so probing, re-scoring and comparing the
    same value again costs nothing.
    """

    def __init__(self, constant: Constant, pools: Mapping[str, Sequence[ScenarioSeed]],
                 baseline: Mapping[Constant, float]) -> None:
        self.constant, self.pools, self.baseline = constant, dict(pools), dict(baseline)

    def values(self, value: float) -> dict[Constant, float]:
        return {**{c: v for c, v in self.baseline.items() if c != self.constant},
                self.constant: value}

    def evaluations(self, value: float) -> dict[str, Evaluation]:
        return {f: evaluate_values(self.values(value), seeds) for f, seeds in self.pools.items()}

    def __call__(self, value: float) -> float:
        return family_mean(self.evaluations(value))

    def compare(self, value: float, reference: float) -> PairedComparison:
        return compare_evaluations(self.evaluations(value), self.evaluations(reference))

    def per_family(self, value: float) -> dict[str, float]:
        return {f: e.mean_score for f, e in self.evaluations(value).items()}
