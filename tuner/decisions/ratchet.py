"""The ratchet: every constant searched, screened, confirmed and gated; the rest certified.

Decisions do not depend on catalog order. Every constant is searched and screened from the same
incumbent (popoto's defaults, or a deployment's ``--incumbent``); values that pass their screen
go to the confirmation bank together, where Holm's step-down over the m that arrived keeps the
run's family-wise false-accept rate at alpha (``confirmation.py``). Each value must hold on its
own; the joint check then shows whether the confirmed values interfere, and leave-one-out names
the one to drop when they do. Every constant not accepted carries a certificate, corrected over
the run's certificates (``certificate.py``). Accepted values carry forward as the next run's
incumbent (``tuner export --format config``), never inside a run.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from tuner.catalog import Catalog, Constant
from tuner.decisions.confirmation import Candidate, confirm, joint_check
from tuner.decisions.ledger import Ledger, LedgerRecord
from tuner.decisions.proposal import Proposal, propose
from tuner.decisions.sequential import SequentialComparison
from tuner.decisions.stages import StageResult, StageRules
from tuner.decisions.validation import (
    DEFAULT_CONFIRMATION,
    ValidationResult,
    certificate_for,
    confirmation_pool,
    finish,
    held_out_evidence,
    held_out_test,
    record_validation,
    screen,
)
from tuner.defaults import (
    DEFAULT_ALPHA,
    DEFAULT_CERTIFICATE_CONFIDENCE,
    DEFAULT_MIN_IMPROVEMENT,
    DEFAULT_RATCHET_TRIALS,
    DEFAULT_SCREEN_ALPHA,
    DEFAULT_TOP,
)
from tuner.evaluation.engine import BankSpec, scenario_runs
from tuner.studies.study import (
    DEFAULT_BATCH,
    DEFAULT_SEED,
    DEFAULT_STORAGE,
    incumbent_hash,
    open_study,
    run_study,
)

Progress = Callable[[str], None]


@dataclass
class RatchetResult:
    records: list[LedgerRecord]
    joint: dict | None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"records": [r.to_dict() for r in self.records], "joint": self.joint,
                "seconds": self.seconds, "notes": self.notes}


@dataclass
class Screened:
    """One constant after search and screen: what confirmation and the gate will need."""

    proposal: Proposal
    study_name: str
    screen: StageResult | None = None
    test: SequentialComparison | None = None  # the screen's looks
    cost: dict = field(default_factory=dict)  # scenario runs and seconds, per stage


def ratchet_study_name(constant: Constant, bank: BankSpec,
                       incumbent: Mapping[Constant, float]) -> str:
    """Stable per constant, bank and incumbent (so a resume finds it)."""
    name = f"ratchet:{constant.name}@{constant.family}-{bank.tag}"
    tag = incumbent_hash(incumbent)
    return name + (f"-base{tag}" if tag else "")


def ledger_tag(bank: BankSpec, incumbent: Mapping[Constant, float]) -> str:
    tag = incumbent_hash(incumbent)
    return bank.tag + (f"-inc{tag}" if tag else "")


def select_constants(catalog: Catalog, *, tier: str = "all",
                     names: Sequence[str] = ()) -> list[Constant]:
    """Constants in catalog order, by tier (1, 2, 3, all) or explicit names."""
    if names:
        return [catalog.resolve(n) for n in names]
    if tier == "all":
        return list(catalog)
    return catalog.by_tier(int(tier))


@dataclass(frozen=True)
class RatchetSettings:
    """Everything a run's decisions depend on besides the constants (its resume identity)."""

    trials: int = DEFAULT_RATCHET_TRIALS
    storage: str = DEFAULT_STORAGE
    seed: int = DEFAULT_SEED
    batch: int | None = DEFAULT_BATCH
    bank: BankSpec = field(default_factory=BankSpec)
    confirmation: BankSpec = DEFAULT_CONFIRMATION
    min_improvement: float = DEFAULT_MIN_IMPROVEMENT
    alpha: float = DEFAULT_ALPHA
    screen_alpha: float = DEFAULT_SCREEN_ALPHA
    top: int = DEFAULT_TOP
    rules: StageRules = field(default_factory=StageRules)
    confidence: float = DEFAULT_CERTIFICATE_CONFIDENCE

    def identity(self, constants: Sequence[Constant],
                 incumbent: Mapping[Constant, float]) -> dict:
        return {"constants": [c.name for c in constants], "trials": self.trials,
                "seed": self.seed, "batch": self.batch, "bank": self.bank.tag,
                "held_out": self.bank.held_out, "confirmation": self.confirmation.tag,
                "min_improvement": self.min_improvement, "alpha": self.alpha,
                "screen_alpha": self.screen_alpha, "top": self.top,
                "harm_margin": self.rules.harm_margin, "confidence": self.confidence,
                "incumbent": {c.name: v for c, v in incumbent.items()}}


