"""``tuner export``: the ratchet ledger's accepted values, for people to review and apply.

tuner never writes popoto: popoto's rule is that nothing changes its defaults without human
review. Three formats:

- ``patch`` (default): one unified diff of popoto's source (``fields/constants.py`` and any
  signature a value is frozen into) that people read and apply with ``git apply`` or
  ``patch -p1``; a value that cannot be patched is listed with its file and line;
- ``config``: start-up Python lines for a deployment (``Defaults.X = v  # evidence``);
- ``ledger``: the ledger itself as JSON, committed next to ``constants.py`` for ``tuner check``.

Only a set the ratchet's joint check confirmed is exported: every accepted value must be among
the values the joint record says it covered, and the set must be ready (``check_confirmed``;
``--allow-not-ready`` overrides). An accepted value whose confirmation did not replicate on the
run's replication bank (``tuner.decisions.replication``) is left out and listed with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import optuna

from tuner.catalog import Catalog, UnknownConstantError
from tuner.decisions.ledger import Ledger, LedgerRecord
from tuner.decisions.ledger_file import LedgerFileError, ledger_payload, sqlite_file
from tuner.decisions.ledger_file import open_ledger as open_ledger_in
from tuner.decisions.replication import not_replicated
from tuner.export.call_sites import Reach, scan_reach
from tuner.export.config import config_snippet
from tuner.export.patch import LAYOUTS, Change, Export, ExportError, Skipped, build_export
from tuner.export.popoto_tests import (
    DEFAULT_TIMEOUT,
    TestReport,
    checkout_root,
    run_popoto_tests,
)
from tuner.export.pull_request import pr_markdown
from tuner.export.sites import CONSTANTS_FILE

FORMATS = ("patch", "config", "ledger", "pr")


def locate_source(popoto_src: str | Path | None) -> Path:
    """The ``constants.py`` to patch: given file, a checkout (``src/`` layout), or installed."""
    if popoto_src is None:
        import popoto.fields.constants

        return Path(popoto.fields.constants.__file__)
    root = Path(popoto_src)
    if root.is_file():
        return root
    candidates = [root / LAYOUTS["repo"], root / LAYOUTS["wheel"], root / CONSTANTS_FILE]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ExportError(f"no popoto constants.py under {root} (looked for "
                      f"{', '.join(str(c.relative_to(root)) for c in candidates)})")


def package_root(constants: Path) -> Path:
    """popoto's package directory: the one holding ``fields/constants.py``."""
    return constants.resolve().parent.parent


@dataclass(frozen=True)
class ExportOutcome:
    """What ``tuner export`` did: where the output went, what it changes, where it is attached."""

    out: Path
    source: Path | None
    layout: str
    changes: tuple[Change, ...]
    ledger_study: str
    artifact_id: str | None
    artifact_dir: Path | None
    format: str = "patch"
    skipped: tuple[Skipped, ...] = ()
    values: dict = field(default_factory=dict)  # config/ledger: constant -> exported value
    # accepted values whose confirmation did not replicate: constant -> (value, reason); left
    # out unless --allow-not-ready (``forced``), which exports them and says so
    not_replicated: dict = field(default_factory=dict)
    forced: bool = False
    tests: TestReport | None = None  # popoto's own tests before/after the patch (--popoto-src)

    def to_dict(self) -> dict:
        return {"out": str(self.out), "source": str(self.source) if self.source else None,
                "popoto_tests": self.tests.to_dict() if self.tests else None,
                "not_replicated": {k: {"value": v, "reason": why}
                                   for k, (v, why) in self.not_replicated.items()},
                "exported_anyway": self.forced and bool(self.not_replicated),
                "layout": self.layout, "format": self.format,
                "changes": [c.to_dict() for c in self.changes],
                "skipped": [s.to_dict() for s in self.skipped],
                "values": self.values,
                "empty": not (self.changes or self.values),
                "ledger_study": self.ledger_study, "artifact_id": self.artifact_id,
                "artifact_dir": str(self.artifact_dir) if self.artifact_dir else None}


