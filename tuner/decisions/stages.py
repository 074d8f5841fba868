"""The screen and the rules every sequential stage shares: when a look may accept, when to stop.

A proposal chosen on train seeds is *screened* on the held-out pool of the decision bank: a
sequential paired test against the incumbent at ``screen_alpha`` (a filter: a false pass costs a
confirmation, never an accept). Only values that pass reach the confirmation bank, where alpha
is spent (``confirmation.py``). Both stages apply the same rules to every look:

- **harm**: a family whose loss is significantly beyond the no-harm margin stops the value
  (non-inferiority, ``comparison.FamilyComparison.harms``);
- **admissible**: a look may accept only if its gain reaches ``min_improvement``, no family is
  harmed, and its test can reach its level at all (``stats.smallest_p``: with k changed
  scenarios an exact sign-flip test never goes below 2 ** -k);
- **futile**: stop looking once even the optimistic 90% bound of the gain is below
  ``min_improvement``, or, from the second look on, the estimate is not above 0 (non-binding:
  the value keeps its alpha share; a real +0.015 with SE 0.007 at look 2 stops 2% of the time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tuner.decisions.certificate import upper_bound
from tuner.decisions.gate import significant
from tuner.decisions.sequential import LookRecord, SequentialComparison
from tuner.decisions.stats import resamples_for, smallest_p
from tuner.defaults import (
    DEFAULT_HARM_MARGIN,
    DEFAULT_MIN_IMPROVEMENT,
    DEFAULT_SCREEN_ALPHA,
)

FUTILITY_LEVEL = 0.10  # stop when the 90% upper bound of the gain is below min_improvement
HARM_ALPHA = 0.05  # split over a value's families; a wrong block costs power, never an accept


@dataclass(frozen=True)
class StageRules:
    """What every look of a stage is judged by."""

    min_improvement: float = DEFAULT_MIN_IMPROVEMENT
    harm_margin: float = DEFAULT_HARM_MARGIN
    harm_alpha: float = HARM_ALPHA


@dataclass
class StageResult:
    """How a sequential stage ended for one value."""

    stage: str  # "screen" or "confirmation"
    passed: bool
    outcome: str  # passed, family regression, futile, not significant, test floor, ...
    level: float  # the stage's level (screen alpha; confirmation: alpha / m at the start)
    looks: list[dict] = field(default_factory=list)
    planned_looks: int = 0
    regressions: dict[str, float] = field(default_factory=dict)
    mean: float = 0.0
    p_value: float = 1.0
    ci_low: float = 0.0
    ci_high: float = 0.0
    n: int = 0
    families: dict[str, float] = field(default_factory=dict)
    accepted_at: int | None = None
    accepted_level: float | None = None  # the level the accepting look cleared
    detail: str = ""

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def harmed(look: LookRecord, rules: StageRules) -> dict[str, float]:
    return look.comparison.regressions(margin=rules.harm_margin, alpha=rules.harm_alpha)


def reachable(look: LookRecord, level: float) -> bool:
    """Can this look's test go below ``level`` at all? (no floor above the level)"""
    comparison = look.comparison
    return smallest_p(comparison.n_nonzero, resamples_for(level)) < level


def admissible(look: LookRecord, rules: StageRules) -> bool:
    """Everything but the p-value: enough gain and no family harmed beyond the margin."""
    return look.comparison.mean >= rules.min_improvement and not harmed(look, rules)


def futility(look: LookRecord, rules: StageRules) -> str | None:
    """A reason to stop looking at this value, or None to go on."""
    regressions = harmed(look, rules)
    if regressions:
        return "family regression"
    bound, _ = upper_bound(look.comparison, FUTILITY_LEVEL)
    if bound < rules.min_improvement or (look.index >= 2 and look.comparison.mean <= 0):
        return "futile"
    return None


def stage_result(stage: str, test: SequentialComparison, *, passed: bool, outcome: str,
                 level: float, rules: StageRules, accepted_at: int | None = None,
                 accepted_level: float | None = None, detail: str = "") -> StageResult:
    """Summarise a stage from its looks (the accepting look, else the last one)."""
    looks = test.records
    chosen = next((r for r in looks if r.index == accepted_at), looks[-1] if looks else None)
    result = StageResult(stage=stage, passed=passed, outcome=outcome, level=level,
                         looks=test.looks_summary(), planned_looks=test.planned,
                         accepted_at=accepted_at, accepted_level=accepted_level,
                         detail=detail)
    if chosen is not None:
        c = chosen.comparison
        result.mean, result.p_value, result.ci_low, result.ci_high, result.n = (
            c.mean, c.p_value, c.ci_low, c.ci_high, c.n)
        result.families = {f: fc.mean for f, fc in c.families.items()}
        result.regressions = harmed(chosen, rules)
    return result


def run_screen(test: SequentialComparison, *, alpha: float = DEFAULT_SCREEN_ALPHA,
               rules: StageRules = StageRules()) -> StageResult:
    """Look until the value passes, is harmful, is futile, or the pool is used up."""
    stop = None
    while not test.done and stop is None:
        look = test.next_look()
        level = look.weight * alpha
        if significant(look.comparison.p_value, level) and admissible(look, rules):
            return stage_result("screen", test, passed=True, outcome="passed", level=alpha,
                                rules=rules, accepted_at=look.index, accepted_level=level)
        stop = futility(look, rules)
    last = test.last
    assert last is not None
    if stop is None:
        level = last.weight * alpha
        stop = "not significant" if reachable(last, level) else "test floor"
        if last.comparison.mean < rules.min_improvement:
            stop = "no validation improvement"
    return stage_result("screen", test, passed=False, outcome=stop, level=alpha, rules=rules,
                        detail=_detail(stop, last, alpha, rules))


def _detail(outcome: str, look: LookRecord, alpha: float, rules: StageRules) -> str:
    c = look.comparison
    level = look.weight * alpha
    if outcome == "test floor":
        return (f"only {c.n_nonzero} of {c.n} scenarios changed: the sign-flip test cannot go "
                f"below {smallest_p(c.n_nonzero):.3g}, above its level {level:.3g}")
    if outcome == "family regression":
        worst = harmed(look, rules)
        return "loses beyond the margin " + f"{rules.harm_margin:g} in " + ", ".join(
            f"{f} {d:+.4f}" for f, d in sorted(worst.items()))
    return (f"Δ {c.mean:+.4f} [{c.ci_low:+.4f}, {c.ci_high:+.4f}], p {c.p_value:.3g} "
            f"at look {look.index} (level {level:.3g}) over {c.n} scenarios")
