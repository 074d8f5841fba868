"""Confirmation: each screened value alone against the incumbent, Holm over those that arrive.

Only values that passed the screen reach this stage, so alpha is spent only on looks that
happen. The confirmation bank is one no search or screen has touched, so which values arrive
here (chosen on other seeds) cannot bias these tests; Holm's step-down over the m arrivals then
keeps the family-wise false-accept rate of the whole run at alpha, in any catalog order.

Each value's test is sequential (``sequential.SequentialComparison``): its look k may accept at
``pi_k * alpha / m_left``, where m_left counts the values not yet accepted. When one is
accepted, the others' levels rise and their earlier looks are judged again (alpha recycling,
valid because each value's looks split its share in fixed proportions). A value stopped for
futility keeps its share (non-binding); one harmful beyond the margin is never accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tuner.catalog import Constant
from tuner.decisions.comparison import PairedComparison, compare_values
from tuner.decisions.gate import significant
from tuner.decisions.sequential import SequentialComparison
from tuner.decisions.stages import (
    StageResult,
    StageRules,
    admissible,
    futility,
    reachable,
    stage_result,
)


@dataclass
class Candidate:
    """One screened value on its way through confirmation."""

    constant: Constant
    value: float
    test: SequentialComparison
    stopped: str | None = None
    accepted_at: int | None = None
    accepted_level: float | None = None


def confirm(candidates: Mapping[str, Candidate], *, alpha: float,
            rules: StageRules) -> dict[str, StageResult]:
    """Run every candidate's looks in rounds; accept by Holm with alpha recycling."""
    m = len(candidates)
    while True:
        active = [c for c in candidates.values()
                  if c.accepted_at is None and c.stopped is None and not c.test.done]
        for candidate in active:
            candidate.stopped = futility(candidate.test.next_look(), rules)
        _holm_pass(candidates, m, alpha, rules)
        if not active:
            break
    return {name: _result(c, m, alpha, rules) for name, c in candidates.items()}


def _holm_pass(candidates: Mapping[str, Candidate], m: int, alpha: float,
               rules: StageRules) -> None:
    """Accept any candidate one of whose looks clears its share of alpha / m_left; repeat
    while acceptances raise the others' levels."""
    changed = True
    while changed:
        changed = False
        left = m - sum(c.accepted_at is not None for c in candidates.values())
        for candidate in candidates.values():
            if candidate.accepted_at is not None or candidate.stopped == "family regression":
                continue
            for look in candidate.test.records:
                level = look.weight * alpha / left
                if significant(look.comparison.p_value, level) and admissible(look, rules):
                    candidate.accepted_at, candidate.accepted_level = look.index, level
                    changed = True
                    break
            if changed:
                break


def _result(candidate: Candidate, m: int, alpha: float, rules: StageRules) -> StageResult:
    test = candidate.test
    if candidate.accepted_at is not None:
        return stage_result("confirmation", test, passed=True, outcome="confirmed",
                            level=alpha / m, rules=rules, accepted_at=candidate.accepted_at,
                            accepted_level=candidate.accepted_level)
    last = test.last
    assert last is not None
    outcome = candidate.stopped or "not confirmed"
    if outcome == "not confirmed" and not reachable(last, last.weight * alpha / m):
        outcome = "test floor"
    c = last.comparison
    detail = (f"Δ {c.mean:+.4f} [{c.ci_low:+.4f}, {c.ci_high:+.4f}], p {c.p_value:.3g} at "
              f"look {last.index} of {test.planned} (Holm level {alpha / m:.3g} split over "
              f"looks) over {c.n} confirmation scenarios")
    return stage_result("confirmation", test, passed=False, outcome=outcome, level=alpha / m,
                        rules=rules, detail=detail)


def joint_check(values: Mapping[Constant, float], incumbent: Mapping[Constant, float],
                seeds: Mapping[str, list], *, rules: StageRules, bank: str) -> dict:
    """Every confirmed value together against the incumbent on the confirmation seeds.

    Each value already holds on its own; this shows whether they interfere. The set is ready
    when it gains on the equal-weight mean and harms no family beyond the margin; otherwise
    leave-one-out names the value whose removal helps most.
    """
    together = compare_values({**incumbent, **values}, incumbent, seeds)
    regressions = together.regressions(margin=rules.harm_margin, alpha=rules.harm_alpha)
    ready = together.mean > 0 and not regressions
    result = {"mean": together.mean, "ci_low": together.ci_low, "ci_high": together.ci_high,
              "p_value": together.p_value, "n": together.n, "ready": ready, "bank": bank,
              "confirmation": True, "constants": {c.name: v for c, v in values.items()},
              "incumbent": {c.name: v for c, v in incumbent.items()},
              "families": {f: fc.mean for f, fc in together.families.items()},
              "regressions": regressions, "margin": rules.harm_margin,
              "drop": None, "leave_one_out": {}}
    if not ready and len(values) > 1:
        loo = {c.name: _without(values, incumbent, c, seeds) for c in values}
        result["leave_one_out"] = {k: v.mean for k, v in loo.items()}
        result["drop"] = max(loo, key=lambda k: loo[k].mean)
    elif not ready:
        result["drop"] = next(iter(values)).name
    return result


def _without(values: Mapping[Constant, float], incumbent: Mapping[Constant, float],
             constant: Constant, seeds: Mapping[str, list]) -> PairedComparison:
    rest = {c: v for c, v in values.items() if c != constant}
    families = {f for c in rest for f in c.reached_families}
    return compare_values({**incumbent, **rest}, incumbent,
                          {f: s for f, s in seeds.items() if f in families})
