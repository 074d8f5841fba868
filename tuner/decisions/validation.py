"""The validator: from a finished study to a decision, with its evidence or a certificate.

1. **Propose** on train (``proposal.py``): one value, or a train-side refusal.
2. **Screen** on the decision bank's held-out pool: a sequential paired test against the
   incumbent (``stages.run_screen``), which stops as soon as the answer is clear.
3. **Confirm** on the confirmation bank, a bank no search or screen touched and no earlier run
   spent (claimed fresh from the storage's bank registry, ``tuner.studies.banks``): the value
   alone against the incumbent, Holm over every value confirmed together (``confirmation.py``).
4. **Gate** (``gate.decide``) on the evidence; a value not accepted gets a **certificate**
   (``certificate.py``): how much better any value looked at could be than the incumbent.

A standalone ``tuner validate`` confirms one value (Holm over one) and certifies one constant;
a ratchet runs stages 1-2 for every constant, then 3 and the certificates over all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

import optuna

from tuner.catalog import Constant
from tuner.decisions.certificate import Certificate, certify
from tuner.decisions.comparison import (
    FamilyScorer,
    PairedComparison,
    compare_values,
    comparison_requests,
)
from tuner.decisions.confirmation import Candidate, confirm
from tuner.decisions.gate import Decision, GateEvidence, decide
from tuner.decisions.power import FIRST_LOOK
from tuner.decisions.proposal import CLIFF_DROP, Proposal, propose
from tuner.decisions.sequential import SeedPool, SequentialComparison
from tuner.decisions.stages import StageResult, StageRules, run_screen
from tuner.defaults import (
    CONFIRMATION_BASE_SEED,
    CONFIRMATION_SIZE,
    DEFAULT_ALPHA,
    DEFAULT_CERTIFICATE_CONFIDENCE,
    DEFAULT_MIN_IMPROVEMENT,
    DEFAULT_SCREEN_ALPHA,
    DEFAULT_TOP,
)
from tuner.evaluation.engine import BankSpec
from tuner.studies.banks import BankClaim, BankRegistry
from tuner.studies.contract import contract_text
from tuner.studies.objective import grid_values

Progress = Callable[[str], None]
DEFAULT_CONFIRMATION = BankSpec(size=CONFIRMATION_SIZE, base_seed=CONFIRMATION_BASE_SEED)


@dataclass
class ValidationResult:
    """The validator's findings for one constant and the gate's decision on them."""

    constant: str
    default: float  # the constant's incumbent value: what every comparison is against
    proposal: float | None
    collapsed: bool
    candidates: list[dict]
    train_default: float | None
    train_proposal: float | None
    train_delta: float
    validation: PairedComparison | None  # the screen's deciding look
    cliff: dict
    margin_from: float | None
    evidence: GateEvidence
    decision: Decision
    trials: int
    families: list[str] | None = None
    train_family_deltas: dict[str, float] | None = None
    popoto_default: float | None = None
    incumbent: dict[str, float] = field(default_factory=dict)
    screen: StageResult | None = None
    confirmation: StageResult | None = None
    certificate: Certificate | None = None
    banks: dict | None = None  # the bank claim(s) it was confirmed on (tuner.studies.banks)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["decision"] = self.decision.to_dict()
        data["evidence"] = self.evidence.to_dict()
        data["certificate"] = self.certificate.to_dict() if self.certificate else None
        data["validation"] = self.validation.to_dict() if self.validation else None
        if data["validation"] and self.screen is not None:  # the screen's test, not a display p
            data["validation"]["p_value"] = self.screen.p_value
        return data


def held_out_test(proposal: Proposal, pool: SeedPool) -> SequentialComparison:
    """The proposal against the incumbent on ``pool``, one look at a time."""
    candidate, reference = proposal.values, proposal.incumbent

    def compare(seeds: Mapping[str, list], level: float) -> PairedComparison:
        return compare_values(candidate, reference, seeds, level=level)

    return SequentialComparison(
        pool, compare, level=1.0,
        requests=lambda seeds: comparison_requests(candidate, reference, seeds))


def screen_pool(constant: Constant, bank: BankSpec) -> SeedPool:
    """The screen's one look: the first ``FIRST_LOOK`` held-out scenarios of each family."""
    return SeedPool(tuple(constant.reached_families), min(FIRST_LOOK, bank.held_out),
                    bank.held_out_prefix, name=f"held-out {bank.tag}")


def confirmation_pool(constant: Constant, bank: BankSpec) -> SeedPool:
    return SeedPool(tuple(constant.reached_families), bank.size, bank.prefix,
                    name=f"confirmation {bank.tag}")


def screen(proposal: Proposal, bank: BankSpec, *, alpha: float, rules: StageRules,
           progress: Progress | None = None) -> tuple[StageResult, SequentialComparison]:
    """Sequentially test the proposal on the decision bank's held-out pool."""
    if progress:
        progress(f"screening {proposal.constant.name} = {proposal.value:.4g} on held-out "
                 f"scenarios (one look of {FIRST_LOOK} per family)")
    test = held_out_test(proposal, screen_pool(proposal.constant, bank))
    return run_screen(test, alpha=alpha, rules=rules), test


