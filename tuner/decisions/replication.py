"""A run's banks, and replication: every accepted value re-tested alone on a bank no decision saw.

Why a fresh bank per run (``tuner.studies.banks``): alpha is counted per run, but a bank is
spent across runs, so each run that confirms claims its own confirmation bank from the
storage's registry. Why replication: the confirmation's accepting look is the one that looked
best (it may be an early look, and Holm picked the most convincing first), so its estimate is
biased upward, and a value barely above the bar there can fail to win anywhere else. A second
fresh claim, the **replication bank**, is touched by no decision: each accepted value is
scored alone there on as many scenarios per family as its accepting look used (capped by the
confirmation size), and the joint check of the values together runs there too. A value
*replicates* when its mean Δ there is above 0 and every family it reaches shows no harm
beyond the margin: the family's anytime lower bound (``betting.lower_bound`` at the no-harm
level, the same rule that let it be accepted) is at least ``-harm_margin``, and no scenario
crashed on its side only. ``tuner export`` exports only values that replicated.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from tuner.catalog import Constant
from tuner.decisions import betting
from tuner.decisions.comparison import PairedComparison, compare_values
from tuner.decisions.ledger import Ledger, LedgerRecord
from tuner.decisions.sequential import walk_prefixes
from tuner.decisions.stages import StageResult, StageRules
from tuner.evaluation.engine import BankSpec
from tuner.studies.banks import BankClaim, BankRegistry


@dataclass(frozen=True)
class RunBanks:
    """The two banks one run claimed: where it confirms, and where it replicates."""

    confirmation: BankClaim
    replication: BankClaim
    size: int  # scenarios per family either bank may give (--confirm-size)

    @property
    def confirmation_bank(self) -> BankSpec:
        return BankSpec(size=self.size, base_seed=self.confirmation.base_seed)

    @property
    def replication_bank(self) -> BankSpec:
        return BankSpec(size=self.size, base_seed=self.replication.base_seed)

    def to_dict(self) -> dict:
        return {"confirmation": {**self.confirmation.to_dict(),
                                 "tag": self.confirmation_bank.tag},
                "replication": {**self.replication.to_dict(), "tag": self.replication_bank.tag},
                "size": self.size}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunBanks:
        return cls(BankClaim.from_dict(data["confirmation"]),
                   BankClaim.from_dict(data["replication"]), int(data["size"]))

    def text(self) -> str:
        return (f"confirmation bank {self.confirmation.text()}, replication bank "
                f"{self.replication.text()}, up to {self.size} scenarios per family")


def claim_run_banks(registry: BankRegistry, *, size: int, pinned: int | None, reuse: bool,
                    command: str, run: Mapping[str, Any] | None = None,
                    avoid: Collection[int] = ()) -> RunBanks:
    """Claim the run's confirmation bank (``pinned``: the one asked for, refused when spent
    unless ``reuse``) and a fresh replication bank, never one in ``avoid`` (the decision bank).

    Raises ``banks.BankSpentError`` for a spent ``pinned`` bank without ``reuse``.
    """
    if pinned is None:
        confirmation = registry.claim(purpose="confirmation", command=command, run=run,
                                      avoid=avoid)
    else:
        confirmation = registry.claim_explicit(pinned, purpose="confirmation",
                                               command=command, run=run, reuse=reuse)
    replication = registry.claim(purpose="replication", command=command, run=run,
                                 avoid={*avoid, confirmation.base_seed})
    return RunBanks(confirmation, replication, size)


def claim_for_run(ledger: Ledger, identity: Mapping[str, Any], *, storage: str, size: int,
                  pinned: int | None, reuse: bool, avoid: Collection[int]) -> RunBanks:
    """A ratchet's claims, kept in its ledger (with the run's identity) before anything is
    confirmed on them, so a resumed run finds them (``kept_banks``)."""
    banks = claim_run_banks(BankRegistry(storage), size=size, pinned=pinned, reuse=reuse,
                            command="ratchet", run=identity, avoid=avoid)
    ledger.set_banks({**banks.to_dict(), "identity": dict(identity)})
    return banks


def kept_banks(ledger: Ledger, identity: Mapping[str, Any]) -> RunBanks | None:
    """The banks this very run claimed before it was interrupted (a resume keeps them)."""
    kept = ledger.banks()
    if kept and kept.get("identity") == identity:
        return RunBanks.from_dict(kept)
    return None


def ledger_banks(ledger: Ledger) -> dict | None:
    """The banks of the ledger's last finished run (kept with its joint record)."""
    return (ledger.joint() or {}).get("banks")


def banks_text(banks: Mapping[str, Any] | None) -> str:
    """Which banks the run confirmed and replicated on (claimed fresh, or asked for)."""
    if not banks:
        return "Banks: none claimed (no value reached confirmation)"
    return "Banks: " + RunBanks.from_dict(banks).text()


def with_replication(record: LedgerRecord, banks: RunBanks, constant: Constant,
                     incumbent: Mapping[Constant, float], stage: StageResult | None, *,
                     rules: StageRules, progress: Callable[[str], None] | None = None
                     ) -> LedgerRecord:
    """The record with the bank it was confirmed on and, when accepted, its replication."""
    if stage is None:
        return record
    changes: dict = {"confirmation_bank": banks.to_dict()["confirmation"]}
    if record.accepted and record.proposal is not None:
        if progress:
            progress(f"{record.constant}: replicating {record.proposal:.4g} alone on the "
                     "replication bank")
        changes["replication"] = replicate(constant, record.proposal, incumbent, stage,
                                           banks.replication_bank, rules=rules)
    return LedgerRecord.from_dict(json.loads(json.dumps({**record.to_dict(), **changes})))


