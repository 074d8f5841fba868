"""The accepted values as start-up Python for a deployment: ``tuner export --format config``.

A deployment that does not patch popoto sets its constants when it starts. The snippet does what
tuner's own override code does for each read mode, in lines a person can review:

- ``Defaults.X = v`` for every value (read at call time, mode C);
- the module aliases popoto bound at import (``X = Defaults.X``, mode A) rebound too, since
  popoto's ``__init__`` imports them before any deployment code runs;
- a comment where a value is captured when a model class is created (mode K: set it before the
  classes are defined) or frozen into a default argument (modes D, A+D, arg: pass it at the call).

Values come on top of the ledger's incumbent (what the deployment sets today): the incumbent's
lines are kept, and an accepted value replaces the incumbent's number for its constant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tuner.catalog import Constant
from tuner.decisions.ledger import LedgerRecord
from tuner.export.patch import SIGNIFICANT_DIGITS, evidence_comment


def literal(value: float, *, integer: bool) -> str:
    if integer:
        return str(int(round(value)))
    return repr(float(f"{float(value):.{SIGNIFICANT_DIGITS}g}"))


def config_snippet(records: Iterable[LedgerRecord], *, constants: Mapping[str, Constant],
                   incumbent: Mapping[str, float], today: str, ledger_name: str) -> str:
    """Start-up lines for every accepted value (and the incumbent beneath them)."""
    accepted = {r.constant: r for r in records if r.accepted and r.proposal is not None}
    if not accepted and not incumbent:
        return ""
    body: list[str] = []
    modules: list[str] = []
    kept = [name for name in incumbent if name not in accepted]
    if kept:
        body.append("# the incumbent, unchanged")
        for name in kept:
            body += value_lines(constants.get(name), name, float(incumbent[name]),
                                "# incumbent", modules)
        body.append("")
    if accepted:
        body.append("# accepted by tuner (evidence: held-out validation, confirmation bank)")
        for name, record in accepted.items():
            body += value_lines(constants.get(name), name, float(record.proposal or 0.0),
                                evidence_comment(record, today), modules)
    head = [f"# tuner export {today}: popoto start-up values from {ledger_name}",
            "# Run at start-up, before any popoto model class is defined: a value captured when",
            "# a class is created (read mode K) reaches only classes created after these lines.",
            "from popoto.fields.constants import Defaults"]
    head += [f"import {module}" for module in dict.fromkeys(modules)]
    return "\n".join(head + [""] + body) + "\n"


def value_lines(constant: Constant | None, name: str, value: float, comment: str,
                modules: list[str]) -> list[str]:
    """The lines that make ``value`` reach popoto for ``constant``'s read mode."""
    if constant is None:
        return [f"# {name} = {value!r}: not in the catalog, so where popoto reads it is unknown"]
    text = literal(value, integer=constant.is_int)
    if not constant.attr:
        module, qualname, param = (constant.argument or "::").split(":")
        return [f"# {name} = {text}: an argument only (no Defaults attribute): pass "
                f"{param}={text} to {qualname} ({module})  {comment}"]
    lines = [f"Defaults.{constant.attr} = {text}  {comment}"]
    for module in constant.alias_modules:
        modules.append(module)
        lines.append(f"{module}.{constant.attr} = {text}  # alias bound at import")
    if constant.mode in ("D", "A+D"):
        lines.append(f"# {name}: also frozen into a default argument at import "
                     f"({constant.owner or 'see the catalog'}); pass it there explicitly")
    if constant.mode == "K":
        lines.append(f"# {name}: captured when a model class is created "
                     f"({constant.owner or 'see the catalog'})")
    return lines