def certificate_for(proposal: Proposal, bank: BankSpec, held_out: list, *, certificates: int,
                    confidence: float, target: float) -> Certificate:
    """Bound every value looked at: the fixed grid on the train pool, the proposal held out."""
    constant = proposal.constant
    train = proposal.train or FamilyScorer(
        constant, {f: bank.pools(f)[0] for f in constant.reached_families}, proposal.incumbent)
    grid = [(v, train.compare(v, proposal.default)) for v in grid_values(constant)
            if v != proposal.default]
    # A collapsed study changed no score: its grid is bounded all the same, by what the
    # scenarios not seen could do (never 0). The count per constant is fixed: grid + proposal.
    return certify(constant, proposal.default, grid, held_out, certificates=certificates,
                   confidence=confidence, target=target, collapsed=proposal.collapsed,
                   values_each=len([v for v in grid_values(constant)
                                    if v != proposal.default]) + 1)


def held_out_evidence(test: SequentialComparison | None) -> list:
    """(value comparison, looks planned) of a held-out test, for the certificate."""
    if test is None or test.last is None:
        return []
    return [(test.last.comparison, test.planned)]


def evidence_of(proposal: Proposal, screened: StageResult | None,
                confirmed: StageResult | None) -> GateEvidence:
    """The gate's evidence: train, the screen's deciding look, the confirmation's."""
    base = proposal.evidence or GateEvidence(collapsed=proposal.collapsed, train_delta=0.0)
    if screened is None:
        return base
    fields: dict = {
        "validated": True, "validation_delta": screened.mean, "ci_low": screened.ci_low,
        "ci_high": screened.ci_high, "p_value": screened.p_value,
        "alpha": screened.accepted_level if screened.accepted_level is not None
        else screened.level,
        "regressions": screened.regressions, "screen": screened.outcome,
        "unproven": screened.unproven if not screened.passed else {},
        "errors": screened.errors,
    }
    if confirmed is not None:
        fields.update({
            "confirmation": confirmed.outcome, "confirm_delta": confirmed.mean,
            "confirm_p": confirmed.p_value,
            "confirm_level": confirmed.accepted_level if confirmed.accepted_level is not None
            else confirmed.level,
            "confirm_lower_bound": confirmed.lower_bound,
            "confirm_latest": confirmed.latest,
            "confirm_regressions": confirmed.regressions,
            "confirm_unproven": confirmed.unproven if not confirmed.passed else {},
            "confirm_errors": confirmed.errors})
    return GateEvidence(**{**base.to_dict(), **fields})


def deciding_comparison(test: SequentialComparison | None,
                        stage: StageResult | None) -> PairedComparison | None:
    """The comparison of the look a stage decided on (its accepting look, else its last)."""
    if test is None or stage is None or not test.records:
        return None
    index = stage.accepted_at or test.records[-1].index
    return next(r.comparison for r in test.records if r.index == index)


def finish(proposal: Proposal, screened: StageResult | None, confirmed: StageResult | None,
           certificate: Certificate | None, *, min_improvement: float,
           screen_test: SequentialComparison | None = None) -> ValidationResult:
    """Gate the evidence and assemble the result."""
    evidence = evidence_of(proposal, screened, confirmed)
    decision = decide(evidence, min_improvement=min_improvement)
    validation = deciding_comparison(screen_test, screened)
    return ValidationResult(
        constant=proposal.constant.name, default=proposal.default, proposal=proposal.value,
        collapsed=proposal.collapsed, candidates=proposal.candidates,
        train_default=proposal.train_default, train_proposal=proposal.train_proposal,
        train_delta=proposal.train_delta, validation=validation, cliff=proposal.cliff,
        margin_from=proposal.margin_from, evidence=evidence, decision=decision,
        trials=proposal.trials, families=proposal.families,
        train_family_deltas=proposal.train_family_deltas,
        popoto_default=proposal.constant.default(),
        incumbent={c.name: v for c, v in proposal.incumbent.items()}, screen=screened,
        confirmation=confirmed, certificate=None if decision.accept else certificate)