def run_ratchet(
    constants: Sequence[Constant],
    catalog: Catalog,
    *,
    settings: RatchetSettings | None = None,
    incumbent: Mapping[Constant, float] | None = None,
    on_record: Callable[[LedgerRecord, bool], None] | None = None,
    progress: Progress | None = None,
    today: str | None = None,
) -> RatchetResult:
    """Search and screen every constant, confirm the survivors together, certify the rest.

    A rerun with the same constants and settings returns the ledger's decisions; an
    interrupted one resumes (studies keep their trials, scored scenarios are cached).
    """
    s = settings or RatchetSettings()
    incumbent = dict(incumbent or {})
    if s.confirmation.base_seed == s.bank.base_seed:
        raise ValueError(f"the confirmation bank needs another base seed than the decision "
                         f"bank, got {s.confirmation.base_seed} for both")
    today = today or dt.date.today().isoformat()
    ledger = Ledger(storage=s.storage, bank_tag=ledger_tag(s.bank, incumbent))
    identity = s.identity(constants, incumbent)
    if ledger.run() == identity:
        records = [r for r in ledger.records() if r.constant in identity["constants"]]
        for record in records:
            if on_record:
                on_record(record, True)
        return RatchetResult(records=records, joint=ledger.joint() or None)
    say = progress or (lambda _message: None)
    screened = {c.name: search_and_screen(c, incumbent, s, say) for c in constants}
    confirmed = confirm_survivors(screened, s, say)
    results = certify_and_gate(screened, confirmed, s, say)
    records = [record_from(results[c.name], c, screened[c.name], today) for c in constants]
    for record in records:
        ledger.put(record)
        if on_record:
            on_record(record, False)
    accepted = {catalog.resolve(r.constant): r.proposal for r in records if r.accepted}
    joint = None
    if accepted:
        say(f"joint check of {len(accepted)} confirmed values")
        joint = joint_check(accepted, incumbent, _joint_seeds(accepted, confirmed, s),
                            rules=s.rules, bank=s.confirmation.tag)
    ledger.set_joint(joint or {"constants": {}, "ready": True, "confirmation": True,
                               "bank": s.confirmation.tag, "incumbent": identity["incumbent"],
                               "mean": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n": 0})
    ledger.set_run(identity)
    return RatchetResult(records=records, joint=joint)


def search_and_screen(constant: Constant, incumbent: dict[Constant, float],
                      s: RatchetSettings, say: Progress) -> Screened:
    """The study on train, the proposal, and (unless train refuses) the held-out screen."""
    name = ratchet_study_name(constant, s.bank, incumbent)
    say(f"{constant.name}: searching ({s.trials} trials)")
    with Meter() as search:
        run_study(constant, trials=s.trials, storage=s.storage, study_name=name, seed=s.seed,
                  batch=s.batch, bank=s.bank, baseline=incumbent)
        study = open_study(constant, storage=s.storage, study_name=name, seed=s.seed,
                           batch=s.batch, bank=s.bank, baseline=incumbent)
        proposal = propose(study, constant, bank=s.bank, incumbent=incumbent, top=s.top)
    item = Screened(proposal, name, cost={"search": search.figures})
    if proposal.refusal is None:
        with Meter() as screening:
            item.screen, item.test = screen(proposal, s.bank, alpha=s.screen_alpha,
                                            rules=s.rules, progress=say)
        item.cost["screen"] = screening.figures
    return item


class Meter:
    """Scenario runs on popoto and wall seconds spent inside a ``with`` block: a decision's
    cost, recorded on its ledger record (shared runs, memoised, count once, where first run)."""

    def __enter__(self) -> Meter:
        self.runs, self.started = scenario_runs(), time.perf_counter()
        self.figures: dict = {}
        return self

    def __exit__(self, *exc: object) -> None:
        self.figures = {"runs": scenario_runs() - self.runs,
                        "seconds": round(time.perf_counter() - self.started, 2)}


def confirm_survivors(screened: Mapping[str, Screened], s: RatchetSettings,
                      say: Progress) -> dict[str, StageResult]:
    """Holm over every value that passed its screen, on the confirmation bank."""
    candidates = {
        name: Candidate(item.proposal.constant, item.proposal.value,  # type: ignore[arg-type]
                        held_out_test(item.proposal,
                                      confirmation_pool(item.proposal.constant,
                                                        s.confirmation)))
        for name, item in screened.items() if item.screen is not None and item.screen.passed}
    if not candidates:
        return {}
    say(f"confirming {len(candidates)} screened values (Holm over {len(candidates)})")
    with Meter() as confirming:
        results = confirm(candidates, alpha=s.alpha, rules=s.rules)
    for name in candidates:  # the confirmation runs in rounds: its cost is shared
        screened[name].cost["confirmation (shared)"] = confirming.figures
    return results


def certify_and_gate(screened: Mapping[str, Screened], confirmed: Mapping[str, StageResult],
                     s: RatchetSettings, say: Progress) -> dict[str, ValidationResult]:
    """Gate every constant; certify every one not accepted, corrected over all of them."""
    results = {name: finish(item.proposal, item.screen, confirmed.get(name), None,
                            min_improvement=s.min_improvement, screen_test=item.test)
               for name, item in screened.items()}
    refused = [name for name, r in results.items() if not r.decision.accept]
    if refused:
        say(f"certifying {len(refused)} constants")
    for name in refused:
        item = screened[name]
        held = [(item.proposal.value, c, n) for c, n in held_out_evidence(item.test)]
        with Meter() as certifying:
            results[name].certificate = certificate_for(
                item.proposal, s.bank, held, certificates=len(refused),
                confidence=s.confidence, target=2 * s.min_improvement)
        item.cost["certificate"] = certifying.figures
    for name, item in screened.items():
        study = open_study(item.proposal.constant, storage=s.storage,
                           study_name=item.study_name, seed=s.seed, batch=s.batch, bank=s.bank,
                           baseline=item.proposal.incumbent)
        record_validation(study, results[name])
    return results


def _joint_seeds(accepted: Mapping[Constant, float], confirmed: Mapping[str, StageResult],
                 s: RatchetSettings) -> dict[str, list]:
    """Per family, the largest confirmation prefix any accepted value was judged on."""
    sizes: dict[str, int] = {}
    for constant in accepted:
        for look in confirmed[constant.name].looks:
            for family, n in look["sizes"].items():
                sizes[family] = max(sizes.get(family, 0), n)
    return {f: s.confirmation.prefix(f, n) for f, n in sorted(sizes.items())}


def record_from(result: ValidationResult, constant: Constant, item: Screened,
                today: str) -> LedgerRecord:
    """The ledger's record, in the JSON form it is stored in (so a resumed run compares equal)."""
    v = result.validation
    stage = result.confirmation or result.screen
    record = LedgerRecord(
        constant=constant.name, attr=constant.attr, default=result.default,
        proposal=result.proposal, decision=result.decision.label,
        reason=result.decision.reason.value, detail=result.decision.detail,
        train_delta=result.train_delta if not result.collapsed else None,
        validation_delta=v.mean if v else None, ci_low=v.ci_low if v else None,
        ci_high=v.ci_high if v else None, trials=result.trials,
        validation_scenarios=v.n if v else 0, study_name=item.study_name, date=today,
        extra={"margin_from": result.margin_from,
               "bound_from": result.evidence.bound_from, "cliff": result.cliff,
               "p_value": v.p_value if v else None, "alpha": result.evidence.alpha,
               "families": result.screen.families if result.screen else {},
               "train_families": result.train_family_deltas or {},
               "screen": result.screen.to_dict() if result.screen else None,
               "confirmation": result.confirmation.to_dict() if result.confirmation else None,
               "stage_families": stage.families if stage else {}, "cost": item.cost},
        incumbent=result.default, popoto_default=result.popoto_default,
        certificate=result.certificate.to_dict() if result.certificate else None,
    )
    return LedgerRecord.from_dict(json.loads(json.dumps(record.to_dict())))


def summary_text(result: RatchetResult) -> str:
    """The RATCHET SUMMARY block: accepted values with their evidence, every other constant
    with its certificate, and the joint check."""
    lines = ["RATCHET SUMMARY", "==============="]
    accepted = [r for r in result.records if r.accepted]
    refused = [r for r in result.records if not r.accepted]
    width = max([len(r.constant) for r in result.records] + [10]) + 1
    lines.append("Accepted (screened on held-out seeds, then confirmed on their own):")
    for r in accepted:
        conf = r.extra.get("confirmation") or {}
        lines.append(f"  {(r.constant + ':'):{width}} {_fmt(r.default)} -> {_fmt(r.proposal)}  "
                     f"(train {_signed(r.train_delta)}, screen {_signed(r.validation_delta)}, "
                     f"confirmation {_signed(conf.get('mean'))} [{_signed(conf.get('ci_low'))}, "
                     f"{_signed(conf.get('ci_high'))}], p {conf.get('p_value', 1.0):.3g}) ACCEPT")
        families = conf.get("families") or {}
        if families:
            lines.append(f"  {'':{width}}   by family: " + ", ".join(
                f"{f} {_signed(d)}" for f, d in families.items()))
    if not accepted:
        lines.append("  (none)")
    lines.append("Not accepted, with how much any value looked at could gain (certificate):")
    for r in refused:
        lines.append(f"  {(r.constant + ':'):{width}} REJECT ({_why(r)})")
        if r.certificate:
            lines.append(f"  {'':{width}}   {r.certificate['text']}")
    if not refused:
        lines.append("  (none)")
    bounds = sorted(r.certificate["bound"] for r in refused if r.certificate)
    if bounds:
        median = bounds[len(bounds) // 2] if len(bounds) % 2 else \
            (bounds[len(bounds) // 2 - 1] + bounds[len(bounds) // 2]) / 2
        lines.append(f"Certificates: {len(bounds)}, median bound {max(median, 0.0):.4f}, "
                     f"widest {max(bounds):.4f}")
    lines.append(joint_text(result.joint))
    return "\n".join(lines)


def _why(record: LedgerRecord) -> str:
    if record.reason in ("cliff", "family regression", "at bound", "test floor",
                         "not confirmed"):
        return f"{record.reason}: {record.detail}"
    return record.reason


def joint_text(joint: dict | None) -> str:
    if not joint or ("constants" in joint and not joint["constants"]):
        return "Confirmation: nothing accepted — no patch to review"
    verdict = "ready for review" if joint["ready"] else (
        f"NOT READY — drop {joint['drop']} (leave-one-out)" if joint.get("drop") else "NOT READY")
    lines = [f"Joint check (all confirmed values together vs the incumbent, confirmation bank "
             f"{joint.get('bank', '?')}): {_signed(joint['mean'])} [{_signed(joint['ci_low'])}, "
             f"{_signed(joint['ci_high'])}], p {joint.get('p_value', float('nan')):.3g}, over "
             f"{joint['n']} scenarios — {verdict}"]
    if joint.get("families"):
        lines.append("  by family: " + ", ".join(f"{f} {_signed(d)}"
                                                 for f, d in joint["families"].items()))
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"
