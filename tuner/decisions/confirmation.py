"""Confirmation: each screened value alone against the incumbent, Holm over those that arrive.

Only values that passed the screen reach this stage, so alpha is spent only on values that
arrive. The confirmation bank is one no search or screen has touched, so which values arrive
here (chosen on other seeds) cannot bias these tests; Holm's step-down over the m arrivals then
keeps the family-wise false-accept rate of the whole run at alpha, in any catalog order.

Each value's test is sequential and anytime-valid (``betting.py``): its p-value at any look is
1 / (the largest capital its bets reached so far), a valid p-value whenever the test stops, so
a value may be accepted at any look at ``alpha / m_left`` (m_left: the values not yet accepted).
When one is accepted the others' levels rise and they are judged again (alpha recycling).
A value stopped for futility keeps its share (non-binding); one whose loss beyond the margin is
proven is never accepted, nor one whose no-harm bound has not cleared the margin in every
family it reaches, nor one that crashed scenarios its incumbent did not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tuner.catalog import Constant
from tuner.decisions import betting
from tuner.decisions.comparison import PairedComparison, compare_values
from tuner.decisions.gate import significant
from tuner.decisions.sequential import SequentialComparison, walk_prefixes
from tuner.decisions.stages import (
    Efficacy,
    StageResult,
    StageRules,
    admissible,
    efficacy_p,
    futility,
    reachable,
    stage_result,
    unproven,
)
from tuner.evaluation.engine import prefetch


@dataclass
class Candidate:
    """One screened value on its way through confirmation."""

    constant: Constant
    value: float
    test: SequentialComparison
    stopped: str | None = None
    accepted_at: int | None = None
    accepted_level: float | None = None


def confirm(candidates: Mapping[str, Candidate], *, alpha: float, rules: StageRules,
            efficacy: Efficacy = efficacy_p,
            progress: Callable[[str], None] | None = None) -> dict[str, StageResult]:
    """Run every candidate's looks in rounds; accept by Holm with alpha recycling."""
    m = len(candidates)
    design = alpha / max(1, m)
    while True:
        active = [c for c in candidates.values()
                  if c.accepted_at is None and c.stopped is None and not c.test.done]
        if progress and active:
            progress(_round_text(candidates, active))
        level = alpha / max(1, m - sum(c.accepted_at is not None for c in candidates.values()))
        prefetch([r for c in active for r in c.test.next_requests()])  # one pool request
        for candidate in active:
            look = candidate.test.next_look()
            look.p_value = efficacy(look, rules, design)
            candidate.stopped = futility(look, rules, floor=reachable(
                look, rules, rounds=candidate.test.final_size, level=level))
        _holm_pass(candidates, m, alpha, rules)
        if not active:
            break
    return {name: _result(c, m, alpha, rules) for name, c in candidates.items()}


def _round_text(candidates: Mapping[str, Candidate], active: list[Candidate]) -> str:
    accepted = sum(c.accepted_at is not None for c in candidates.values())
    looking = ", ".join(f"{c.constant.name if c.constant else '?'} (look "
                        f"{len(c.test.records) + 1})" for c in active)
    return f"confirmation: {accepted} confirmed so far; looking at {looking}"


def _holm_pass(candidates: Mapping[str, Candidate], m: int, alpha: float,
               rules: StageRules) -> None:
    """Accept any candidate whose latest look clears alpha / m_left; repeat while acceptances
    raise the others' levels. The latest look's p-value is the smallest so far (running peak
    of the capital), so earlier looks need no second judgement."""
    changed = True
    while changed:
        changed = False
        left = m - sum(c.accepted_at is not None for c in candidates.values())
        for candidate in candidates.values():
            look = candidate.test.last
            if candidate.accepted_at is not None or look is None \
                    or candidate.stopped == "family regression":
                continue
            level = alpha / left
            if significant(look.p_value, level) and admissible(look, rules):
                candidate.accepted_at, candidate.accepted_level = look.index, level
                changed = True
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
    if outcome == "not confirmed" and significant(last.p_value, alpha / m) \
            and unproven(last, rules):
        outcome = "harm not ruled out"
    c = last.comparison
    detail = (f"Δ {c.mean:+.4f} [{c.ci_low:+.4f}, {c.ci_high:+.4f}], p {last.p_value:.3g} "
              f"(H0: mean ≤ {rules.min_improvement:g}) at look {last.index} of {test.planned} "
              f"(Holm level {alpha / m:.3g}) over {c.n} confirmation scenarios")
    return stage_result("confirmation", test, passed=False, outcome=outcome, level=alpha / m,
                        rules=rules, detail=detail)


