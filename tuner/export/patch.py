"""The patch itself: one unified diff of popoto's source carrying every accepted value.

Pure text work (no storage, no popoto import): each accepted value is located where it lives
(``tuner.export.sites``: a ``Defaults`` attribute in ``fields/constants.py``, or a default
argument frozen into a signature), only that literal is replaced, the evidence behind the change
goes on a comment line of its own above it, and each touched file is diffed. Every other byte
stays as it was (the maintainers' own comment on the line included: it records why the value
was chosen, and often names the tests that pin it), so the review is about numbers.

A value that cannot be patched (an expression instead of a number, a parameter the source does
not have, a module outside popoto) is listed with its file and line and does not block the rest.
What does block the whole patch is a ledger that does not match the source: a value in the
source other than the one the study ran against, or two accepted values for one attribute.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tuner.decisions.ledger import LedgerRecord
from tuner.export.sites import (
    CONSTANTS_FILE,
    Site,
    SourceError,
    Unpatchable,
    argument_site,
    defaults_site,
    module_file,
    parse,
)

PACKAGE_DIRS = {"repo": "src/popoto", "wheel": "popoto"}
LAYOUTS = {layout: f"{base}/{CONSTANTS_FILE}" for layout, base in PACKAGE_DIRS.items()}
SIGNIFICANT_DIGITS = 6


class ExportError(ValueError):
    """The patch cannot be written truthfully; the message is one line saying why."""


@dataclass(frozen=True)
class Change:
    """One value's edit: the literal as it stands in the source and what replaces it."""

    constant: str
    attr: str  # what the literal defines: "DECAY_RATE" or "CoOccurrenceField.strengthen(delta)"
    old: str
    new: str
    line: int  # 1-based line of the value in the source
    file: str = LAYOUTS["repo"]  # the patched file, as the diff names it

    def to_dict(self) -> dict:
        return {"constant": self.constant, "attr": self.attr, "old": self.old, "new": self.new,
                "line": self.line, "file": self.file}


@dataclass(frozen=True)
class Skipped:
    """An accepted value the patch does not carry, and where a person should change it."""

    constant: str
    proposal: float | None
    why: str
    file: str
    line: int | None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def to_dict(self) -> dict:
        return {"constant": self.constant, "proposal": self.proposal, "why": self.why,
                "file": self.file, "line": self.line}


@dataclass(frozen=True)
class Export:
    """The patch text (empty when nothing could be patched), its edits and what it left out."""

    patch: str
    changes: tuple[Change, ...]
    path: str  # fields/constants.py as the diff names it
    skipped: tuple[Skipped, ...] = ()
    edited: dict = field(default_factory=dict)  # file (relative to the package) -> patched text


