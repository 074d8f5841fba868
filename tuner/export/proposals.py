"""Turn the ratchet ledger's accepted proposals into a patch of popoto's ``fields/constants.py``.

tuner never writes popoto: popoto's rule is that nothing changes ``constants.py`` without human
review, so the result is a unified diff that people read and apply with ``git apply`` or
``patch -p1``. The diff touches only the accepted constants' values and their trailing comments
(replaced by the evidence behind the change); every other byte of the file stays as it was, so
the review is about numbers, not formatting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import optuna

from tuner.decisions.ledger import LEDGER_PREFIX, Ledger, find_ledgers
from tuner.export.patch import LAYOUTS, Change, ExportError, build_export


def locate_source(popoto_src: str | Path | None) -> Path:
    """The ``constants.py`` to patch: given file, a checkout (``src/`` layout), or installed."""
    if popoto_src is None:
        import popoto.fields.constants

        return Path(popoto.fields.constants.__file__)
    root = Path(popoto_src)
    if root.is_file():
        return root
    candidates = [root / LAYOUTS["repo"], root / LAYOUTS["wheel"], root / "fields/constants.py"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ExportError(f"no popoto constants.py under {root} (looked for "
                      f"{', '.join(str(c.relative_to(root)) for c in candidates)})")


@dataclass(frozen=True)
class ExportOutcome:
    """What ``tuner export`` did: where the patch went, what it changes, where it is attached."""

    out: Path
    source: Path
    layout: str
    changes: tuple[Change, ...]
    ledger_study: str
    artifact_id: str | None
    artifact_dir: Path | None

    def to_dict(self) -> dict:
        return {"out": str(self.out), "source": str(self.source), "layout": self.layout,
                "changes": [c.to_dict() for c in self.changes], "empty": not self.changes,
                "ledger_study": self.ledger_study, "artifact_id": self.artifact_id,
                "artifact_dir": str(self.artifact_dir) if self.artifact_dir else None}


def run_export(
    *, out: Path, storage: str, bank_tag: str, popoto_src: str | None, layout: str,
    artifact_dir: str | None, today: str, allow_not_ready: bool = False,
) -> ExportOutcome:
    """Read the ledger, write the patch file, and attach a non-empty patch to the ledger study."""
    ledger = open_ledger(storage, bank_tag)
    if not allow_not_ready:
        check_joint_ready(ledger)
    source = locate_source(popoto_src)
    export = build_export(ledger.records(), source_text=source.read_text(encoding="utf-8"),
                          layout=layout, today=today, source_name=str(source))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(export.patch, encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror}") from None
    artifact_id, store_dir = None, None
    if export.changes:
        store_dir = artifact_dir_for(storage, artifact_dir)
        artifact_id = attach_patch(ledger.study, out, store_dir)
    return ExportOutcome(out=out, source=source, layout=layout, changes=export.changes,
                         ledger_study=ledger.study.study_name, artifact_id=artifact_id,
                         artifact_dir=store_dir)


def check_joint_ready(ledger: Ledger) -> None:
    """Refuse a set the joint check marked not ready: together it did not beat the defaults."""
    joint = ledger.joint()
    if joint and not joint.get("confirmation"):
        raise ExportError(
            "the accepted set was never checked on a confirmation bank (a ledger from an older "
            "tuner); rerun `tuner ratchet` to confirm it, or pass --allow-not-ready")
    if joint and not joint.get("ready", True):
        drop = f"drop {joint['drop']} and rerun `tuner ratchet`" if joint.get("drop") else (
            "rerun `tuner ratchet`")
        raise ExportError(
            f"the accepted set is NOT READY: joint check {joint['mean']:+.4f} "
            f"[{joint['ci_low']:+.4f}, {joint['ci_high']:+.4f}] over {joint['n']} confirmation "
            f"scenarios; {drop}, or pass --allow-not-ready to export it anyway")


def open_ledger(storage: str, bank_tag: str) -> Ledger:
    """The bank's ledger, refusing rather than creating an empty one (``Ledger`` would)."""
    database = _sqlite_file(storage)
    if database is not None and not database.exists():
        raise ExportError(f"no study database at {database}; run `tuner ratchet` first")
    try:
        ledgers = find_ledgers(storage)
    except Exception as exc:  # any storage failure is a one-line usage error
        raise ExportError(f"cannot open storage {storage}: {exc}") from None
    if f"{LEDGER_PREFIX}{bank_tag}" not in ledgers:
        others = [name.removeprefix(LEDGER_PREFIX) for name in ledgers]
        hint = f" (it has ledgers for banks {', '.join(others)})" if others else ""
        raise ExportError(f"no ratchet ledger for bank {bank_tag} in {storage}{hint}; "
                          "run `tuner ratchet` first")
    return Ledger(storage=storage, bank_tag=bank_tag)


def _sqlite_file(storage: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL; None for other storages and in-memory SQLite."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(storage)
    except Exception:  # not a SQLAlchemy URL: not a SQLite file either
        return None
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def artifact_dir_for(storage: str, explicit: str | None) -> Path:
    """``--artifact-dir``, else ``artifacts/`` next to a SQLite DB, else ``studies/artifacts``."""
    if explicit:
        return Path(explicit)
    database = _sqlite_file(storage)
    return database.parent / "artifacts" if database else Path("studies/artifacts")


def attach_patch(study: optuna.Study, patch_file: Path, store_dir: Path) -> str:
    """Upload the patch as a study-level artifact that optuna-dashboard lists and serves.

    ``optuna.artifacts.upload_artifact`` is used rather than ``optuna_dashboard.artifact``'s: in
    optuna-dashboard 0.21 the latter is deprecated and attaches to trials only, while the ledger
    is a study without trials; the dashboard reads the same ``artifacts:`` study attributes.
    """
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact

    store_dir.mkdir(parents=True, exist_ok=True)
    return upload_artifact(artifact_store=FileSystemArtifactStore(store_dir),
                           file_path=str(patch_file), study_or_trial=study,
                           mimetype="text/x-diff", encoding=None)


def outcome_text(outcome: ExportOutcome, storage: str) -> str:
    """The human summary: what was written, or why the patch is empty."""
    if not outcome.changes:
        return (f"no accepted proposals: the ledger {outcome.ledger_study} holds no ACCEPT "
                f"decision, so there is nothing to change; wrote an empty patch to {outcome.out}")
    lines = [f"wrote {outcome.out}: {len(outcome.changes)} constant(s) of {outcome.source}"]
    lines += [f"  {c.attr}: {c.old} -> {c.new}" for c in outcome.changes]
    where = ("your popoto checkout" if outcome.layout == "repo"
             else "the site-packages directory holding popoto")
    patch = outcome.out.resolve()
    lines.append(f"review it, then from {where} run `git apply {patch}` or "
                 f"`patch -p1 < {patch}`")
    lines.append(f"attached to study {outcome.ledger_study} as artifact {outcome.artifact_id}; "
                 f"see it with `optuna-dashboard {storage} --artifact-dir "
                 f"{outcome.artifact_dir}`")
    return "\n".join(lines)
