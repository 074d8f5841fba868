"""The ratchet: every constant searched, screened, confirmed and gated; the rest certified.

Decisions do not depend on catalog order. Every constant is searched and screened from the same
incumbent (popoto's defaults, or a deployment's ``--incumbent``); values that pass their screen
go to the run's own confirmation bank together (claimed fresh from the storage's bank registry,
``tuner.studies.banks``), where Holm's step-down over the m that arrived keeps the run's
family-wise false-accept rate at alpha (``confirmation.py``). Each accepted value is re-tested
alone on a second fresh bank no decision saw (``replication.py``); the joint check then shows,
on that bank, whether the replicated values interfere, and leave-one-out names the one to drop
when they do. Every constant not accepted carries a certificate, corrected over
the run's certificates (``certificate.py``). Accepted values carry forward as the next run's
incumbent (``tuner export --format config``), never inside a run.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from tuner.catalog import Catalog, Constant
from tuner.catalog.profile import profile_scope
from tuner.decisions.confirmation import Candidate, confirm, joint_check
from tuner.decisions.ledger import Ledger, LedgerRecord
from tuner.decisions.proposal import Proposal, propose
from tuner.decisions.replication import (
    RunBanks,
    banks_text,
    claim_for_run,
    kept_banks,
    ledger_banks,
    replication_text,
    with_replication,
)
from tuner.decisions.robustness import with_robustness
from tuner.decisions.robustness_report import robustness_text
from tuner.decisions.sequential import SequentialComparison
from tuner.decisions.stages import StageResult, StageRules
from tuner.decisions.validation import (
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
    CONFIRMATION_BASE_SEED,
    CONFIRMATION_SIZE,
    DEFAULT_ALPHA,
    DEFAULT_CERTIFICATE_CONFIDENCE,
    DEFAULT_MIN_IMPROVEMENT,
    DEFAULT_RATCHET_TRIALS,
    DEFAULT_SCREEN_ALPHA,
    DEFAULT_TOP,
)
from tuner.evaluation.engine import BankSpec, scenario_runs
from tuner.studies.banks import BankRegistry
from tuner.studies.objective import no_weighted_family
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
    banks: dict | None = None  # RunBanks.to_dict(): the confirmation and replication claims

    def to_dict(self) -> dict:
        return {"records": [r.to_dict() for r in self.records], "joint": self.joint,
                "seconds": self.seconds, "notes": self.notes, "banks": self.banks}


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
    # None: the run claims a fresh confirmation bank (and a replication bank) from the storage's
    # registry (tuner.studies.banks); a BankSpec pins its base seed (--confirm-base-seed), which
    # is refused when the storage already spent it unless ``reuse_bank``.
    confirmation: BankSpec | None = None
    confirm_size: int = CONFIRMATION_SIZE
    reuse_bank: bool = False
    min_improvement: float = DEFAULT_MIN_IMPROVEMENT
    alpha: float = DEFAULT_ALPHA
    screen_alpha: float = DEFAULT_SCREEN_ALPHA
    top: int = DEFAULT_TOP
    rules: StageRules = field(default_factory=StageRules)
    confidence: float = DEFAULT_CERTIFICATE_CONFIDENCE
    robustness: bool = True  # re-score each accepted value on world variants (robustness.py)

    @property
    def confirmation_size(self) -> int:
        return self.confirmation.size if self.confirmation else self.confirm_size

    def identity(self, constants: Sequence[Constant],
                 incumbent: Mapping[Constant, float]) -> dict:
        return {"constants": [c.name for c in constants], "trials": self.trials,
                "seed": self.seed, "batch": self.batch, "bank": self.bank.tag,
                "held_out": self.bank.held_out,
                "confirmation": self.confirmation.tag if self.confirmation
                else f"fresh n{self.confirm_size}",
                "min_improvement": self.min_improvement, "alpha": self.alpha,
                "screen_alpha": self.screen_alpha, "top": self.top,
                "harm_margin": self.rules.harm_margin, "confidence": self.confidence,
                "incumbent": {c.name: v for c, v in incumbent.items()},
                **({} if self.robustness else {"robustness": False})}


def _under_profile(run: Callable[..., RatchetResult]) -> Callable[..., RatchetResult]:
    """Run the ratchet under its bank's deployment profile (``tuner.catalog.profile``).

    The profile is active for the whole run, so every bank the run derives (confirmation,
    replication) is drawn in the same world; a constant whose families all weigh 0 is not
    searched (a note says "no weighted family"); the ledger's header records the profile.
    """
    @functools.wraps(run)
    def wrapper(constants: Sequence[Constant], catalog: Catalog, *,
                settings: RatchetSettings | None = None, **kwargs: object) -> RatchetResult:
        s = settings or RatchetSettings()
        profile = s.bank.profile
        weighted = [c for c in constants if profile.weighted(c.reached_families)]
        with profile_scope(profile):
            result = run(weighted, catalog, settings=s, **kwargs)
            incumbent = dict(kwargs.get("incumbent") or {})  # type: ignore[call-overload]
            Ledger(storage=s.storage, bank_tag=ledger_tag(s.bank, incumbent)).set_profile(
                profile.to_dict())
        result.notes.extend(no_weighted_family(c, profile) for c in constants
                            if c not in weighted)
        return result

    return wrapper


@_under_profile
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
    if s.confirmation is not None and s.confirmation.base_seed == s.bank.base_seed:
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
        return RatchetResult(records=records, joint=ledger.joint() or None,
                             banks=ledger_banks(ledger))
    own = kept_banks(ledger, identity)
    if own is None and s.confirmation is not None and not s.reuse_bank:
        BankRegistry(s.storage).refuse_if_spent(s.confirmation.base_seed)  # before the search
    say = progress or (lambda _message: None)
    screened = {c.name: search_and_screen(c, incumbent, s, say) for c in constants}
    banks = own
    if banks is None and any(i.screen is not None and i.screen.passed for i in screened.values()):
        banks = claim_banks(ledger, identity, s)
    confirmed = confirm_survivors(screened, s, say, bank=banks.confirmation_bank
                                  if banks else None)
    results = certify_and_gate(screened, confirmed, s, say, banks)
    records = [record_from(results[c.name], c, screened[c.name], today) for c in constants]
    if banks is not None:
        records = [with_replication(r, banks, catalog.resolve(r.constant), incumbent,
                                    confirmed.get(r.constant), rules=s.rules, progress=say)
                   for r in records]
    if s.robustness:
        records = [with_robustness(r, catalog.resolve(r.constant), incumbent,
                                   harm_margin=s.rules.harm_margin, storage=s.storage,
                                   progress=say)
                   for r in records]
    for record in records:
        ledger.put(record)
        if on_record:
            on_record(record, False)
    replicated = {catalog.resolve(r.constant): r.proposal for r in records
                  if r.accepted and (r.replication or {}).get("replicated")}
    joint = None
    if replicated and banks is not None:
        say(f"joint check of {len(replicated)} replicated values on the replication bank")
        joint = joint_check(replicated, incumbent,
                            _joint_seeds(replicated, confirmed, banks.replication_bank),
                            rules=s.rules, bank=banks.replication_bank.tag)
    tag = banks.replication_bank.tag if banks else None
    joint = joint or {"constants": {}, "ready": True, "confirmation": True, "bank": tag,
                      "incumbent": identity["incumbent"], "mean": 0.0, "ci_low": 0.0,
                      "ci_high": 0.0, "n": 0}
    joint.update({"replication": True, "banks": banks.to_dict() if banks else None})
    ledger.set_joint(joint)
    ledger.set_run(identity)
    return RatchetResult(records=records, joint=joint,
                         banks=banks.to_dict() if banks else None)


def claim_banks(ledger: Ledger, identity: dict, s: RatchetSettings) -> RunBanks:
    """The run's confirmation and replication banks, kept in the ledger before use."""
    return claim_for_run(ledger, identity, storage=s.storage, size=s.confirmation_size,
                         pinned=s.confirmation.base_seed if s.confirmation else None,
                         reuse=s.reuse_bank, avoid={s.bank.base_seed})


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
                      say: Progress, bank: BankSpec | None = None) -> dict[str, StageResult]:
    """Holm over every value that passed its screen, on the confirmation bank ``bank`` (the
    run's claim; without one, ``s.confirmation`` or the old fixed bank: synthetic benches)."""
    bank = bank or s.confirmation or BankSpec(size=s.confirm_size,
                                              base_seed=CONFIRMATION_BASE_SEED)
    candidates = {
        name: Candidate(item.proposal.constant, item.proposal.value,  # type: ignore[arg-type]
                        held_out_test(item.proposal,
                                      confirmation_pool(item.proposal.constant, bank)))
        for name, item in screened.items() if item.screen is not None and item.screen.passed}
    if not candidates:
        return {}
    say(f"confirming {len(candidates)} screened values (Holm over {len(candidates)})")
    with Meter() as confirming:
        results = confirm(candidates, alpha=s.alpha, rules=s.rules, progress=say)
    for name in candidates:  # the confirmation runs in rounds: its cost is shared
        screened[name].cost["confirmation (shared)"] = confirming.figures
    return results


