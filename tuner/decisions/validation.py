"""The validator: turn a finished study into evidence the gate can judge.

Everything that *chooses* happens on train; validation is looked at once per proposal.
1. Proposal: the top few trials (by their paired objective) are re-scored on the whole train
   pool of every reached family; the best of those is proposed.
2. Cliff safety, on train: the proposal +/- 10% of the search range is probed; a drop of 0.15
   or more on either side is a cliff. The nearest value further from the cliff that is itself
   cliff-free and still beats the default on train is proposed instead ("margin").
3. Train-side refusals (collapsed, train regression, at a search edge, cliff) end here: the
   validation seeds are not looked at.
4. Otherwise the proposal and the baseline run once on every validation seed of every reached
   family; paired deltas give the equal-weight mean, a sign-flip p-value (compared with the
   run's corrected alpha), a display CI, and each family's own delta.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import optuna

from tuner.catalog import Constant
from tuner.decisions.comparison import FamilyScorer, PairedComparison
from tuner.decisions.gate import (
    DEFAULT_MIN_IMPROVEMENT,
    Decision,
    GateEvidence,
    decide,
    train_refusal,
)
from tuner.defaults import DEFAULT_ALPHA, DEFAULT_TOP
from tuner.evaluation.engine import BankSpec
from tuner.studies.contract import contract_text
from tuner.studies.study import completed, is_collapsed

CLIFF_DROP = 0.15
PROBE_FRACTION = 0.10
MARGIN_STEPS = 3


Progress = Callable[[str], None]


@dataclass
class ValidationResult:
    """The validator's findings for one constant and the gate's decision on them."""

    constant: str
    default: float
    proposal: float | None
    collapsed: bool
    candidates: list[dict]
    train_default: float | None
    train_proposal: float | None
    train_delta: float
    validation: PairedComparison | None
    cliff: dict
    margin_from: float | None
    evidence: GateEvidence
    decision: Decision
    trials: int
    families: list[str] | None = None
    train_family_deltas: dict[str, float] | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["decision"] = self.decision.to_dict()
        data["evidence"] = self.evidence.to_dict()
        return data


def probe_points(constant: Constant, value: float) -> list[float]:
    """value -/+ 10% of the search range (in log space for log ranges), inside the range."""
    low, high = constant.search_low, constant.search_high
    points = []
    for sign in (-1, 1):
        if constant.log:
            probe = value * ((high / low) ** PROBE_FRACTION) ** sign
        else:
            probe = value + sign * PROBE_FRACTION * (high - low)
        probe = min(max(probe, low), high)
        if constant.is_int:
            probe = float(round(probe))
        if not math.isclose(probe, value):
            points.append(probe)
    return points


def find_cliff(constant: Constant, value: float, train: FamilyScorer) -> float | None:
    """The probed neighbour where mean nDCG@5 drops by CLIFF_DROP or more, if any."""
    here = train(value)
    drops = [(here - train(p), p) for p in probe_points(constant, value)]
    cliffs = [p for drop, p in sorted(drops, reverse=True) if drop >= CLIFF_DROP]
    return cliffs[0] if cliffs else None


def margin_candidates(constant: Constant, value: float, cliff: float) -> list[float]:
    """Values stepping away from the cliff, 10% of the range at a time, inside the range."""
    away = 1 if cliff < value else -1
    out, current = [], value
    for _ in range(MARGIN_STEPS):
        nxt = [p for p in probe_points(constant, current) if (p - current) * away > 0]
        if not nxt:
            break
        current = nxt[0]
        out.append(current)
    return out


def shift_from_cliff(constant: Constant, proposal: float, cliff: float, train: FamilyScorer,
                     default: float) -> float | None:
    """The nearest value away from the cliff that is cliff-free and beats the default on train.

    Chosen on train only, so moving away from a cliff never costs a validation look.
    """
    for candidate in margin_candidates(constant, proposal, cliff):
        if find_cliff(constant, candidate, train) is None and train(candidate) > train(default):
            return candidate
    return None


def choose_proposal(
    done: list[optuna.trial.FrozenTrial], constant: Constant, train: FamilyScorer, top: int
) -> tuple[float, list[dict]]:
    """Re-score the top ``top`` distinct values on the whole train pool; best one wins."""
    ranked = sorted(done, key=lambda t: (-t.value, t.number))
    values: list[float] = []
    for trial in ranked:
        value = trial.params[constant.name]
        if value not in values:
            values.append(value)
        if len(values) == top:
            break
    candidates = [{"value": v, "train": train(v)} for v in values]
    best = max(candidates, key=lambda c: c["train"])
    return best["value"], candidates


def nearest_bound(constant: Constant, value: float) -> str:
    low, high = constant.search_low, constant.search_high
    return "lower" if abs(value - low) <= abs(high - value) else "upper"


def validate_study(
    study: optuna.Study,
    constant: Constant,
    *,
    bank: BankSpec | None = None,
    baseline: Mapping[Constant, float] | None = None,
    default: float | None = None,
    top: int = DEFAULT_TOP,
    min_improvement: float = DEFAULT_MIN_IMPROVEMENT,
    alpha: float = DEFAULT_ALPHA,
    progress: Progress | None = None,
) -> ValidationResult:
    """Validate a study's proposal against the baseline on held-out seeds, then gate it.

    ``alpha`` is the per-decision level: a ratchet deciding m constants passes alpha / m.
    """
    say = progress or (lambda _message: None)
    bank = bank or BankSpec()
    baseline = dict(baseline or {})
    default = baseline.get(constant, constant.default()) if default is None else default
    done = completed(study)
    if not done or is_collapsed(done):
        return _collapsed_result(constant, default, len(done), min_improvement, alpha)
    families = list(constant.reached_families)
    train = FamilyScorer(constant, {f: bank.pools(f)[0] for f in families}, baseline)
    say(f"re-scoring the top {top} values on the train pools of {len(families)} families")
    proposal, candidates = choose_proposal(done, constant, train, top)
    say("probing for cliffs on train")
    cliff, margin_from = find_cliff(constant, proposal, train), None
    if cliff is not None:
        shifted = shift_from_cliff(constant, proposal, cliff, train, default)
        if shifted is not None:
            margin_from, proposal, cliff = proposal, shifted, None
    train_delta = train(proposal) - train(default)
    evidence = GateEvidence(
        collapsed=False, train_delta=train_delta, validation_delta=0.0, ci_low=0.0,
        ci_high=0.0, alpha=alpha, validated=False, cliff_at=cliff, margin_from=margin_from,
        edge_distance=constant.edge_distance(proposal),
        bound=nearest_bound(constant, proposal),
    )
    comparison = None
    if train_refusal(evidence) is None:
        say(f"validating on the held-out seeds of {len(families)} families (one look)")
        validation = FamilyScorer(constant, {f: bank.pools(f)[1] for f in families}, baseline)
        comparison = validation.compare(proposal, default)
        evidence = GateEvidence(**{
            **evidence.to_dict(), "validated": True, "validation_delta": comparison.mean,
            "ci_low": comparison.ci_low, "ci_high": comparison.ci_high,
            "p_value": comparison.p_value,
            "regressions": comparison.regressions(tolerance=2 * min_improvement),
        })
    train_by_family = train.per_family(proposal)
    default_by_family = train.per_family(default)
    return ValidationResult(
        constant=constant.name, default=default, proposal=proposal, collapsed=False,
        candidates=candidates, train_default=train(default), train_proposal=train(proposal),
        train_delta=train_delta, validation=comparison,
        cliff={"probes": {str(p): train(p) for p in probe_points(constant, proposal)},
               "cliff_at": cliff, "drop": CLIFF_DROP},
        margin_from=margin_from, evidence=evidence,
        decision=decide(evidence, min_improvement=min_improvement), trials=len(done),
        families=families,
        train_family_deltas={f: train_by_family[f] - default_by_family[f] for f in families},
    )


def _collapsed_result(constant: Constant, default: float, trials: int,
                      min_improvement: float, alpha: float) -> ValidationResult:
    evidence = GateEvidence(collapsed=True, train_delta=0.0, validation_delta=0.0,
                            ci_low=0.0, ci_high=0.0, alpha=alpha, validated=False)
    return ValidationResult(
        constant=constant.name, default=default, proposal=None, collapsed=True, candidates=[],
        train_default=None, train_proposal=None, train_delta=0.0, validation=None,
        cliff={}, margin_from=None, evidence=evidence,
        decision=decide(evidence, min_improvement=min_improvement), trials=trials,
        families=list(constant.reached_families),
    )


def validation_note(result: ValidationResult) -> str:
    """The markdown note optuna-dashboard shows on the study."""
    r = result
    lines = [f"## Validation of `{r.constant}`", "",
             f"**Decision: {r.decision.label}** ({r.decision.reason.value}): {r.decision.detail}",
             "", "| | value |", "|---|---|", f"| default | {r.default} |",
             f"| proposal | {r.proposal if r.proposal is not None else '-'} |",
             f"| completed trials | {r.trials} |",
             f"| families | {', '.join(r.families or [])} |"]
    if r.collapsed:
        lines.append("| study | collapsed: no value changed any scenario's score |")
        return "\n".join(lines) + "\n"
    lines.append(f"| train Δ (whole train pools, equal-weight) | {r.train_delta:+.4f} |")
    cliff_at = r.cliff.get("cliff_at")
    lines.append(f"| cliff (drop ≥ {CLIFF_DROP} at ±10% of range) | "
                 f"{'at ' + format(cliff_at, '.4g') if cliff_at is not None else 'none'} |")
    if r.margin_from is not None:
        lines.append(f"| margin | moved from {r.margin_from:.4g} away from a cliff |")
    v = r.validation
    if v is None:
        lines.append("| validation | not looked at: refused on train evidence |")
    else:
        lines.append(f"| validation Δ ({v.n} held-out scenarios) | {v.mean:+.4f} "
                     f"[{v.ci_low:+.4f}, {v.ci_high:+.4f}] (95% CI, display) |")
        lines.append(f"| sign-flip p | {v.p_value:.4g} (alpha {r.evidence.alpha:.4g}) |")
        lines += ["", "| family | validation Δ | n | p (gain) |", "|---|---|---|---|"]
        lines += [f"| {f} | {fc.mean:+.4f} | {fc.n} | {fc.p_value:.3g} |"
                  for f, fc in v.families.items()]
    lines += ["", "Candidates re-scored on the whole train pools:", ""]
    lines += [f"- {c['value']:.6g}: {c['train']:.4f}" for c in r.candidates]
    return "\n".join(lines) + "\n"


def record_validation(study: optuna.Study, result: ValidationResult) -> None:
    """Keep the result on the study (user attr) and as a note optuna-dashboard displays."""
    from optuna_dashboard import save_note

    study.set_user_attr("validation", result.to_dict())
    note = f"{validation_note(result)}\n\n{contract_text(study.user_attrs.get('contract'))}"
    save_note(study, note)
