"""The ratchet ledger as a JSON file: what popoto's maintainers commit next to ``constants.py``.

``tuner export --format ledger`` writes it from a study storage; ``tuner check`` reads it (or the
storage itself) and re-verifies every claim against the popoto installed now. A file is plain
data: each decision record as the ledger keeps it, the joint confirmation record, the bank and
where it came from, so a CI job needs no study database. Records are kept as dicts and read
defensively: a file written by a later tuner (records with more fields: an incumbent, a
certificate) or an earlier one (fewer) still loads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuner.decisions.ledger import Ledger

FORMAT = "tuner-ledger"
VERSION = 1


class LedgerFileError(ValueError):
    """The ledger file cannot be read; the message is one line saying why and what is expected."""


@dataclass(frozen=True)
class LedgerSnapshot:
    """A ledger's records (as dicts, in ratchet order) and its joint record, wherever it lives."""

    records: tuple[dict, ...]
    joint: dict
    bank: str
    source: str  # where it was read from: a file path or a storage's ledger study
    meta: dict = field(default_factory=dict)  # a file's "exported", "popoto" and "source"


def ledger_payload(records: Sequence[Mapping[str, Any]], joint: Mapping[str, Any] | None, *,
                   bank: str, today: str, popoto: str, source: str) -> dict:
    """The JSON document ``tuner export --format ledger`` writes."""
    return {"format": FORMAT, "version": VERSION, "exported": today, "popoto": popoto,
            "bank": bank, "source": source, "records": [dict(r) for r in records],
            "joint": dict(joint or {})}


def read_ledger_file(path: Path | str) -> LedgerSnapshot:
    """Load and sanity-check a ledger file; anything else is a ``LedgerFileError``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LedgerFileError(f"no ledger file at {path}; write one with `tuner export "
                              "--format ledger --out FILE`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LedgerFileError(f"cannot read the ledger file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise LedgerFileError(f"the ledger file {path} is not JSON ({exc.msg}, line "
                              f"{exc.lineno}); write one with `tuner export --format ledger`"
                              ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LedgerFileError(f"{path} is not a tuner ledger file (expected a JSON object with "
                              f'"format": "{FORMAT}", from `tuner export --format ledger`)')
    if data.get("version") != VERSION:
        raise LedgerFileError(f"{path} is a tuner ledger of version {data.get('version')!r}; "
                              f"this tuner reads version {VERSION}")
    records = data.get("records")
    if not isinstance(records, list) or not all(_is_record(r) for r in records):
        raise LedgerFileError(f"{path}: \"records\" must be a list of decision records, each "
                              "with at least constant, decision and default")
    joint = data.get("joint") or {}
    if not isinstance(joint, dict):
        raise LedgerFileError(f'{path}: "joint" must be a JSON object')
    return LedgerSnapshot(records=tuple(records), joint=joint, bank=str(data.get("bank", "")),
                          source=str(path),
                          meta={k: data.get(k) for k in ("exported", "popoto", "source")})


def _is_record(record: object) -> bool:
    return isinstance(record, dict) and isinstance(record.get("constant"), str) \
        and isinstance(record.get("decision"), str) and "default" in record


# --------------------------------------------------------------------------- from a storage


def open_ledger(storage: str, bank_tag: str) -> Ledger:
    """The bank's ledger in ``storage``, refusing rather than creating an empty one (``Ledger``
    would), with one line saying what is there instead."""
    from tuner.decisions.ledger import LEDGER_PREFIX, Ledger, find_ledgers

    database = sqlite_file(storage)
    if database is not None and not database.exists():
        raise LedgerFileError(f"no study database at {database}; run `tuner ratchet` first")
    try:
        ledgers = find_ledgers(storage)
    except Exception as exc:  # noqa: BLE001 - any storage failure is a one-line usage error
        raise LedgerFileError(f"cannot open storage {storage}: {exc}") from None
    if f"{LEDGER_PREFIX}{bank_tag}" not in ledgers:
        others = [name.removeprefix(LEDGER_PREFIX) for name in ledgers]
        hint = f" (it has ledgers for banks {', '.join(others)})" if others else ""
        raise LedgerFileError(f"no ratchet ledger for bank {bank_tag} in {storage}{hint}; "
                              "run `tuner ratchet` first")
    return Ledger(storage=storage, bank_tag=bank_tag)


def snapshot_of(ledger: Ledger, *, bank: str, where: str) -> LedgerSnapshot:
    """A storage ledger's records and joint record, as ``tuner check`` reads a file."""
    return LedgerSnapshot(records=tuple(r.to_dict() for r in ledger.records()),
                          joint=dict(ledger.joint() or {}), bank=bank,
                          source=f"{ledger.study.study_name} in {where}")


def sqlite_file(storage: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL; None for other storages and in-memory SQLite."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(storage)
    except Exception:  # noqa: BLE001 - not a SQLAlchemy URL: not a SQLite file either
        return None
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)
