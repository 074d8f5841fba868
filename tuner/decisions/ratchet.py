"""The ratchet: optimize -> validate -> gate, constant by constant, keeping only what wins.

An accepted value becomes part of the baseline every later study starts from and compares to.
A run decides m constants on the same validation seeds, so each decision is taken at
alpha / m (Bonferroni: the family-wise false-accept rate of the run stays <= alpha, and each
decision can be taken as soon as its study ends, which Holm's step-down cannot). After the loop
the confirmation check runs all accepted values together, and each alone, against popoto's
defaults on a *confirmation bank* (another base seed) that no decision has touched, in every
family any accepted value reaches; when the set does not hold up, leave-one-out says which one
to drop and the set is not ready.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tuner.catalog import Catalog, Constant
from tuner.decisions.comparison import PairedComparison, compare_values
from tuner.decisions.gate import DEFAULT_MIN_IMPROVEMENT
from tuner.decisions.ledger import Ledger, LedgerRecord
from tuner.decisions.validation import (
    DEFAULT_TOP,
    ValidationResult,
    record_validation,
    validate_study,
)
from tuner.defaults import (
    CONFIRMATION_BASE_SEED,
    CONFIRMATION_SIZE,
    DEFAULT_ALPHA,
    DEFAULT_RATCHET_TRIALS,
)
from tuner.evaluation.engine import BankSpec
from tuner.studies.study import DEFAULT_BATCH, DEFAULT_SEED, DEFAULT_STORAGE, open_study, run_study

DEFAULT_CONFIRMATION = BankSpec(size=CONFIRMATION_SIZE, base_seed=CONFIRMATION_BASE_SEED)


@dataclass
class RatchetResult:
    records: list[LedgerRecord]
    joint: dict | None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"records": [r.to_dict() for r in self.records], "joint": self.joint,
                "seconds": self.seconds, "notes": self.notes}


def ratchet_study_name(constant: Constant, bank: BankSpec, baseline: dict[Constant, float]) -> str:
    """Stable per constant, bank and carried-forward baseline (so a resume finds it)."""
    name = f"ratchet:{constant.name}@{constant.family}-{bank.tag}"
    if baseline:
        text = ",".join(f"{c.name}={v!r}" for c, v in sorted(baseline.items(),
                                                              key=lambda kv: kv[0].name))
        name += "-base" + hashlib.sha1(text.encode()).hexdigest()[:8]
    return name


def select_constants(catalog: Catalog, *, tier: str = "all",
                     names: Sequence[str] = ()) -> list[Constant]:
    """Constants in catalog order, by tier (1, 2, 3, all) or explicit names."""
    if names:
        return [catalog.resolve(n) for n in names]
    if tier == "all":
        return list(catalog)
    return catalog.by_tier(int(tier))


def record_from(result: ValidationResult, constant: Constant, study_name: str,
                today: str) -> LedgerRecord:
    v = result.validation
    return LedgerRecord(
        constant=constant.name, attr=constant.attr, default=result.default,
        proposal=result.proposal, decision=result.decision.label,
        reason=result.decision.reason.value, detail=result.decision.detail,
        train_delta=result.train_delta if not result.collapsed else None,
        validation_delta=v.mean if v else None, ci_low=v.ci_low if v else None,
        ci_high=v.ci_high if v else None, trials=result.trials,
        validation_scenarios=v.n if v else 0, study_name=study_name, date=today,
        extra={"margin_from": result.margin_from, "cliff": result.cliff,
               "p_value": v.p_value if v else None, "alpha": result.evidence.alpha,
               "families": {f: fc.mean for f, fc in v.families.items()} if v else {},
               "train_families": result.train_family_deltas or {}},
    )


def looks_in(catalog: Catalog, ledger: Ledger, constants: Sequence[Constant]) -> int:
    """How many decisions share this bank's validation seeds: every catalog constant, and any
    other constant the ledger holds or this run selects. Each is taken at alpha / looks."""
    names = {c.name for c in catalog} | {r.constant for r in ledger.records()}
    return len(names | {c.name for c in constants})


def run_ratchet(
    constants: Sequence[Constant],
    catalog: Catalog,
    *,
    trials: int = DEFAULT_RATCHET_TRIALS,
    storage: str = DEFAULT_STORAGE,
    seed: int = DEFAULT_SEED,
    batch: int | None = DEFAULT_BATCH,
    bank: BankSpec | None = None,
    confirmation: BankSpec = DEFAULT_CONFIRMATION,
    min_improvement: float = DEFAULT_MIN_IMPROVEMENT,
    alpha: float = DEFAULT_ALPHA,
    top: int = DEFAULT_TOP,
    on_record: Callable[[LedgerRecord, bool], None] | None = None,
    today: str | None = None,
) -> RatchetResult:
    """Run the loop; constants already in the ledger are not redone (resume)."""
    bank = bank or BankSpec()
    if confirmation.base_seed == bank.base_seed:
        raise ValueError(f"the confirmation bank needs another base seed than the decision "
                         f"bank, got {confirmation.base_seed} for both")
    today = today or dt.date.today().isoformat()
    ledger = Ledger(storage=storage, bank_tag=bank.tag)
    per_decision_alpha = alpha / looks_in(catalog, ledger, constants)
    baseline: dict[Constant, float] = {}
    for record in ledger.accepted():
        baseline[catalog.resolve(record.constant)] = record.proposal  # type: ignore[assignment]
    for constant in constants:
        existing = ledger.get(constant.name)
        if existing is not None:
            if on_record:
                on_record(existing, True)
            continue
        record = ratchet_one(constant, baseline, trials=trials, storage=storage, seed=seed,
                             batch=batch, bank=bank, min_improvement=min_improvement,
                             alpha=per_decision_alpha, top=top, today=today)
        ledger.put(record)
        if record.accepted:
            baseline[constant] = record.proposal  # type: ignore[assignment]
        if on_record:
            on_record(record, False)
    accepted = [r for r in ledger.records() if r.accepted]
    joint = joint_check(accepted, catalog, confirmation, alpha=alpha,
                        min_improvement=min_improvement) if accepted else None
    ledger.set_joint(joint or {})
    wanted = {c.name for c in constants}
    return RatchetResult(records=[r for r in ledger.records() if r.constant in wanted],
                         joint=joint)


def ratchet_one(constant: Constant, baseline: dict[Constant, float], *, trials: int,
                storage: str, seed: int, batch: int | None, bank: BankSpec,
                min_improvement: float, alpha: float, top: int, today: str) -> LedgerRecord:
    """optimize -> validate -> gate for one constant, against the carried-forward baseline."""
    name = ratchet_study_name(constant, bank, baseline)
    run_study(constant, trials=trials, storage=storage, study_name=name, seed=seed,
              batch=batch, bank=bank, baseline=baseline)
    study = open_study(constant, storage=storage, study_name=name, seed=seed, batch=batch,
                       bank=bank)
    result = validate_study(study, constant, bank=bank, baseline=baseline,
                            min_improvement=min_improvement, alpha=alpha, top=top)
    record_validation(study, result)
    return record_from(result, constant, name, today)


def joint_check(accepted: Sequence[LedgerRecord], catalog: Catalog, confirmation: BankSpec, *,
                alpha: float = DEFAULT_ALPHA,
                min_improvement: float = DEFAULT_MIN_IMPROVEMENT) -> dict:
    """All accepted values together, and each alone, vs popoto's defaults on the confirmation
    bank, in every family any of them reaches. One test at ``alpha``: this bank has seen no
    decision, so no correction is owed."""
    values = {catalog.resolve(r.constant): r.proposal for r in accepted}
    seeds = confirmation_seeds(values, confirmation)
    together = compare_values(values, {}, seeds)
    regressions = together.regressions(tolerance=2 * min_improvement, alpha=alpha)
    alone = {c.name: compare_values({c: v}, {}, {f: seeds[f] for f in c.reached_families})
             for c, v in values.items()}
    ready = together.mean > 0 and together.p_value < alpha and not regressions
    result = {"mean": together.mean, "ci_low": together.ci_low, "ci_high": together.ci_high,
              "p_value": together.p_value, "alpha": alpha, "n": together.n, "ready": ready,
              "bank": confirmation.tag, "confirmation": True,
              "constants": {c.name: v for c, v in values.items()},  # what it covered
              "families": {f: fc.mean for f, fc in together.families.items()},
              "regressions": regressions,
              "alone": {name: {"mean": c.mean, "p_value": c.p_value,
                               "families": {f: fc.mean for f, fc in c.families.items()}}
                        for name, c in alone.items()},
              "drop": None, "leave_one_out": {}}
    if not ready and len(values) > 1:
        loo = {c.name: _without(values, c, seeds) for c in values}
        result["leave_one_out"] = {k: v.mean for k, v in loo.items()}
        result["drop"] = max(loo, key=lambda k: loo[k].mean)
    elif not ready:
        result["drop"] = next(iter(values)).name
    return result


def _without(values: dict, constant: Constant, seeds: dict) -> PairedComparison:
    rest = {c: v for c, v in values.items() if c != constant}
    families = {f for c in rest for f in c.reached_families}
    return compare_values(rest, {}, {f: s for f, s in seeds.items() if f in families})


def confirmation_seeds(values: dict[Constant, float], confirmation: BankSpec) -> dict:
    """Every seed of the confirmation bank in every family any accepted value reaches."""
    families = sorted({f for c in values for f in c.reached_families})
    return {family: confirmation.bank(family) for family in families}


def summary_text(result: RatchetResult) -> str:
    """The RATCHET SUMMARY block, with each proposal's per-family validation deltas."""
    lines = ["RATCHET SUMMARY", "===============",
             "Proposed changes (validated on held-out scenarios of every reached family):"]
    decided = [r for r in result.records if r.reason != "no sensitivity"]
    width = max([len(r.constant) for r in decided] + [10]) + 1
    for r in decided:
        p = r.extra.get("p_value")
        stats = f", p {p:.3g} vs alpha {r.extra.get('alpha', 0):.3g}" if p is not None else ""
        lines.append(f"  {(r.constant + ':'):{width}} {_fmt(r.default)} -> {_fmt(r.proposal)}  "
                     f"(train {_signed(r.train_delta)}, validation {_signed(r.validation_delta)}"
                     f" [{_signed(r.ci_low)}, {_signed(r.ci_high)}]{stats}) {_verdict(r)}")
        families = r.extra.get("families") or {}
        if families:
            lines.append(f"  {'':{width}}   by family: " + ", ".join(
                f"{f} {_signed(d)}" for f, d in families.items()))
    if not decided:
        lines.append("  (none)")
    inert = [r.constant for r in result.records if r.reason == "no sensitivity"]
    lines.append("Rejected (no sensitivity):")
    lines.append("  " + (", ".join(inert) if inert else "(none)"))
    lines.append(joint_text(result.joint))
    return "\n".join(lines)