REPLICATION_FLOOR = 300  # per family: where all-zero or modest deltas can show no harm


def accepting_sizes(stage: StageResult, cap: int) -> dict[str, int]:
    """Scenarios per family of the look that accepted (else the last), at least
    ``REPLICATION_FLOOR``, capped at ``cap``: a value accepted on an early look still gets a
    replication with the power to show its mean above 0 and no family harmed (at 75 per family
    a true +0.03 at SD 0.19 replicates less than half the time; at 300, nine in ten)."""
    looks = stage.looks or []
    look = next((x for x in looks if x.get("look") == stage.accepted_at),
                looks[-1] if looks else None)
    sizes = (look or {}).get("sizes") or {}
    return {f: max(2, min(max(int(n), REPLICATION_FLOOR), cap)) for f, n in sorted(sizes.items())}


# An early stop needs the gain itself shown on the fresh bank (anytime p of "mean <= 0" below
# this), not only an estimate above 0: looking until the estimate turns positive would let a
# value with no gain "replicate" more often than half the time.
REPLICATION_EARLY_LEVEL = 0.05


def replicate(constant: Constant, value: float, incumbent: Mapping[Constant, float],
              stage: StageResult, bank: BankSpec, *, rules: StageRules) -> dict:
    """Score ``value`` alone against the incumbent on the replication bank and judge it.

    Looks at 50, 62, 78, ... per family up to the planned size (``accepting_sizes``): it stops
    early as replicated once every family shows no harm beyond the margin and the gain is
    shown at ``REPLICATION_EARLY_LEVEL`` (both anytime-valid, so stopping there is as sound as
    the full size), and early as not replicated once a family's loss beyond the margin is
    proven or a scenario crashed on one side only. Otherwise the full size is judged.
    """
    sizes = accepting_sizes(stage, bank.size)
    values = {**incumbent, constant: value}
    comparison, _ = walk_prefixes(
        sizes, bank.prefix, lambda seeds: compare_values(values, incumbent, seeds),
        lambda c: _shown_early(c, rules) or _failed_early(c, rules))
    record = judge_replication(comparison, bank, rules=rules)
    record["planned"] = sizes
    record["early"] = record["sizes"] != sizes
    return record


def _shown_early(comparison: PairedComparison, rules: StageRules) -> bool:
    """No crash, no harm beyond the margin in any family, and the gain shown."""
    return (not comparison.errors and not comparison.not_shown_harmless(
        margin=rules.harm_margin, alpha=rules.harm_alpha)
        and betting.p_value(comparison.rounds, 0.0, design_level=REPLICATION_EARLY_LEVEL)
        < REPLICATION_EARLY_LEVEL)


def _failed_early(comparison: PairedComparison, rules: StageRules) -> bool:
    """A crash on one side, or a loss beyond the margin proven in some family."""
    return bool(comparison.errors) or bool(comparison.regressions(
        margin=rules.harm_margin, alpha=rules.harm_alpha))


def judge_replication(comparison: PairedComparison, bank: BankSpec, *,
                      rules: StageRules) -> dict:
    """The ledger's replication record: above 0 on the mean, no family harmed beyond the
    margin (its anytime lower bound at ``harm_alpha``), no one-sided crash."""
    lower = {f: betting.lower_bound(fc.values, level=rules.harm_alpha)
             for f, fc in comparison.judged().items()}
    harmed = {f: b for f, b in lower.items() if b < -rules.harm_margin}
    errors = getattr(comparison, "errors", None)
    if comparison.mean <= 0:
        reason = f"mean Δ {comparison.mean:+.4f} is not above 0 on the replication bank"
    elif harmed:
        reason = (f"harm beyond the margin {rules.harm_margin:g} not ruled out in "
                  + ", ".join(f"{f} (lower bound {b:+.4f})" for f, b in sorted(harmed.items())))
    elif errors:
        reason = "scenarios crashed on one side only on the replication bank"
    else:
        reason = ""
    return {"bank": bank.tag, "base_seed": bank.base_seed, "n": comparison.n,
            "sizes": {f: fc.n for f, fc in comparison.families.items()},
            "mean": comparison.mean, "ci_low": comparison.ci_low,
            "ci_high": comparison.ci_high,
            "families": {f: fc.mean for f, fc in comparison.families.items()},
            "family_lower": lower, "level": rules.harm_alpha, "margin": rules.harm_margin,
            "replicated": not reason, "reason": reason}


def replication_text(replication: Mapping[str, Any] | None) -> str:
    """One phrase for a summary line."""
    if not replication:
        return "not replicated (no replication on a fresh bank recorded)"
    figures = (f"{replication['mean']:+.3f} [{replication['ci_low']:+.3f}, "
               f"{replication['ci_high']:+.3f}] over {replication['n']} scenarios of bank "
               f"{replication['bank']}")
    if replication.get("replicated"):
        return f"replicated {figures}"
    return f"NOT REPLICATED {figures}: {replication.get('reason', '')}"


def not_replicated(record: Any) -> str | None:
    """Why an accepted ledger record (object or dict) may not be exported, or None."""
    get = record.get if isinstance(record, Mapping) else (lambda k: getattr(record, k, None))
    replication = get("replication")
    if not replication:
        return ("its confirmation was never replicated on a fresh bank (a ledger from an "
                "older tuner); rerun `tuner ratchet`")
    if not replication.get("replicated"):
        return (f"its confirmation did not replicate on bank {replication.get('bank')}: "
                f"{replication.get('reason') or 'no gain there'}")
    return None
