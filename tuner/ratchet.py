"""The ratchet: optimize -> validate -> gate, constant by constant, keeping only what wins.

An accepted value becomes part of the baseline every later study starts from and compares to.
After the loop a joint check runs all accepted values together against popoto's defaults on
the validation seeds; when the set does not hold up, leave-one-out says which one to drop.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tuner.catalog import Catalog, Constant
from tuner.evaluation import BankSpec, evaluate_values
from tuner.gate import DEFAULT_MIN_IMPROVEMENT
from tuner.ledger import Ledger, LedgerRecord
from tuner.study import DEFAULT_BATCH, DEFAULT_SEED, DEFAULT_STORAGE, open_study, run_study
from tuner.validation import (
    DEFAULT_TOP,
    PairedComparison,
    ValidationResult,
    paired_comparison,
    record_validation,
    validate_study,
)

DEFAULT_RATCHET_TRIALS = 30


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
        extra={"margin_from": result.margin_from, "cliff": result.cliff},
    )


def run_ratchet(
    constants: Sequence[Constant],
    catalog: Catalog,
    *,
    trials: int = DEFAULT_RATCHET_TRIALS,
    storage: str = DEFAULT_STORAGE,
    seed: int = DEFAULT_SEED,
    batch: int | None = DEFAULT_BATCH,
    bank: BankSpec | None = None,
    min_improvement: float = DEFAULT_MIN_IMPROVEMENT,
    top: int = DEFAULT_TOP,
    on_record: Callable[[LedgerRecord, bool], None] | None = None,
    today: str | None = None,
) -> RatchetResult:
    """Run the loop; constants already in the ledger are not redone (resume)."""
    bank = bank or BankSpec()
    today = today or dt.date.today().isoformat()
    ledger = Ledger(storage=storage, bank_tag=bank.tag)
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
                             batch=batch, bank=bank, min_improvement=min_improvement, top=top,
                             today=today)
        ledger.put(record)
        if record.accepted:
            baseline[constant] = record.proposal  # type: ignore[assignment]
        if on_record:
            on_record(record, False)
    accepted = [r for r in ledger.records() if r.accepted]
    joint = joint_check(accepted, catalog, bank) if accepted else None
    ledger.set_joint(joint or {})
    wanted = {c.name for c in constants}
    return RatchetResult(records=[r for r in ledger.records() if r.constant in wanted],
                         joint=joint)


def ratchet_one(constant: Constant, baseline: dict[Constant, float], *, trials: int,
                storage: str, seed: int, batch: int | None, bank: BankSpec,
                min_improvement: float, top: int, today: str) -> LedgerRecord:
    """optimize -> validate -> gate for one constant, against the carried-forward baseline."""
    name = ratchet_study_name(constant, bank, baseline)
    run_study(constant, trials=trials, storage=storage, study_name=name, seed=seed,
              batch=batch, bank=bank, baseline=baseline)
    study = open_study(constant, storage=storage, study_name=name, seed=seed, batch=batch,
                       bank=bank)
    result = validate_study(study, constant, bank=bank, baseline=baseline,
                            min_improvement=min_improvement, top=top)
    record_validation(study, result)
    return record_from(result, constant, name, today)


def joint_check(accepted: Sequence[LedgerRecord], catalog: Catalog, bank: BankSpec) -> dict:
    """All accepted values together vs popoto's defaults on the validation seeds."""
    values = {catalog.resolve(r.constant): r.proposal for r in accepted}
    seeds = _validation_seeds(values, bank)
    defaults = evaluate_values({}, seeds)
    together = paired_comparison(evaluate_values(values, seeds), defaults)
    ready = together.mean > 0 and together.ci_low > 0
    result = {"mean": together.mean, "ci_low": together.ci_low, "ci_high": together.ci_high,
              "n": together.n, "ready": ready, "drop": None, "leave_one_out": {}}
    if not ready and len(values) > 1:
        loo = {c.name: _without(values, c, seeds, defaults) for c in values}
        result["leave_one_out"] = {k: v.mean for k, v in loo.items()}
        result["drop"] = max(loo, key=lambda k: loo[k].mean)
    elif not ready:
        result["drop"] = next(iter(values)).name
    return result


def _without(values: dict, constant: Constant, seeds: list, defaults) -> PairedComparison:
    rest = {c: v for c, v in values.items() if c != constant}
    return paired_comparison(evaluate_values(rest, seeds), defaults)


def _validation_seeds(values: dict[Constant, float], bank: BankSpec) -> list:
    families = sorted({c.family for c in values})
    return [seed for family in families for seed in bank.pools(family)[1]]


def summary_text(result: RatchetResult) -> str:
    """The RATCHET SUMMARY block."""
    lines = ["RATCHET SUMMARY", "===============",
             "Proposed changes (validated on held-out scenarios):"]
    decided = [r for r in result.records if r.reason != "no sensitivity"]
    width = max([len(r.constant) for r in decided] + [10]) + 1
    for r in decided:
        lines.append(f"  {(r.constant + ':'):{width}} {_fmt(r.default)} -> {_fmt(r.proposal)}  "
                     f"(train {_signed(r.train_delta)}, validation {_signed(r.validation_delta)}"
                     f" [{_signed(r.ci_low)}, {_signed(r.ci_high)}]) {_verdict(r)}")
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
    why = record.detail if record.reason == "cliff" else record.reason
    return f"REJECT ({why})"


def joint_text(joint: dict | None) -> str:
    if not joint:
        return "Joint check: nothing accepted — no patch to review"
    verdict = "ready for review" if joint["ready"] else (
        f"NOT READY — drop {joint['drop']} (leave-one-out)" if joint.get("drop") else "NOT READY")
    return (f"Joint check: {_signed(joint['mean'])} [{_signed(joint['ci_low'])}, "
            f"{_signed(joint['ci_high'])}] over {joint['n']} validation scenarios — {verdict}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"