def validate_study(
    study: optuna.Study, constant: Constant, *, bank: BankSpec | None = None,
    incumbent: Mapping[Constant, float] | None = None,
    confirmation: BankSpec | None = None, top: int = DEFAULT_TOP,
    min_improvement: float = DEFAULT_MIN_IMPROVEMENT, alpha: float = DEFAULT_ALPHA,
    screen_alpha: float = DEFAULT_SCREEN_ALPHA, rules: StageRules | None = None,
    confidence: float = DEFAULT_CERTIFICATE_CONFIDENCE, progress: Progress | None = None,
    confirm_size: int = CONFIRMATION_SIZE, reuse_bank: bool = False,
    command: str = "validate",
) -> ValidationResult:
    """Propose, screen, confirm (Holm over one) and gate one constant; certify it if refused.

    The confirmation bank is claimed from the study storage's bank registry when a value
    reaches it: a fresh one of ``confirm_size`` per family, or ``confirmation``'s base seed,
    refused (``banks.BankSpentError``) when already spent unless ``reuse_bank``.
    """
    bank = bank or BankSpec()
    claim = None
    rules = rules or StageRules(min_improvement=min_improvement)
    proposal = propose(study, constant, bank=bank, incumbent=incumbent or {}, top=top,
                       progress=progress)
    screened = confirmed = test = None
    if proposal.refusal is None:
        screened, test = screen(proposal, bank, alpha=screen_alpha, rules=rules,
                                progress=progress)
        if screened.passed:
            claim = claim_confirmation(study, confirmation, reuse=reuse_bank, command=command,
                                       avoid={bank.base_seed},
                                       run={"constants": [constant.name], "value":
                                            proposal.value, "alpha": alpha, "bank": bank.tag})
            confirmation = BankSpec(size=confirmation.size if confirmation else confirm_size,
                                    base_seed=claim.base_seed)
            if progress:
                progress(f"confirming on the confirmation bank {claim.text()}")
            candidate = Candidate(constant, proposal.value,  # type: ignore[arg-type]
                                  held_out_test(proposal, confirmation_pool(constant,
                                                                            confirmation)))
            confirmed = confirm({constant.name: candidate}, alpha=alpha, rules=rules)[
                constant.name]
    result = finish(proposal, screened, confirmed, None, min_improvement=min_improvement,
                    screen_test=test)
    if claim is not None and confirmation is not None:
        result.banks = {"confirmation": {**claim.to_dict(), "tag": confirmation.tag}}
    if not result.decision.accept:
        if progress:
            progress("certifying: bounding every value looked at")
        held = [(proposal.value, c, n) for c, n in held_out_evidence(test)]
        result.certificate = certificate_for(proposal, bank, held, certificates=1,
                                             confidence=confidence,
                                             target=2 * min_improvement)
    return result


def claim_confirmation(study: optuna.Study, pinned: BankSpec | None, *, reuse: bool,
                       command: str, avoid: set[int], run: dict | None = None) -> BankClaim:
    """A confirmation bank claimed in the study's own storage: fresh, or ``pinned``'s seed."""
    registry = BankRegistry(study._storage)
    run = {"study": study.study_name, **(run or {})}
    if pinned is None:
        return registry.claim(purpose="confirmation", command=command, run=run, avoid=avoid)
    return registry.claim_explicit(pinned.base_seed, purpose="confirmation", command=command,
                                   run=run, reuse=reuse)


def confirmation_bank_text(banks: dict | None) -> str:
    """The bank a validation confirmed on, for its summary and note."""
    claim = (banks or {}).get("confirmation")
    if not claim:
        return "none claimed (nothing reached confirmation)"
    return BankClaim.from_dict(claim).text()


def validation_note(result: ValidationResult) -> str:
    """The markdown note optuna-dashboard shows on the study."""
    r = result
    lines = [f"## Validation of `{r.constant}`", "",
             f"**Decision: {r.decision.label}** ({r.decision.reason.value}): {r.decision.detail}",
             "", "| | value |", "|---|---|", f"| incumbent | {r.default} |",
             f"| proposal | {r.proposal if r.proposal is not None else '-'} |",
             f"| completed trials | {r.trials} |",
             f"| families | {', '.join(r.families or [])} |"]
    if not r.collapsed:
        lines.append(f"| train Δ (whole train pools, equal-weight) | {r.train_delta:+.4f} |")
    for stage in (r.screen, r.confirmation):
        if stage is not None:
            lines.append(f"| {stage.stage} | {stage.outcome}: Δ {stage.mean:+.4f} "
                         f"[{stage.ci_low:+.4f}, {stage.ci_high:+.4f}], p {stage.p_value:.3g}, "
                         f"{stage.n} scenarios, {len(stage.looks)} of {stage.planned_looks} "
                         "looks |")
    lines.append(f"| confirmation bank | {confirmation_bank_text(r.banks)} |")
    if r.certificate is not None:
        lines += ["", f"**Certificate:** {r.certificate.text()}"]
    return "\n".join(lines) + "\n"


def record_validation(study: optuna.Study, result: ValidationResult) -> None:
    """Keep the result on the study (user attr) and as a note optuna-dashboard displays."""
    from optuna_dashboard import save_note

    study.set_user_attr("validation", result.to_dict())
    if result.banks:
        study.set_user_attr("banks", result.banks)
    note = f"{validation_note(result)}\n\n{contract_text(study.user_attrs.get('contract'))}"
    save_note(study, note)


__all__ = ["CLIFF_DROP", "ValidationResult", "validate_study", "record_validation"]