def _verdict(record: LedgerRecord) -> str:
    if record.accepted:
        return "ACCEPT" + (" (margin)" if record.extra.get("margin_from") is not None else "")
    why = record.detail if record.reason in ("cliff", "family regression", "at bound") \
        else record.reason
    return f"REJECT ({why})"


def joint_text(joint: dict | None) -> str:
    if not joint:
        return "Confirmation: nothing accepted — no patch to review"
    verdict = "ready for review" if joint["ready"] else (
        f"NOT READY — drop {joint['drop']} (leave-one-out)" if joint.get("drop") else "NOT READY")
    where = f"confirmation bank {joint['bank']}" if joint.get("confirmation") else "validation"
    lines = [f"Confirmation (all accepted together vs popoto's defaults, {where}): "
             f"{_signed(joint['mean'])} [{_signed(joint['ci_low'])}, {_signed(joint['ci_high'])}]"
             f", p {joint.get('p_value', float('nan')):.3g}, over {joint['n']} scenarios — "
             f"{verdict}"]
    if joint.get("families"):
        lines.append("  by family: " + ", ".join(f"{f} {_signed(d)}"
                                                 for f, d in joint["families"].items()))
    for name, alone in (joint.get("alone") or {}).items():
        lines.append(f"  {name} alone: {_signed(alone['mean'])} (" + ", ".join(
            f"{f} {_signed(d)}" for f, d in alone["families"].items()) + ")")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"
