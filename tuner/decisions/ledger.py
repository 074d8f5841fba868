"""The ratchet ledger: one decision record per constant, kept in the study storage itself.

It lives as user attrs of a dedicated Optuna study, so it travels with the studies whatever the
storage (SQLite file, PostgreSQL), a later ``tuner ratchet`` resumes from it, and ``tuner
export`` reads the accepted proposals from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import optuna

LEDGER_PREFIX = "tuner-ratchet-ledger@"


@dataclass(frozen=True)
class LedgerRecord:
    """What the ratchet decided for one constant, with the evidence behind it."""

    constant: str
    attr: str | None
    default: float
    proposal: float | None
    decision: str  # "ACCEPT" or "REJECT"
    reason: str  # a gate Reason value
    detail: str
    train_delta: float | None
    validation_delta: float | None
    ci_low: float | None
    ci_high: float | None
    trials: int
    validation_scenarios: int
    study_name: str
    date: str
    extra: dict = field(default_factory=dict)
    incumbent: float | None = None  # the value every comparison of this decision was against
    popoto_default: float | None = None  # popoto's own default when the decision was taken
    certificate: dict | None = None  # for a constant not accepted: the bound on any gain
    robustness: dict | None = None  # for an accepted value: robust or conditional, over worlds
    confirmation_bank: dict | None = None  # the bank claim it was confirmed on (banks.py)
    replication: dict | None = None  # accepted: re-tested alone on the replication bank

    @property
    def accepted(self) -> bool:
        return self.decision == "ACCEPT"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LedgerRecord:
        return cls(**data)


class Ledger:
    """Ordered decision records for one bank, persisted in an Optuna storage."""

    def __init__(self, *, storage: str, bank_tag: str) -> None:
        from tuner.studies.storage import open_storage
        from tuner.studies.study import ensure_sqlite_dir

        ensure_sqlite_dir(storage)
        self.study = optuna.create_study(
            study_name=f"{LEDGER_PREFIX}{bank_tag}", storage=open_storage(storage),
            load_if_exists=True,
        )

    def records(self) -> list[LedgerRecord]:
        attrs = self.study.user_attrs
        order = attrs.get("order", [])
        return [LedgerRecord.from_dict(attrs[f"record:{name}"]) for name in order
                if f"record:{name}" in attrs]

    def get(self, constant: str) -> LedgerRecord | None:
        data = self.study.user_attrs.get(f"record:{constant}")
        return LedgerRecord.from_dict(data) if data else None

    def put(self, record: LedgerRecord) -> None:
        order = list(self.study.user_attrs.get("order", []))
        if record.constant not in order:
            order.append(record.constant)
        self.study.set_user_attr(f"record:{record.constant}", record.to_dict())
        self.study.set_user_attr("order", order)

    def accepted(self) -> list[LedgerRecord]:
        return [r for r in self.records() if r.accepted]

    def set_joint(self, joint: dict) -> None:
        self.study.set_user_attr("joint", joint)

    def set_run(self, run: dict) -> None:
        """What the last complete run decided over (constants and settings), for resume."""
        self.study.set_user_attr("run", run)

    def run(self) -> dict | None:
        return self.study.user_attrs.get("run")

    def set_profile(self, profile: dict) -> None:
        """The deployment profile every decision here was taken under (``Profile.to_dict``:
        family weights and world knobs; empty tables for the default profile)."""
        self.study.set_user_attr("profile", profile)

    def profile(self) -> dict | None:
        """The header's profile; None for a ledger written before profiles (the default)."""
        return self.study.user_attrs.get("profile")

    def joint(self) -> dict | None:
        return self.study.user_attrs.get("joint")

    def set_banks(self, banks: dict) -> None:
        """The banks a run claimed (confirmation, replication) and the run they belong to, kept
        before anything is confirmed on them: a resumed run finds and keeps its own claims.
        Every run's claims are also appended to ``bank_history``."""
        history = list(self.study.user_attrs.get("bank_history", []))
        history.append(banks)
        self.study.set_user_attr("banks", banks)
        self.study.set_user_attr("bank_history", history)

    def banks(self) -> dict | None:
        return self.study.user_attrs.get("banks")

    def bank_history(self) -> list[dict]:
        return list(self.study.user_attrs.get("bank_history", []))


def find_ledgers(storage: str) -> list[str]:
    """Names of the ledger studies in ``storage``."""
    return [name for name in optuna.get_all_study_names(storage=storage)
            if name.startswith(LEDGER_PREFIX)]
