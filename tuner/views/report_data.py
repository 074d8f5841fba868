"""Step 1 of ``tuner report``: read the study storage into plain data; nothing is drawn here.

Everything a page shows is decided in this step (which study speaks for a constant and why, the
binned response, the sensitivity and its CI, the validator's findings, the ratchet ledger), so
tests check what the pages say without looking at pixels and the drawing code never touches
Optuna. The storage is only read: a missing SQLite file is reported, never created.

This module holds the report as a whole: finding the studies and ledger of one bank in the
storage, and grouping the studies by constant with the one each page draws. One study's view
is ``tuner.views.study_data``; the response statistics are ``tuner.views.spread_stats``; grid
(sweep and sensitivity) studies are ``tuner.views.sensitivity_data``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import optuna
from optuna.study import StudySummary
from optuna.trial import FrozenTrial, TrialState

from tuner.decisions.ledger import LEDGER_PREFIX, LedgerRecord
from tuner.infra.urls import mask_url
from tuner.sensitivity.run import ConstantSensitivity
from tuner.views.sensitivity_data import SweepView, is_grid_study, load_grid_studies
from tuner.views.study_data import StudyView, study_view


class NoStudiesError(ValueError):
    """The storage holds no study of the bank asked for; the message says which banks it has."""


@dataclass
class ConstantView:
    """Every study of one constant; ``primary`` names the one its page draws, ``why`` says why."""

    name: str
    page: str
    studies: list[StudyView]
    primary: str
    why: str
    record: dict | None = None  # the ratchet ledger's record, when the ledger has one

    @property
    def primary_study(self) -> StudyView:
        return next(s for s in self.studies if s.name == self.primary)


@dataclass
class ReportData:
    """Everything ``tuner report`` writes, for one storage and one scenario bank."""

    storage: str
    bank: str
    constants: list[ConstantView]
    ledger_name: str | None = None
    ledger: list[dict] = field(default_factory=list)
    joint: dict | None = None
    sensitivity: list[ConstantSensitivity] = field(default_factory=list)
    sweeps: list[SweepView] = field(default_factory=list)

    def ranking(self) -> list[ConstantView]:
        """Most sensitive first; inert (collapsed) constants last."""
        def key(c: ConstantView) -> tuple:
            s = c.primary_study.sensitivity
            return (s.inert, -s.spread, c.name)

        return sorted(self.constants, key=key)

    def proposals(self) -> list[tuple[ConstantView, StudyView]]:
        """Every study, of every constant, whose validator made a proposal."""
        return [(c, s) for c in self.constants for s in c.studies
                if s.validation is not None and s.validation.proposal is not None]

    def constant(self, name: str) -> ConstantView:
        return next(c for c in self.constants if c.name == name)

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- loading


def load_report_data(storage: str, *, bank_tag: str) -> ReportData:
    """Read every tuning, sweep and sensitivity study of ``bank_tag`` and its ratchet ledger."""
    if _missing_sqlite(storage):
        raise NoStudiesError(f"no study storage at {storage}: the SQLite file does not exist; "
                             "run `tuner optimize` or `tuner ratchet` first")
    from tuner.studies.storage import open_storage

    handle = open_storage(storage, heartbeat=False)
    summaries = optuna.get_all_study_summaries(storage=handle, include_best_trial=False)
    tuning = [s for s in summaries if is_tuning_study(s)]
    mine = sorted((s for s in tuning if s.user_attrs.get("bank") == bank_tag),
                  key=lambda s: s.study_name)
    grids = load_grid_studies(handle, summaries, bank_tag)
    if not mine and not grids:
        others = tuning + [s for s in summaries if is_grid_study(s)]
        raise NoStudiesError(no_studies_message(storage, bank_tag, others))
    ledger = next((s for s in summaries if s.study_name == LEDGER_PREFIX + bank_tag), None)
    records = ledger_records(ledger.user_attrs) if ledger else []
    studies = [study_view(s.study_name, s.user_attrs, _completed(handle, s.study_name))
               for s in mine]
    joint = (ledger.user_attrs.get("joint") or None) if ledger else None
    return ReportData(storage=mask_url(storage), bank=bank_tag,
                      constants=group_constants(studies, records),
                      ledger_name=ledger.study_name if ledger else None,
                      ledger=[r.to_dict() for r in records], joint=joint,
                      sensitivity=grids.sensitivity, sweeps=grids.sweeps)


def is_tuning_study(study: StudySummary) -> bool:
    """An optimize or ratchet study; grid studies (sweep, sensitivity) and the ledger are not."""
    attrs = study.user_attrs
    return (bool(attrs.get("constant")) and not is_grid_study(study)
            and not study.study_name.startswith(LEDGER_PREFIX))


def no_studies_message(storage: str, bank_tag: str, tuning: Sequence[StudySummary]) -> str:
    banks = sorted({str(s.user_attrs.get("bank")) for s in tuning} - {bank_tag})
    message = f"no tuning, sweep or sensitivity studies for scenario bank {bank_tag} in {storage}"
    if not banks:
        return message + "; run `tuner optimize`, `tuner ratchet` or `tuner sensitivity` first"
    return message + f"; it holds bank(s) {', '.join(banks)}: pass " + " or ".join(
        _bank_flags(b) for b in banks)


def _bank_flags(tag: str) -> str:
    match = re.fullmatch(r"b(-?\d+)n(\d+)", tag)
    if not match:
        return tag
    return f"--bank-size {match[2]} --base-seed {match[1]}"


def _missing_sqlite(storage: str) -> bool:
    prefix = "sqlite:///"
    if not storage.startswith(prefix):
        return False
    path = storage[len(prefix):]
    return path not in ("", ":memory:") and not Path(path).exists()


def _completed(handle: optuna.storages.BaseStorage, name: str) -> list[FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=handle)
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def ledger_records(attrs: dict) -> list[LedgerRecord]:
    """The ledger's records in decision order, read without opening (or creating) a Ledger."""
    return [LedgerRecord.from_dict(attrs[f"record:{name}"]) for name in attrs.get("order", [])
            if f"record:{name}" in attrs]