def run_export(
    *, out: Path, storage: str, bank_tag: str, popoto_src: str | None, layout: str,
    artifact_dir: str | None, today: str, allow_not_ready: bool = False,
    output_format: str = "patch", catalog: Catalog | None = None, where: str = "",
    all_tests: bool = False, test_timeout: float = DEFAULT_TIMEOUT,
) -> ExportOutcome:
    """Read the ledger, check its set was confirmed, and write the asked-for format.

    With ``popoto_src`` a checkout that has tests, popoto's tests touching the changed constants
    (``all_tests``: every test) run on a copy before and after the patch (``TestReport``); a
    test the patch breaks is listed (summary, ledger, PR description), never blocking.
    """
    if output_format not in FORMATS:
        raise ExportError(f"unknown format {output_format!r}; use one of {', '.join(FORMATS)}")
    ledger = open_ledger(storage, bank_tag)
    everything = ledger.records()
    held = {r.constant: (r.proposal, why) for r in everything  # only replicated values go out
            if r.accepted and (why := not_replicated(r)) is not None}
    records = everything if allow_not_ready else [r for r in everything if r.constant not in held]
    if not allow_not_ready:
        check_confirmed(records, ledger.joint())
    base = dict(out=out, layout=layout, ledger_study=ledger.study.study_name,
                format=output_format, not_replicated=held, forced=allow_not_ready)
    review = dict(catalog=catalog, popoto_src=popoto_src, layout=layout, today=today,
                  all_tests=all_tests, timeout=test_timeout)
    if output_format == "ledger":
        from tuner.evaluation.fingerprint import popoto_version

        payload = ledger_payload([r.to_dict() for r in everything], ledger.joint(), bank=bank_tag,
                                 today=today, popoto=popoto_version(),
                                 source=f"{ledger.study.study_name} in {where or 'storage'}")
        _, export, reach, tests = reviewed(records, **review, patch=popoto_src is not None)
        payload["popoto_calls"] = {name: r.to_dict() for name, r in reach.items()}
        if tests is not None:
            payload["popoto_tests"] = tests.to_dict()
        _write(out, _json(payload))
        return ExportOutcome(**base, source=None, changes=(), artifact_id=None,
                             artifact_dir=None, values=_accepted_values(records), tests=tests)
    if output_format == "config":
        constants = _catalog_constants(catalog, records, ledger.joint())
        _write(out, config_snippet(records, constants=constants,
                                   incumbent=(ledger.joint() or {}).get("incumbent") or {},
                                   today=today, ledger_name=ledger.study.study_name))
        return ExportOutcome(**base, source=None, changes=(), artifact_id=None,
                             artifact_dir=None, values=_accepted_values(records))
    source, export, reach, tests = reviewed(records, **review, patch=True)
    if output_format == "pr":
        _write(out, pr_markdown(records, ledger.joint(), changes=export.changes,
                                skipped=export.skipped, reach=reach, tests=tests, today=today,
                                ledger_name=ledger.study.study_name,
                                not_exported={} if allow_not_ready else held))
        return ExportOutcome(**base, source=source, changes=export.changes,
                             skipped=export.skipped, artifact_id=None, artifact_dir=None,
                             tests=tests)
    _write(out, export.patch)
    artifact_id, store_dir = None, None
    if export.changes:
        store_dir = artifact_dir_for(storage, artifact_dir)
        artifact_id = attach_patch(ledger.study, out, store_dir)
    return ExportOutcome(**base, source=source, changes=export.changes,
                         skipped=export.skipped, artifact_id=artifact_id,
                         artifact_dir=store_dir, tests=tests)


