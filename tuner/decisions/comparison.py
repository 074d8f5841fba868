"""Paired comparisons of two sets of constant values on the same scenarios, family by family.

Common random numbers: candidate and reference run on exactly the same scenarios, so each
scenario's delta carries the effect and none of its difficulty. Families are strata: each
family's mean delta counts equally in the overall figure, and each family is also judged on
its own, because a value that helps one primitive may hurt another that reads it too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from scenarios import ScenarioSeed
from tuner.catalog import Constant
from tuner.catalog.profile import active_profile
from tuner.decisions import betting
from tuner.defaults import DEFAULT_ALPHA
from tuner.evaluation.engine import (
    Evaluation,
    Request,
    evaluate_families,
    evaluate_values,
    family_mean,
    flat_seeds,
    prefetch,
)

DISPLAY_LEVEL = 0.05  # the two-sided level of every interval shown (2.5% each side)


@dataclass(frozen=True)
class ScenarioErrors:
    """Scenarios that raised on one side only: a crash scores 0, so it fakes a gain or a loss.

    ``candidate``: labels where the value under test raised and the incumbent did not;
    ``incumbent``: the reverse. Scenarios that raise on both sides are scored 0 on both and
    carry no delta either way.
    """

    candidate: dict[str, str] = field(default_factory=dict)
    incumbent: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.candidate or self.incumbent)

    def to_dict(self) -> dict:
        return {"candidate": dict(self.candidate), "incumbent": dict(self.incumbent)}


class Shown:
    """The anytime-valid 95% interval of the mean of ``sample()``, for display only."""

    def sample(self) -> np.ndarray:
        raise NotImplementedError

    @cached_property
    def ci(self) -> tuple[float, float]:
        half = DISPLAY_LEVEL / 2
        return (betting.lower_bound(self.sample(), level=half),
                betting.upper_bound(self.sample(), level=half))

    @property
    def ci_low(self) -> float:
        return self.ci[0]

    @property
    def ci_high(self) -> float:
        return self.ci[1]


@dataclass(frozen=True)
class FamilyComparison(Shown):
    """One family's paired deltas (candidate minus reference), in pool order."""

    family: str
    deltas: dict[str, float] = field(default_factory=dict)
    errors: ScenarioErrors = field(default_factory=ScenarioErrors)

    @cached_property
    def values(self) -> np.ndarray:
        return np.fromiter(self.deltas.values(), dtype=float, count=len(self.deltas))

    @property
    def n(self) -> int:
        return len(self.deltas)

    @property
    def mean(self) -> float:
        return float(self.values.mean()) if self.n else 0.0

    def sample(self) -> np.ndarray:
        return self.values

    def non_inferiority_p(self, margin: float, *, design_level: float = DEFAULT_ALPHA) -> float:
        """Anytime p-value of H0: mean delta <= -margin. Below alpha: no harm beyond the margin
        is *shown*, for any bounded distribution of deltas (the no-harm rule's evidence)."""
        return betting.p_value(self.values, -margin, design_level=design_level)

    def harm_p(self, margin: float, *, design_level: float = DEFAULT_ALPHA) -> float:
        """Anytime p-value of H0: mean delta >= -margin. Below alpha: a loss beyond the margin
        is *proven* (used only to stop looking, never to accept)."""
        return betting.p_value(-self.values, margin, design_level=design_level)

    def to_dict(self) -> dict:
        return {"family": self.family, "mean": self.mean, "n": self.n,
                "errors": self.errors.to_dict()}


@dataclass(frozen=True)
class PairedComparison(Shown):
    """Paired deltas of every family and the weighted mean over families (equal by default).

    Decisions read the deltas through ``tuner.decisions.betting`` (tests of the mean, valid for
    any bounded distribution); the figures here are for display.
    """

    families: dict[str, FamilyComparison] = field(default_factory=dict)
    weights: dict[str, float] | None = None

    @property
    def deltas(self) -> dict[str, float]:
        return {k: v for fc in self.families.values() for k, v in fc.deltas.items()}

    @cached_property
    def rounds(self) -> np.ndarray:
        """Round i: the weighted mean over families of each family's i-th delta."""
        return betting.rounds({f: fc.values for f, fc in self.families.items()}, self.weights)

    @property
    def mean(self) -> float:
        """The weighted mean over families of each family's mean delta."""
        used = {f: fc for f, fc in self.families.items()
                if fc.n and (self.weights is None or self.weights.get(f, 1.0) > 0)}
        if not used:
            return 0.0
        w = {f: 1.0 if self.weights is None else float(self.weights.get(f, 1.0)) for f in used}
        return float(sum(w[f] * fc.mean for f, fc in used.items()) / sum(w.values()))

    @property
    def n(self) -> int:
        return sum(fc.n for fc in self.families.values())

    @property
    def n_nonzero(self) -> int:
        return sum(int(np.count_nonzero(fc.values)) for fc in self.families.values())

    def sample(self) -> np.ndarray:
        return self.rounds

    @property
    def p_value(self) -> float:
        """Anytime p-value of H0: weighted mean delta <= 0 (display; stages test
        min_improvement)."""
        return betting.p_value(self.rounds, 0.0, design_level=DEFAULT_ALPHA)

    @property
    def errors(self) -> ScenarioErrors:
        candidate, incumbent = {}, {}
        for fc in self.families.values():
            candidate.update(fc.errors.candidate)
            incumbent.update(fc.errors.incumbent)
        return ScenarioErrors(candidate, incumbent)

    def judged(self) -> dict[str, FamilyComparison]:
        """The families a decision answers to: every one with a positive weight (a deployment
        profile's weight-0 family is not its concern)."""
        return {f: fc for f, fc in self.families.items()
                if self.weights is None or self.weights.get(f, 1.0) > 0}

    def not_shown_harmless(self, *, margin: float, alpha: float = DEFAULT_ALPHA
                           ) -> dict[str, float]:
        """Families where no harm beyond ``margin`` is shown yet (non-inferiority not reached),
        with their mean deltas. Each family is judged at ``alpha``: an intersection-union test,
        so no split over families is needed (a value is accepted only if every family shows
        it)."""
        return {f: fc.mean for f, fc in self.judged().items()
                if fc.non_inferiority_p(margin, design_level=alpha) >= alpha}

    def regressions(self, *, margin: float, alpha: float = DEFAULT_ALPHA) -> dict[str, float]:
        """Families whose loss beyond ``margin`` is proven at ``alpha`` (a reason to stop)."""
        return {f: fc.mean for f, fc in self.judged().items()
                if fc.mean < -margin and fc.harm_p(margin, design_level=alpha) < alpha}

    def losses(self) -> dict[str, float]:
        """Every family that loses on average (shown to the reviewer, blocking or not)."""
        return {f: fc.mean for f, fc in self.families.items() if fc.mean < 0}

    def to_dict(self) -> dict:
        return {"mean": self.mean, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n,
                "n_nonzero": self.n_nonzero, "p_value": self.p_value,
                "families": {f: fc.to_dict() for f, fc in self.families.items()},
                "errors": self.errors.to_dict()}


