"""The patch itself: a unified diff of popoto's ``fields/constants.py`` for accepted values.

Pure text work (no storage, no popoto import): locate each accepted constant's value in the
``Defaults`` class by its syntax tree, replace only that value and its trailing comment with the
evidence behind the change, and diff. Every other byte of the file stays as it was, so the
review is about numbers, not formatting.
"""

from __future__ import annotations

import ast
import difflib
import io
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass

from tuner.decisions.ledger import LedgerRecord

LAYOUTS = {"repo": "src/popoto/fields/constants.py", "wheel": "popoto/fields/constants.py"}
SIGNIFICANT_DIGITS = 6


class ExportError(ValueError):
    """The patch cannot be written truthfully; the message is one line saying why."""


@dataclass(frozen=True)
class Change:
    """One constant's edit: the literal as it stands in the source and what replaces it."""

    constant: str
    attr: str
    old: str
    new: str
    line: int  # 1-based line of the value in the source

    def to_dict(self) -> dict:
        return {"constant": self.constant, "attr": self.attr, "old": self.old, "new": self.new,
                "line": self.line}


@dataclass(frozen=True)
class Export:
    """The patch text (empty when nothing was accepted) and the edits it carries."""

    patch: str
    changes: tuple[Change, ...]
    path: str


def build_patch(
    records: Iterable[LedgerRecord], *, source_text: str, layout: str = "repo", today: str,
    source_name: str = "constants.py",
) -> str:
    """The unified diff of ``constants.py`` carrying only the accepted records' changes."""
    return build_export(records, source_text=source_text, layout=layout, today=today,
                        source_name=source_name).patch


def build_export(
    records: Iterable[LedgerRecord], *, source_text: str, layout: str = "repo", today: str,
    source_name: str = "constants.py",
) -> Export:
    """Edit a copy of the source for every accepted record, then diff it against the original.

    Every accepted record is checked before anything is produced, so a patch is either complete
    or refused: a partial patch would silently drop a decision the ledger says was made.
    """
    if layout not in LAYOUTS:
        raise ExportError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    path = LAYOUTS[layout]
    accepted = [r for r in records if r.accepted]
    if not accepted:
        return Export(patch="", changes=(), path=path)
    _check_distinct_attrs(accepted)
    lines = source_text.splitlines(keepends=True)
    defaults = _defaults_class(source_text, source_name)
    comments = _comment_columns(source_text)
    new_lines = list(lines)
    changes = []
    for record in accepted:
        change, new_line = _edit(record, defaults, lines, comments, source_name, today)
        new_lines[change.line - 1] = new_line
        changes.append(change)
    patch = _preamble(changes, path, today) + _unified_diff(lines, new_lines, path)
    return Export(patch=patch, changes=tuple(changes), path=path)


def _check_distinct_attrs(records: list[LedgerRecord]) -> None:
    seen: dict[str, str] = {}
    for record in records:
        if record.attr is None:
            raise ExportError(
                f"{record.constant} is a function default argument, not a Defaults attribute; "
                "it cannot be exported as a constants.py patch (change it in popoto by hand)"
            )
        if record.attr in seen:
            raise ExportError(f"{seen[record.attr]} and {record.constant} were both accepted "
                              f"for Defaults.{record.attr}; the ledger must decide one value")
        seen[record.attr] = record.constant


def _defaults_class(source_text: str, source_name: str) -> ast.ClassDef:
    try:
        tree = ast.parse(source_text)
    except SyntaxError as exc:
        raise ExportError(f"{source_name} is not valid Python: {exc.msg} (line {exc.lineno})"
                          ) from None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Defaults":
            return node
    raise ExportError(f"{source_name} has no class Defaults; is it popoto's fields/constants.py?")


def _comment_columns(source_text: str) -> dict[int, int]:
    """Line number -> character column of the comment on that line (tokenizer-exact)."""
    tokens = tokenize.generate_tokens(io.StringIO(source_text).readline)
    return {tok.start[0]: tok.start[1] for tok in tokens if tok.type == tokenize.COMMENT}