def reviewed(records: Sequence[LedgerRecord], *, catalog: Catalog | None,
             popoto_src: str | None, layout: str, today: str, all_tests: bool, timeout: float,
             patch: bool) -> tuple[Path | None, Export, dict[str, Reach], TestReport | None]:
    """What a reviewer needs beside the values: the patch (``patch``), each constant's reach in
    popoto's own code, and popoto's tests before and after the patch (a checkout's)."""
    source = locate_source(popoto_src) if patch else None
    root = package_root(source) if source else None
    known = [c for c in _catalog_constants(catalog, records, None).values() if c is not None]
    reach = scan_reach(known, root)
    if source is None:
        return None, Export(patch="", changes=(), path=LAYOUTS[layout]), reach, None
    export = build_export(records, source_text=source.read_text(encoding="utf-8"),
                          layout=layout, today=today, source_name=str(source),
                          arguments=_argument_specs(catalog, records), root=root,
                          notes={n: f"in popoto: {r.text()}" for n, r in reach.items()
                                 if r.functions})
    tests = None
    if popoto_src is not None and export.changes and root is not None \
            and checkout_root(root) is not None:
        tests = run_popoto_tests(root, export.changes, export.edited, all_tests=all_tests,
                                 timeout=timeout)
    return source, export, reach, tests


def _write(out: Path, text: str) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror}") from None


def _json(payload: Mapping) -> str:
    import json

    return json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n"


def _accepted_values(records: Sequence[LedgerRecord]) -> dict:
    return {r.constant: r.proposal for r in records if r.accepted}


def _catalog_constants(catalog: Catalog | None, records: Sequence[LedgerRecord],
                       joint: Mapping | None) -> dict:
    """The catalog entries of every constant the output names (None where unknown)."""
    names = [r.constant for r in records] + list((joint or {}).get("incumbent") or {})
    found = {}
    for name in names:
        try:
            found[name] = catalog.resolve(name) if catalog else None
        except UnknownConstantError:
            found[name] = None
    return found


def _argument_specs(catalog: Catalog | None, records: Sequence[LedgerRecord]) -> dict[str, str]:
    """Each accepted constant's catalog ``argument`` spec, where it has one."""
    constants = _catalog_constants(catalog, [r for r in records if r.accepted], None)
    return {name: c.argument for name, c in constants.items() if c is not None and c.argument}


def check_confirmed(records: Sequence[LedgerRecord], joint: Mapping | None) -> None:
    """Refuse an accepted set no joint check confirmed as it stands, or one marked not ready.

    The joint record must cover exactly the accepted values: a ratchet interrupted before its
    joint check, or a joint record left from a run that accepted another set (or other values),
    confirms nothing about this one.
    """
    accepted = {r.constant: r.proposal for r in records if r.accepted}
    if not accepted:
        return
    retry = "rerun `tuner ratchet` (it confirms the set at the end of a run)"
    if not joint:
        raise ExportError(
            f"the accepted set was never confirmed: no joint check covers "
            f"{', '.join(accepted)}; {retry}, or pass --allow-not-ready")
    if not joint.get("confirmation"):
        raise ExportError(
            "the accepted set was never checked on a confirmation bank (a ledger from an older "
            f"tuner); {retry}, or pass --allow-not-ready")
    covered = joint.get("constants")
    if not isinstance(covered, Mapping):
        raise ExportError(
            "the joint check does not say which constants it covered (a ledger from an older "
            f"tuner), so it cannot confirm {', '.join(accepted)}; {retry}, or pass "
            "--allow-not-ready")
    unconfirmed = [_unconfirmed(name, value, covered) for name, value in accepted.items()
                   if name not in covered or covered[name] != value]
    dropped = [f"{name} (confirmed at {covered[name]!r}, no longer accepted)"
               for name in covered if name not in accepted]
    if unconfirmed or dropped:
        raise ExportError(
            f"the joint check did not confirm this set: {', '.join(unconfirmed + dropped)}; "
            f"{retry}, or pass --allow-not-ready")
    if not joint.get("ready", False):
        drop = f"drop {joint['drop']} and rerun `tuner ratchet`" if joint.get("drop") else (
            "rerun `tuner ratchet`")
        raise ExportError(
            f"the accepted set is NOT READY: joint check {joint['mean']:+.4f} "
            f"[{joint['ci_low']:+.4f}, {joint['ci_high']:+.4f}] over {joint['n']} confirmation "
            f"scenarios; {drop}, or pass --allow-not-ready to export it anyway")