def build_patch(
    records: Iterable[LedgerRecord], *, source_text: str, layout: str = "repo", today: str,
    source_name: str = "constants.py", arguments: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> str:
    """The unified diff carrying the accepted records' changes (see ``build_export``)."""
    return build_export(records, source_text=source_text, layout=layout, today=today,
                        source_name=source_name, arguments=arguments, root=root).patch


def build_export(
    records: Iterable[LedgerRecord], *, source_text: str, layout: str = "repo", today: str,
    source_name: str = "constants.py", arguments: Mapping[str, str] | None = None,
    root: Path | None = None, notes: Mapping[str, str] | None = None,
) -> Export:
    """Edit a copy of each touched file for every accepted record, then diff the copies.

    ``source_text`` is ``fields/constants.py``; ``arguments`` maps a constant to its catalog
    ``argument`` spec (``module:Qual.name:param``) and ``root`` is popoto's package directory,
    where a signature's module is read from.
    """
    if layout not in LAYOUTS:
        raise ExportError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    accepted = [r for r in records if r.accepted]
    if not accepted:
        return Export(patch="", changes=(), path=LAYOUTS[layout])
    _check_distinct_attrs(accepted)
    files = SourceFiles(constants_text=source_text, constants_name=source_name, root=root)
    arguments = arguments or {}
    edits: dict[str, list[tuple[Site, LedgerRecord]]] = {}
    skipped = []
    for record in accepted:
        try:
            sites = _checked_sites(record, arguments.get(record.constant), files, edits)
        except Unpatchable as exc:
            file = f"{PACKAGE_DIRS[layout]}/{exc.file}" if exc.file.endswith(".py") else exc.file
            skipped.append(Skipped(record.constant, record.proposal, exc.why, file, exc.line))
            continue
        for site in sites:
            edits.setdefault(site.file, []).append((site, record))
    changes, diffs, edited = [], [], {}
    for file, held in sorted(edits.items(), key=lambda kv: kv[0] != CONSTANTS_FILE):
        path = f"{PACKAGE_DIRS[layout]}/{file}"
        made, diff, edited[file] = _edit_file(files.text(file), held, path, today)
        changes += made
        diffs.append(diff)
    patch = _preamble(changes, skipped, today, notes or {}) + "".join(diffs) if changes else ""
    return Export(patch=patch, changes=tuple(changes), path=LAYOUTS[layout],
                  skipped=tuple(skipped), edited=edited)


@dataclass
class SourceFiles:
    """popoto's files as the export reads them: constants.py as given, others from ``root``."""

    constants_text: str
    constants_name: str
    root: Path | None

    def text(self, file: str) -> str:
        if file == CONSTANTS_FILE:
            return self.constants_text
        assert self.root is not None
        return (self.root / file).read_text(encoding="utf-8")

    def name(self, file: str) -> str:
        """How messages name ``file``: the path a person opens."""
        if file == CONSTANTS_FILE:
            return self.constants_name
        return str(self.root / file) if self.root else file

    def tree(self, file: str) -> ast.Module:
        try:
            return parse(self.text(file), self.name(file))
        except SourceError as exc:
            if file == CONSTANTS_FILE:
                raise ExportError(str(exc)) from None
            raise Unpatchable(str(exc), file=file) from None


def sites_of(record: LedgerRecord, spec: str | None, files: SourceFiles) -> list[Site]:
    """Every literal holding ``record``'s value: its ``Defaults`` attribute, and the signature
    of its catalog ``argument`` (for an argument-only constant; or, next to an attribute, when
    the signature repeats the number as a literal of its own)."""
    sites = []
    if record.attr:
        try:
            sites.append(defaults_site(files.tree(CONSTANTS_FILE), record.attr, CONSTANTS_FILE))
        except SourceError as exc:
            raise ExportError(str(exc).replace(CONSTANTS_FILE, files.constants_name, 1)
                              ) from None
    if spec:
        try:
            sites.append(_argument(spec, files))
        except Unpatchable:
            if not record.attr:
                raise  # the signature is the only place the value lives
    elif not record.attr:
        raise Unpatchable(f"{record.constant} is a function default argument the catalog does "
                          "not locate (no `argument` spec); change it in popoto by hand",
                          file=CONSTANTS_FILE)
    return sites


def _argument(spec: str, files: SourceFiles) -> Site:
    module, qualname, param = spec.split(":")
    file = module_file(module, files.root) if files.root else None
    if file is None:
        raise Unpatchable(f"{module} is not a module of the popoto source being patched; change "
                          f"{qualname}({param}=...) by hand", file=module.replace(".", "/"))
    return argument_site(files.tree(file), qualname, param, file)


def _checked_sites(record: LedgerRecord, spec: str | None, files: SourceFiles,
                   edits: Mapping[str, list[tuple[Site, LedgerRecord]]]) -> list[Site]:
    """``record``'s sites, each checked: the source holds the number the study ran against
    (else the whole export is refused), the proposal can be written there, and no other
    accepted value sits on the same line."""
    sites = sites_of(record, spec, files)
    for site in sites:
        _check_current(record, site, files.name(site.file))
        try:
            format_value(record, integer=isinstance(site.value, int))
        except Unpatchable as exc:
            raise Unpatchable(exc.why, file=site.file, line=site.line) from None
        if any(other.line == site.line for other, _ in edits.get(site.file, ())):
            raise Unpatchable(f"{site.what} shares line {site.line} with another accepted "
                              "value; edit it by hand", file=site.file, line=site.line)
    return sites


def popoto_value(record: LedgerRecord) -> float:
    """The number popoto held when the study ran (a ledger may record it apart from the
    incumbent the decision compared against)."""
    held = getattr(record, "popoto_default", None)
    return record.default if held is None else held


def _check_current(record: LedgerRecord, site: Site, name: str) -> None:
    if site.value != popoto_value(record):
        raise ExportError(
            f"{site.what} is {site.value!r} in {name} but the ledger's study ran against "
            f"{popoto_value(record)!r}; rerun `tuner ratchet` against this popoto")


def _check_distinct_attrs(records: list[LedgerRecord]) -> None:
    seen: dict[str, str] = {}
    for record in records:
        if record.attr is None:
            continue
        if record.attr in seen:
            raise ExportError(f"{seen[record.attr]} and {record.constant} were both accepted "
                              f"for Defaults.{record.attr}; the ledger must decide one value")
        seen[record.attr] = record.constant


def _edit_file(text: str, held: list[tuple[Site, LedgerRecord]], path: str,
               today: str) -> tuple[list[Change], str, str]:
    """Change each literal and nothing else on its line; the evidence goes on a line of its
    own above it, so the maintainers' comment (their reasons, the tests they name) stays."""
    lines = text.splitlines(keepends=True)
    new_lines = [[line] for line in lines]
    changes = []
    for site, record in held:
        new = format_value(record, integer=isinstance(site.value, int))
        line = lines[site.line - 1]
        start, end = _char_col(line, site.col), _char_col(line, site.end_col)
        old = line[start:end]
        new_lines[site.line - 1][-1] = line[:start] + new + line[end:]
        above = _first_of_continuation(lines, site.line - 1)  # a backslash joins no comment
        new_lines[above].insert(-1 if above == site.line - 1 else 0, evidence_line(
            lines[above], f"{old} -> {new}", evidence_comment(record, today)))
        attr = site.what.removeprefix("Defaults.")
        changes.append(Change(record.constant, attr, old, new, site.line, path))
    patched = [line for group in new_lines for line in group]
    return changes, _unified_diff(lines, patched, path), "".join(patched)


def _first_of_continuation(lines: list[str], index: int) -> int:
    """The first physical line of a backslash-continued line (``X = \\`` / ``0.5``)."""
    while index > 0 and lines[index - 1].rstrip("\r\n").endswith("\\"):
        index -= 1
    return index


def evidence_line(line: str, change: str, comment: str) -> str:
    """``    # tuner 2026-12-06: 0.6 -> 0.45, train ...``: the line's indentation, its line end.

    A comment line is valid anywhere a statement or a bracketed argument list may continue,
    so it can stand above an attribute and above a default argument in a signature alike.
    """
    body = line.rstrip("\r\n")
    eol = line[len(body):] or "\n"
    indent = body[:len(body) - len(body.lstrip())]
    text = comment.removeprefix("# ")
    head, _, rest = text.partition(": ")
    return f"{indent}# {head}: {change}, {rest}{eol}" if rest else f"{indent}# {text}{eol}"


def _char_col(line: str, byte_col: int) -> int:
    """ast columns count UTF-8 bytes; strings index characters."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8"))


def format_value(record: LedgerRecord, *, integer: bool) -> str:
    """The proposal as a literal that re-imports equal: ints stay ints, floats lose noise digits.

    Optuna's floats carry meaningless digits (0.13372918...); six significant digits are far
    finer than any difference a study can resolve and keep the diff readable.
    """
    value = record.proposal
    if value is None:
        raise ExportError(f"{record.constant} is accepted but has no proposal in the ledger")
    if integer:
        if float(value) != int(value):
            raise Unpatchable(f"{record.constant}: proposal {value!r} is not a whole number but "
                              f"popoto's value is an int", file=CONSTANTS_FILE)
        text = str(int(value))
    else:
        text = repr(float(f"{float(value):.{SIGNIFICANT_DIGITS}g}"))
    if float(text) == float(popoto_value(record)):
        raise Unpatchable(f"{record.constant}: proposal {value!r} rounds to the current value "
                          f"{popoto_value(record)!r}; nothing to patch", file=CONSTANTS_FILE)
    return text


def evidence_comment(record: LedgerRecord, today: str) -> str:
    """``# tuner <date>: train +0.0800, validation +0.0500 [+0.0300, +0.0700], 40 trials``.

    The date is the ledger's decision date (when the evidence was measured); ``today`` stands
    in only when a record carries none.
    """
    date = (record.date or today).split("T")[0]
    return (f"# tuner {date}: train {_delta(record.train_delta)}, validation "
            f"{_delta(record.validation_delta)} [{_delta(record.ci_low)}, "
            f"{_delta(record.ci_high)}], {record.trials} trials")


def _delta(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def _preamble(changes: list[Change], skipped: list[Skipped], today: str,
              notes: Mapping[str, str]) -> str:
    """Free text before the diff; ``git apply`` and ``patch`` both skip it. ``notes``: a line
    per constant (its reach in popoto's own code), under its change."""
    files = ", ".join(dict.fromkeys(c.file for c in changes)) or "no file"
    lines = [f"tuner export {today}: {len(changes)} accepted proposal(s) for {files}"]
    for c in changes:
        lines.append(f"  {c.attr}: {c.old} -> {c.new}")
        if notes.get(c.constant):
            lines.append(f"    {notes[c.constant]}")
    lines += [f"  NOT PATCHED {s.constant} -> {s.proposal} ({s.where}): {s.why}"
              for s in skipped]
    return "\n".join(lines) + "\n\n"


def _unified_diff(old: list[str], new: list[str], path: str) -> str:
    diff = difflib.unified_diff(old, new, fromfile=f"a/{path}", tofile=f"b/{path}")
    return "".join(_mark_missing_newline(line) for line in diff)


def _mark_missing_newline(line: str) -> str:
    """A last line without newline needs git's marker, or the next diff line glues onto it."""
    return line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