def compare_deltas(deltas: Mapping[str, Mapping[str, float]], *,
                   weights: Mapping[str, float] | None = None,
                   errors: Mapping[str, ScenarioErrors] | None = None) -> PairedComparison:
    """A comparison from per-family deltas (label -> delta, in pool order): what the engine
    builds from two evaluations, and what a simulation builds from synthetic streams."""
    errors = errors or {}
    families = {f: FamilyComparison(f, dict(d), errors.get(f, ScenarioErrors()))
                for f, d in deltas.items()}
    return PairedComparison(families, dict(weights) if weights is not None else None)


def compare_evaluations(
    candidate: Mapping[str, Evaluation], reference: Mapping[str, Evaluation], *,
    level: float | None = None, weights: Mapping[str, float] | None = None,
) -> PairedComparison:
    """Pair scenarios by label within each family; keep the one-sided errors beside the deltas.

    ``level`` is accepted for callers of the old test and ignored: the betting tests need no
    Monte Carlo sized to a level. ``weights`` default to the active deployment profile's
    (``tuner.catalog.profile``); under the default profile they stay None: equal weights.
    """
    del level
    if weights is None:
        profile = active_profile()
        if not profile.is_default:
            weights = profile.family_weights(candidate)
    deltas, errors = {}, {}
    for family, evaluation in candidate.items():
        ref = reference[family]
        ref_scores = ref.by_label()
        deltas[family] = {label: score - ref_scores[label]
                          for label, score in evaluation.by_label().items()}
        cand_err, ref_err = evaluation.errors, ref.errors
        errors[family] = ScenarioErrors(
            {k: v for k, v in cand_err.items() if k not in ref_err},
            {k: v for k, v in ref_err.items() if k not in cand_err})
    return compare_deltas(deltas, weights=weights, errors=errors)


def compare_values(
    candidate: Mapping[Constant, float], reference: Mapping[Constant, float],
    seeds_by_family: Mapping[str, Sequence[ScenarioSeed]], *, level: float | None = None,
    weights: Mapping[str, float] | None = None,
) -> PairedComparison:
    """Run both value sets on the same scenarios of every family and compare them paired
    (one pool request for both sides)."""
    prefetch(comparison_requests(candidate, reference, seeds_by_family))
    cand = evaluate_families(candidate, seeds_by_family, evaluate=evaluate_values)
    ref = evaluate_families(reference, seeds_by_family, evaluate=evaluate_values)
    return compare_evaluations(cand, ref, level=level, weights=weights)


def comparison_requests(candidate: Mapping[Constant, float], reference: Mapping[Constant, float],
                        seeds_by_family: Mapping[str, Sequence[ScenarioSeed]]) -> list[Request]:
    """What ``compare_values`` evaluates, for ``engine.prefetch`` (several comparisons of a
    round in one pool request)."""
    flat = flat_seeds(seeds_by_family)
    return [(candidate, flat), (reference, flat)]


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
        return evaluate_families(self.values(value), self.pools, evaluate=evaluate_values)

    def __call__(self, value: float) -> float:
        return family_mean(self.evaluations(value))

    def prefetch(self, values: Sequence[float]) -> None:
        """Score ``values`` in one pool request, so the calls that follow read the memo."""
        flat = flat_seeds(self.pools)
        prefetch([(self.values(v), flat) for v in values])

    def compare(self, value: float, reference: float) -> PairedComparison:
        return compare_evaluations(self.evaluations(value), self.evaluations(reference))

    def per_family(self, value: float) -> dict[str, float]:
        return {f: e.mean_score for f, e in self.evaluations(value).items()}
