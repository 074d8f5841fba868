"""The screen and the rules every sequential stage shares: when a look may accept, when to stop.

A proposal chosen on train seeds is *screened* on the held-out pool of the decision bank: one
look (``FIRST_LOOK`` scenarios per family) against the incumbent, a filter that refuses only what
is clearly not worth confirming (a crash on one side, a proven loss beyond the margin, or an
upper bound of the gain below the bar at ``screen_alpha``). A false pass costs confirmation
looks, never an accept; a wrongly refused value is a power loss, measured by
``benchmarks/bench_decisions.py``. Only values that pass reach the confirmation bank, where
alpha is spent (``confirmation.py``); a value with a real gain is tested once, there, not walked
twice. Every test that can accept is a test of the **mean**, valid for any distribution of
per-scenario deltas in [-1, 1] and at any look (``betting.py``):

- **gain**: H0 "weighted mean delta <= min_improvement" rejected (``efficacy_p``), so a value
  that gains a little almost everywhere and loses a lot rarely is judged by its mean;
- **no harm shown** (non-inferiority the right way round): every family the value reaches must
  show its mean delta above ``-harm_margin`` at ``harm_alpha`` (its anytime lower bound clears
  the margin). An intersection-union test: each family at the full level, no split. The
  confirmation requires it; the screen, a filter, only refuses a loss beyond the margin that
  is *proven* (``screenable``), which saves ~200 scenarios per unchanged family;
- **no one-sided crashes**: a look where one side raised in scenarios the other did not cannot
  accept (a crash scores 0 and would fake a gain);
- **futile** (non-binding: it can only lose power, never add a false accept): stop once an
  upper bound of the gain is below ``min_improvement`` (the anytime 90% bound, or the normal
  approximation's one-sided ``FUTILITY_NORMAL_LEVEL`` bound, which stops a near-inert null at
  its first look where a range-only bound needs ~460 rounds to rule out a sparse +0.005), or
  from 169 scenarios per family on the estimate is not above 0, or a family's loss beyond the
  margin is proven.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from tuner.decisions import betting
from tuner.decisions.power import z_of
from tuner.decisions.sequential import LookRecord, SequentialComparison
from tuner.defaults import (
    DEFAULT_ALPHA,
    DEFAULT_HARM_MARGIN,
    DEFAULT_MIN_IMPROVEMENT,
    DEFAULT_SCREEN_ALPHA,
)

FUTILITY_LEVEL = 0.10  # stop when the anytime 90% upper bound of the gain is below the bar
# ... or when the estimate is not above 0 from this many scenarios per family on: at 75 a true
# +0.03 at SD 0.19 showed an estimate <= 0 in 9% of draws per stage, which cost a fifth of the
# recoveries in bench_decisions; from 169 it is 2%. (A size, not a look number, so the rule
# does not move when the looks get finer.)
FUTILITY_SIGN_SIZE = 169
# ... or when the normal approximation's one-sided bound at this level is below the bar. Not a
# valid test (it is not one: futility is non-binding), a cheap stop for what cannot be worth a
# patch: a true +0.03 at SD 0.19 is stopped by it at 50 scenarios in 0.2% of draws.
FUTILITY_NORMAL_LEVEL = 0.02
HARM_ALPHA = DEFAULT_ALPHA  # each family's no-harm bound; a wrong block costs power only
SCENARIO_ERRORS = "scenario errors"


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
    outcome: str  # passed, confirmed, family regression, futile, not significant, ...
    level: float  # the stage's level (screen alpha; confirmation: alpha / m at the start)
    looks: list[dict] = field(default_factory=list)
    planned_looks: int = 0
    regressions: dict[str, float] = field(default_factory=dict)  # proven losses
    unproven: dict[str, float] = field(default_factory=dict)  # no harm not shown yet
    mean: float = 0.0
    p_value: float = 1.0
    ci_low: float = 0.0
    ci_high: float = 0.0
    n: int = 0
    families: dict[str, float] = field(default_factory=dict)
    accepted_at: int | None = None
    accepted_level: float | None = None  # the level the accepting look cleared
    lower_bound: float | None = None  # anytime lower bound of the mean at the accepting level
    latest: dict = field(default_factory=dict)  # the last look taken, beside the deciding one
    errors: dict = field(default_factory=dict)  # one-sided scenario errors at the last look
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def efficacy_p(look: LookRecord, rules: StageRules, design_level: float) -> float:
    """Anytime p-value of H0: weighted mean delta <= min_improvement at this look."""
    return betting.p_value(look.comparison.rounds, rules.min_improvement,
                           design_level=design_level)


def harmed(look: LookRecord, rules: StageRules) -> dict[str, float]:
    """Families whose loss beyond the margin is proven (a reason to stop, never to accept)."""
    return look.comparison.regressions(margin=rules.harm_margin, alpha=rules.harm_alpha)


def unproven(look: LookRecord, rules: StageRules) -> dict[str, float]:
    """Families where no harm beyond the margin is not shown yet (they block an accept)."""
    return look.comparison.not_shown_harmless(margin=rules.harm_margin, alpha=rules.harm_alpha)


def admissible(look: LookRecord, rules: StageRules) -> bool:
    """Everything but the gain: no harm shown absent in every family, no one-sided crash."""
    return not look.comparison.errors and not unproven(look, rules)


def screenable(look: LookRecord, rules: StageRules) -> bool:
    """The screen's lighter check: no one-sided crash and no loss beyond the margin *proven*.

    Showing no harm in every family costs about 200 scenarios per family even when nothing
    changes there; the screen is a filter (a false pass costs a confirmation, never an accept),
    so it leaves that proof to the confirmation, where every accept must give it."""
    return not look.comparison.errors and not harmed(look, rules)


Efficacy = Callable[[LookRecord, StageRules, float], float]
"""A look's p-value of "no gain worth a patch": ``efficacy_p`` in production; a simulation's
positive control injects a broken one to show that the checks catch it."""


def normal_upper(look: LookRecord, level: float) -> float:
    """The normal approximation's one-sided (1 - level) upper bound of the mean of the rounds
    (for futility only: it is not valid for skewed deltas, and nothing accepts on it)."""
    x = look.comparison.rounds
    if x.size < 2:
        return float("inf")
    return float(x.mean() + z_of(level) * x.std(ddof=1) / math.sqrt(x.size))


def reachable(look: LookRecord, rules: StageRules, *, rounds: int, level: float) -> float:
    """The smallest true mean the betting test could confirm at ``level`` with ``rounds``
    rounds (the pool's last look), optimistically: the bar plus sd * sqrt(2 log(1/level) / n),
    the growth of a capital betting the best constant fraction (the plug-in bets need more).
    A value whose gain is surely below this will not be confirmed however far it walks."""
    x = look.comparison.rounds
    sd = float(x.std(ddof=1)) if x.size > 1 else 0.0
    return rules.min_improvement + sd * math.sqrt(2.0 * math.log(1.0 / level) / max(1, rounds))


def futility(look: LookRecord, rules: StageRules,
             normal_level: float = FUTILITY_NORMAL_LEVEL, *,
             floor: float | None = None) -> str | None:
    """A reason to stop looking at this value, or None to go on (non-binding).

    ``floor`` (default: the bar) is what the gain's normal upper bound must reach to go on;
    the confirmation passes ``reachable``, so a value too small to confirm within the pool
    stops instead of walking it to the end (a 4-family value walking 1,200 rounds costs
    ~10,000 scenario runs)."""
    if look.comparison.errors:
        return SCENARIO_ERRORS
    if harmed(look, rules):
        return "family regression"
    if normal_upper(look, normal_level) < max(rules.min_improvement, floor or 0.0):
        return "futile"
    above = betting.p_value(-look.comparison.rounds, -rules.min_improvement,
                            design_level=FUTILITY_LEVEL)
    if above < FUTILITY_LEVEL or (min(look.sizes.values(), default=0) >= FUTILITY_SIGN_SIZE
                                  and look.comparison.mean <= 0):
        return "futile"
    return None


def stage_result(stage: str, test: SequentialComparison, *, passed: bool, outcome: str,
                 level: float, rules: StageRules, accepted_at: int | None = None,
                 accepted_level: float | None = None, detail: str = "") -> StageResult:
    """Summarise a stage from its looks: the accepting look (else the last) and the last.

    The interval shown is the anytime 95% interval, valid at the look the stage stopped on
    whatever made it stop; an accepted value also carries its lower bound at the level it
    cleared, the figure a reviewer can quote ("the mean gain is at least ...").
    """
    looks = test.records
    chosen = next((r for r in looks if r.index == accepted_at), looks[-1] if looks else None)
    result = StageResult(stage=stage, passed=passed, outcome=outcome, level=level,
                         looks=test.looks_summary(), planned_looks=test.planned,
                         accepted_at=accepted_at, accepted_level=accepted_level,
                         detail=detail)
    if chosen is None:
        return result
    c = chosen.comparison
    result.mean, result.p_value, result.ci_low, result.ci_high, result.n = (
        c.mean, chosen.p_value, c.ci_low, c.ci_high, c.n)
    result.families = {f: fc.mean for f, fc in c.families.items()}
    result.regressions = harmed(chosen, rules)
    result.unproven = unproven(chosen, rules)
    if accepted_level is not None:
        result.lower_bound = betting.lower_bound(c.rounds, level=accepted_level)
    last = looks[-1].comparison
    result.latest = {"look": looks[-1].index, "mean": last.mean, "ci_low": last.ci_low,
                     "ci_high": last.ci_high, "n": last.n}
    result.errors = last.errors.to_dict() if last.errors else {}
    return result


def run_screen(test: SequentialComparison, *, alpha: float = DEFAULT_SCREEN_ALPHA,
               rules: StageRules = StageRules(), efficacy: Efficacy = efficacy_p
               ) -> StageResult:
    """One look: pass unless a one-sided crash, a proven loss beyond the margin, or futility at
    ``alpha`` (the gain's upper bound is below the bar) stops the value here.

    Why one look: the screen only chooses what the confirmation looks at. Walking it until the
    gain is shown (as it once did) tested every real effect twice, the screen's walk costing
    about two thirds of the confirmation's; a value the screen lets through that has no gain
    is stopped by the confirmation's own futility, on the same number of looks the screen
    would have spent. ``efficacy`` is recorded (its p-value at the look), not required.
    """
    look = test.next_look()
    look.p_value = efficacy(look, rules, alpha)
    stop = futility(look, rules, normal_level=alpha)
    if stop is None and screenable(look, rules):
        return stage_result("screen", test, passed=True, outcome="passed", level=alpha,
                            rules=rules, accepted_at=look.index, accepted_level=alpha)
    stop = stop or SCENARIO_ERRORS
    return stage_result("screen", test, passed=False, outcome=stop, level=alpha, rules=rules,
                        detail=_detail(stop, look, alpha, rules))


def _detail(outcome: str, look: LookRecord, level: float, rules: StageRules) -> str:
    c = look.comparison
    if outcome == SCENARIO_ERRORS:
        e = c.errors
        label, error = next(iter({**e.candidate, **e.incumbent}.items()))
        return (f"scenarios raised on one side only: {len(e.candidate)} under the value, "
                f"{len(e.incumbent)} under the incumbent (first: {label}: {error})")
    if outcome == "family regression":
        worst = harmed(look, rules)
        return "loses beyond the margin " + f"{rules.harm_margin:g} in " + ", ".join(
            f"{f} {d:+.4f}" for f, d in sorted(worst.items()))
    if outcome == "harm not ruled out":
        return ("no loss beyond the margin " + f"{rules.harm_margin:g} shown absent in " +
                ", ".join(f"{f} ({d:+.4f})" for f, d in sorted(unproven(look, rules).items())))
    if outcome == "futile":
        return (f"Δ {c.mean:+.4f} over {c.n} held-out scenarios: its one-sided "
                f"{1 - level:.0%} upper bound {normal_upper(look, level):+.4f} (normal "
                f"approximation) is below the bar {rules.min_improvement:g}")
    return (f"Δ {c.mean:+.4f} [{c.ci_low:+.4f}, {c.ci_high:+.4f}], p {look.p_value:.3g} "
            f"(H0: mean ≤ {rules.min_improvement:g}) at look {look.index} (level {level:.3g}) "
            f"over {c.n} scenarios")