# --------------------------------------------------------------------------- constants


def group_constants(studies: Sequence[StudyView],
                    records: Sequence[LedgerRecord]) -> list[ConstantView]:
    """One view per constant: ledger order first, then by name."""
    by_name: dict[str, list[StudyView]] = {}
    for study in studies:
        by_name.setdefault(study.constant, []).append(study)
    ledger = {r.constant: r for r in records}
    order = [r.constant for r in records if r.constant in by_name]
    order += sorted(set(by_name) - set(order))
    views = []
    for name in order:
        record = ledger.get(name)
        primary, why = choose_primary(by_name[name], record)
        views.append(ConstantView(name=name, page=page_name(name), studies=by_name[name],
                                  primary=primary.name, why=why,
                                  record=record.to_dict() if record else None))
    return views


def choose_primary(studies: Sequence[StudyView],
                   record: LedgerRecord | None) -> tuple[StudyView, str]:
    """The study a constant's page draws: the ledger's, else a ratchet study, else the fullest."""
    if record is not None:
        for study in studies:
            if study.name == record.study_name:
                return study, "the ratchet ledger's decision was made on this study"
    ratchets = [s for s in studies if s.kind == "ratchet"]
    if ratchets:
        return _fullest(ratchets), f"the ratchet study with the most trials ({len(ratchets)} found)"
    validated = [s for s in studies if s.validation is not None]
    if validated:
        return _fullest(validated), "the validated study with the most trials"
    return _fullest(studies), "the study with the most completed trials (none validated yet)"


def _fullest(studies: Sequence[StudyView]) -> StudyView:
    return max(studies, key=lambda s: (len(s.points), s.name))


def page_name(constant: str) -> str:
    return "constant-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", constant) + ".html"