def certify_and_gate(screened: Mapping[str, Screened], confirmed: Mapping[str, StageResult],
                     s: RatchetSettings, say: Progress,
                     banks: RunBanks | None = None) -> dict[str, ValidationResult]:
    """Gate every constant; certify every one not accepted, corrected over all of them.
    Each study that reached confirmation keeps the run's banks as its ``banks`` user attr."""
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
                item.proposal, s.bank, held, certificates=len(screened),  # fixed: all decided
                confidence=s.confidence, target=2 * s.min_improvement)
        item.cost["certificate"] = certifying.figures
    for name, item in screened.items():
        if banks is not None and name in confirmed:
            results[name].banks = banks.to_dict()
        study = open_study(item.proposal.constant, storage=s.storage,
                           study_name=item.study_name, seed=s.seed, batch=s.batch, bank=s.bank,
                           baseline=item.proposal.incumbent)
        record_validation(study, results[name])
    return results


def _joint_seeds(accepted: Mapping[Constant, float], confirmed: Mapping[str, StageResult],
                 bank: BankSpec) -> dict[str, list]:
    """Per family, a prefix of ``bank`` (the replication bank) as long as the largest
    confirmation prefix any of the values was judged on (capped by the bank's size)."""
    sizes: dict[str, int] = {}
    for constant in accepted:
        for look in confirmed[constant.name].looks:
            for family, n in look["sizes"].items():
                sizes[family] = max(sizes.get(family, 0), n)
    return {f: bank.prefix(f, min(n, bank.size)) for f, n in sorted(sizes.items())}


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
               "p_value": result.screen.p_value if result.screen else None,
               "alpha": result.evidence.alpha,
               "errors": {"screen": result.evidence.errors,
                          "confirmation": result.evidence.confirm_errors},
               "families": result.screen.families if result.screen else {},
               "train_families": result.train_family_deltas or {},
               "screen": result.screen.to_dict() if result.screen else None,
               "confirmation": result.confirmation.to_dict() if result.confirmation else None,
               "stage_families": stage.families if stage else {}, "cost": item.cost,
               "rule": item.proposal.rule, "plateau": item.proposal.plateau or None},
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
        if conf.get("lower_bound") is not None:
            latest = conf.get("latest") or {}
            lines.append(f"  {'':{width}}   mean gain ≥ {_signed(conf['lower_bound'])} "
                         f"(anytime bound at its Holm level); last look "
                         f"{_signed(latest.get('mean'))} over {latest.get('n', '?')} scenarios")
        families = conf.get("families") or {}
        if families:
            lines.append(f"  {'':{width}}   by family: " + ", ".join(
                f"{f} {_signed(d)}" for f, d in families.items()))
        lines.append(f"  {'':{width}}   {replication_text(r.replication)}")
        if r.extra.get("plateau"):
            p = r.extra["plateau"]
            lines.append(f"  {'':{width}}   chosen as the plateau middle of [{_fmt(p['low'])}, "
                         f"{_fmt(p['high'])}] on train (the study found {_fmt(p['from'])})")
        if r.robustness:
            lines.append(f"  {'':{width}}   {robustness_text(r.robustness)}")
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
    lines.append(banks_text(result.banks))
    lines.extend(f"Not searched: {note}" for note in result.notes if "no weighted family" in note)
    if accepted and not any((r.replication or {}).get("replicated") for r in accepted):
        lines.append("Replication: no accepted value replicated — no patch to review")
    else:
        lines.append(joint_text(result.joint))
    return "\n".join(lines)


def _why(record: LedgerRecord) -> str:
    if record.reason in ("cliff", "family regression", "at bound", "test floor",
                         "not confirmed", "harm not ruled out", "scenario errors"):
        return f"{record.reason}: {record.detail}"
    return record.reason


def joint_text(joint: dict | None) -> str:
    if not joint or ("constants" in joint and not joint["constants"]):
        return "Confirmation: nothing accepted — no patch to review"
    verdict = "ready for review" if joint["ready"] else (
        f"NOT READY — drop {joint['drop']} (leave-one-out)" if joint.get("drop") else "NOT READY")
    what = ("replicated values together vs the incumbent, replication bank"
            if joint.get("replication") else "confirmed values together vs the incumbent, "
            "confirmation bank")
    lines = [f"Joint check (all {what} "
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