def joint_check(values: Mapping[Constant, float], incumbent: Mapping[Constant, float],
                seeds: Mapping[str, list], *, rules: StageRules, bank: str) -> dict:
    """Every confirmed value together against the incumbent on the confirmation seeds.

    Each value already holds on its own; this shows whether they interfere. The set is ready
    when it gains on the equal-weight mean and harms no family beyond the margin; otherwise
    leave-one-out names the value whose removal helps most.
    """
    together, seeds = _walk_together({**incumbent, **values}, incumbent, seeds, rules)
    regressions = together.regressions(margin=rules.harm_margin, alpha=rules.harm_alpha)
    unshown = together.not_shown_harmless(margin=rules.harm_margin, alpha=rules.harm_alpha)
    ready = together.mean > 0 and not regressions  # unshown: reported, each value showed it
    result = {"mean": together.mean, "ci_low": together.ci_low, "ci_high": together.ci_high,
              "p_value": together.p_value, "n": together.n, "ready": ready, "bank": bank,
              "confirmation": True, "constants": {c.name: v for c, v in values.items()},
              "incumbent": {c.name: v for c, v in incumbent.items()},
              "families": {f: fc.mean for f, fc in together.families.items()},
              "regressions": regressions, "harm_not_ruled_out": unshown,
              "margin": rules.harm_margin,
              "drop": None, "leave_one_out": {}}
    if not ready and len(values) > 1:
        loo = {c.name: _without(values, incumbent, c, seeds) for c in values}
        result["leave_one_out"] = {k: v.mean for k, v in loo.items()}
        result["drop"] = max(loo, key=lambda k: loo[k].mean)
    elif not ready:
        result["drop"] = next(iter(values)).name
    return result


JOINT_EARLY_LEVEL = 0.05  # the set's gain shown at this level (anytime) ends the walk early


def _walk_together(values: Mapping[Constant, float], incumbent: Mapping[Constant, float],
                   seeds: Mapping[str, list], rules: StageRules
                   ) -> tuple[PairedComparison, dict[str, list]]:
    """The set against the incumbent on prefixes 50, 62, 78, ... of ``seeds``: it stops once
    its gain is shown (anytime p of "mean <= 0" below ``JOINT_EARLY_LEVEL``) with no family's
    loss beyond the margin proven, or once such a loss is proven; otherwise all of ``seeds``.
    A set of seven values once cost ~7,000 runs on 855 scenarios per family when its gain
    was plain at 50. Returns the last comparison and the seeds it used."""
    def clear(together: PairedComparison) -> bool:
        proven = together.regressions(margin=rules.harm_margin, alpha=rules.harm_alpha)
        shown = betting.p_value(together.rounds, 0.0, design_level=JOINT_EARLY_LEVEL) \
            < JOINT_EARLY_LEVEL
        return bool(proven) or shown

    return walk_prefixes({f: len(s) for f, s in seeds.items()},
                         lambda f, n: list(seeds[f][:n]),
                         lambda used: compare_values(values, incumbent, used), clear)


def _without(values: Mapping[Constant, float], incumbent: Mapping[Constant, float],
             constant: Constant, seeds: Mapping[str, list]) -> PairedComparison:
    rest = {c: v for c, v in values.items() if c != constant}
    families = {f for c in rest for f in c.reached_families}
    return compare_values({**incumbent, **rest}, incumbent,
                          {f: s for f, s in seeds.items() if f in families})