def _value_node(defaults: ast.ClassDef, attr: str, source_name: str) -> ast.expr:
    """The right-hand side of the single ``attr = ...`` in the class body."""
    found = [node.value for node in defaults.body if _assigns(node, attr)]
    if not found:
        raise ExportError(f"Defaults.{attr} is not assigned in {source_name}; "
                          "this popoto does not have the constant the study tuned")
    if len(found) > 1:
        raise ExportError(f"Defaults.{attr} is assigned {len(found)} times in {source_name}; "
                          "refusing to guess which one to patch")
    return found[0]  # type: ignore[return-value]


def _assigns(node: ast.stmt, attr: str) -> bool:
    if isinstance(node, ast.Assign):
        return len(node.targets) == 1 and _is_name(node.targets[0], attr)
    return isinstance(node, ast.AnnAssign) and node.value is not None and _is_name(
        node.target, attr)


def _is_name(node: ast.expr, attr: str) -> bool:
    return isinstance(node, ast.Name) and node.id == attr


def _literal_number(node: ast.expr) -> int | float | None:
    """The value of a plain numeric literal (``0.1``, ``-3``), else None (calls, bools, ...)."""
    if node.lineno != node.end_lineno:
        return None
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _edit(
    record: LedgerRecord, defaults: ast.ClassDef, lines: list[str], comments: dict[int, int],
    source_name: str, today: str,
) -> tuple[Change, str]:
    """The changed source line for one record, after checking the source is what was tuned."""
    assert record.attr is not None
    node = _value_node(defaults, record.attr, source_name)
    current = _literal_number(node)
    if current is None:
        raise ExportError(f"Defaults.{record.attr} in {source_name} is not a plain numeric "
                          "literal; edit it by hand")
    if current != record.default:
        raise ExportError(
            f"Defaults.{record.attr} is {current!r} in {source_name} but the ledger's study ran "
            f"against {record.default!r}; rerun `tuner ratchet` against this popoto"
        )
    new = format_value(record, integer=isinstance(current, int))
    line = lines[node.lineno - 1]
    start, end = _char_col(line, node.col_offset), _char_col(line, node.end_col_offset or 0)
    comment = evidence_comment(record, today)
    new_line = _replace_value(line, start, end, new, comment, comments.get(node.lineno))
    return Change(record.constant, record.attr, line[start:end], new, node.lineno), new_line


def _char_col(line: str, byte_col: int) -> int:
    """ast columns count UTF-8 bytes; strings index characters."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8"))


def _replace_value(
    line: str, start: int, end: int, new: str, comment: str, comment_col: int | None,
) -> str:
    """Swap the literal and the trailing comment, keeping indentation, spacing and line end."""
    body = line.rstrip("\r\n")
    eol = line[len(body):]
    if comment_col is not None and comment_col >= end:
        between = body[end:comment_col]
    else:
        between = body[end:].rstrip() + "  "
    return body[:start] + new + between + comment + eol


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
            raise ExportError(f"{record.constant}: proposal {value!r} is not a whole number but "
                              f"Defaults.{record.attr} is an int")
        text = str(int(value))
    else:
        text = repr(float(f"{float(value):.{SIGNIFICANT_DIGITS}g}"))
    if float(text) == float(record.default):
        raise ExportError(f"{record.constant}: proposal {value!r} rounds to the current value "
                          f"{record.default!r}; nothing to patch")
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


def _preamble(changes: list[Change], path: str, today: str) -> str:
    """Free text before the diff; ``git apply`` and ``patch`` both skip it."""
    lines = [f"tuner export {today}: {len(changes)} accepted proposal(s) for {path}"]
    lines += [f"  {c.attr}: {c.old} -> {c.new}" for c in changes]
    return "\n".join(lines) + "\n\n"


def _unified_diff(old: list[str], new: list[str], path: str) -> str:
    diff = difflib.unified_diff(old, new, fromfile=f"a/{path}", tofile=f"b/{path}")
    return "".join(_mark_missing_newline(line) for line in diff)


def _mark_missing_newline(line: str) -> str:
    """A last line without newline needs git's marker, or the next diff line glues onto it."""
    return line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