def _unconfirmed(name: str, value: object, covered: Mapping) -> str:
    if name not in covered:
        return f"{name} (accepted at {value!r}, not confirmed)"
    return f"{name} (accepted at {value!r}, confirmed at {covered[name]!r})"


def open_ledger(storage: str, bank_tag: str) -> Ledger:
    """The bank's ledger, refusing rather than creating an empty one (``Ledger`` would)."""
    try:
        return open_ledger_in(storage, bank_tag)
    except LedgerFileError as exc:
        raise ExportError(str(exc)) from None


def artifact_dir_for(storage: str, explicit: str | None) -> Path:
    """``--artifact-dir``, else ``artifacts/`` next to a SQLite DB, else ``studies/artifacts``."""
    if explicit:
        return Path(explicit)
    database = sqlite_file(storage)
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
    """The human summary, then every accepted value whose confirmation did not replicate."""
    how = "EXPORTED ANYWAY (--allow-not-ready)" if outcome.forced else "NOT EXPORTED"
    return "\n".join([_outcome_body(outcome, storage), *tests_lines(outcome.tests)] + [
        f"  {how} {name} -> {value}: {why}"
        for name, (value, why) in outcome.not_replicated.items()])


def tests_lines(tests: TestReport | None) -> list[str]:
    """popoto's tests in the summary: the one-line verdict, then each test the patch broke."""
    if tests is None:
        return []
    return [tests.summary()] + [f"  BROKEN BY THE PATCH {b.test} ({b.after}; pins "
                                f"{', '.join(b.constants) or 'n/a'})" for b in tests.broken]


def _outcome_body(outcome: ExportOutcome, storage: str) -> str:
    """What was written, what was left out, or why it is empty."""
    if outcome.format == "pr":
        return (f"wrote {outcome.out}: the pull-request description ({len(outcome.changes)} "
                "change(s)); paste it with the patch (`--format patch`)")
    if outcome.format != "patch":
        what = {"config": "start-up lines", "ledger": "the ledger as JSON"}[outcome.format]
        lines = [f"wrote {outcome.out}: {what} ({len(outcome.values)} accepted value(s))"]
        lines += [f"  {name} = {value}" for name, value in outcome.values.items()]
        return "\n".join(lines)
    skipped = [f"  NOT PATCHED {s.constant} -> {s.proposal} at {s.where}: {s.why}"
               for s in outcome.skipped]
    if not outcome.changes:
        if skipped:
            return "\n".join([f"nothing could be patched; wrote an empty patch to "
                              f"{outcome.out}; change these by hand:", *skipped])
        return (f"no accepted proposals: the ledger {outcome.ledger_study} holds no ACCEPT "
                f"decision, so there is nothing to change; wrote an empty patch to {outcome.out}")
    files = sorted({c.file for c in outcome.changes})
    lines = [f"wrote {outcome.out}: {len(outcome.changes)} constant(s) of {outcome.source}"
             + (f" and {len(files) - 1} other file(s)" if len(files) > 1 else "")]
    lines += [f"  {c.attr}: {c.old} -> {c.new}" for c in outcome.changes]
    lines += skipped
    where = ("your popoto checkout" if outcome.layout == "repo"
             else "the site-packages directory holding popoto")
    patch = outcome.out.resolve()
    lines.append(f"review it, then from {where} run `git apply {patch}` or "
                 f"`patch -p1 < {patch}`")
    lines.append(f"attached to study {outcome.ledger_study} as artifact {outcome.artifact_id}; "
                 f"see it with `optuna-dashboard {storage} --artifact-dir "
                 f"{outcome.artifact_dir}`")
    return "\n".join(lines)
