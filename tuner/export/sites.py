"""Where a constant's value lives in popoto's source, found by syntax tree, never by regex.

Two places hold a number a catalog constant is read from:

- a ``Defaults`` attribute in ``fields/constants.py`` (read modes K, A, C, D and A+D: aliases and
  frozen default arguments such as ``alpha: float = TD_ALPHA`` copy it at import, so changing
  it there changes every reader);
- a default argument frozen into a signature (read mode ``arg``, catalog
  ``argument = "module:Qual.name:param"``, e.g. ``CoOccurrenceField.strengthen(delta=0.05)``).

``defaults_site`` and ``argument_site`` return the literal's exact position (a ``Site``), or
raise ``Unpatchable`` with the file and line when the value is there but cannot be edited
safely (an expression rather than a number, two assignments, a missing parameter): the export
lists it and patches the rest.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

CONSTANTS_FILE = "fields/constants.py"  # relative to popoto's package directory


class SourceError(ValueError):
    """The file itself is unusable (not Python, not popoto's); nothing in it can be patched."""


class Unpatchable(ValueError):
    """One value cannot be patched; ``file`` and ``line`` say where a person should look."""

    def __init__(self, why: str, *, file: str, line: int | None = None) -> None:
        super().__init__(why)
        self.why, self.file, self.line = why, file, line

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class Site:
    """A numeric literal in ``file`` (relative to popoto's package) and the name it defines."""

    file: str
    line: int  # 1-based
    col: int  # ast column (UTF-8 bytes) of the literal's start
    end_col: int
    value: int | float
    what: str  # "Defaults.DECAY_RATE" or "CoOccurrenceField.strengthen(delta)"


def parse(text: str, file: str) -> ast.Module:
    try:
        return ast.parse(text)
    except SyntaxError as exc:
        raise SourceError(f"{file} is not valid Python: {exc.msg} (line {exc.lineno})") from None


def defaults_site(tree: ast.Module, attr: str, file: str) -> Site:
    """The literal of the single ``attr = <number>`` in class ``Defaults``."""
    defaults = next((n for n in tree.body if isinstance(n, ast.ClassDef)
                     and n.name == "Defaults"), None)
    if defaults is None:
        raise SourceError(f"{file} has no class Defaults; is it popoto's fields/constants.py?")
    found = [node for node in defaults.body if _assigns(node, attr)]
    if not found:
        raise Unpatchable(f"Defaults.{attr} is not assigned in {file}; this popoto does not "
                          "have the constant the study tuned", file=file, line=defaults.lineno)
    if len(found) > 1:
        raise Unpatchable(f"Defaults.{attr} is assigned {len(found)} times in {file}; refusing "
                          "to guess which one to patch", file=file, line=found[-1].lineno)
    return _literal_site(found[0].value, file, f"Defaults.{attr}")  # type: ignore[arg-type]


def argument_site(tree: ast.Module, qualname: str, param: str, file: str) -> Site:
    """The literal default of ``param`` in the function ``qualname`` (``Class.method``)."""
    function = _find(tree, qualname.split("."), file)
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    defaults = dict(zip([a.arg for a in positional[len(positional) - len(args.defaults):]],
                        args.defaults, strict=True))
    defaults.update((a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                    if d is not None)
    if param not in defaults:
        raise Unpatchable(f"{qualname} in {file} has no parameter {param!r} with a default",
                          file=file, line=function.lineno)
    return _literal_site(defaults[param], file, f"{qualname}({param})")


def _find(tree: ast.Module, path: list[str], file: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    """The function at ``path`` (classes, then the function) in the module's body."""
    body: list[ast.stmt] = tree.body
    node: ast.stmt | None = None
    for depth, name in enumerate(path):
        node = next((n for n in body if isinstance(
            n, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name), None)
        if node is None:
            raise Unpatchable(f"{'.'.join(path[:depth + 1])} is not defined in {file}",
                              file=file)
        body = node.body  # type: ignore[attr-defined]
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        raise Unpatchable(f"{'.'.join(path)} in {file} is not a function", file=file,
                          line=getattr(node, "lineno", None))
    return node


def _literal_site(node: ast.expr, file: str, what: str) -> Site:
    value = literal_number(node)
    if value is None:
        raise Unpatchable(f"{what} in {file} is `{ast.unparse(node)}`, not a plain numeric "
                          "literal; edit it by hand", file=file, line=node.lineno)
    return Site(file=file, line=node.lineno, col=node.col_offset,
                end_col=node.end_col_offset or 0, value=value, what=what)


def _assigns(node: ast.stmt, attr: str) -> bool:
    if isinstance(node, ast.Assign):
        return len(node.targets) == 1 and _is_name(node.targets[0], attr)
    return isinstance(node, ast.AnnAssign) and node.value is not None and _is_name(
        node.target, attr)


def _is_name(node: ast.expr, attr: str) -> bool:
    return isinstance(node, ast.Name) and node.id == attr


def literal_number(node: ast.expr) -> int | float | None:
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


def module_file(module: str, root: Path) -> str | None:
    """``popoto.fields.x`` -> ``fields/x.py`` (or ``fields/x/__init__.py``) under ``root``;
    None for a module outside popoto or a file that is not there."""
    parts = module.split(".")
    if parts[0] != "popoto":
        return None
    for candidate in ("/".join(parts[1:]) + ".py", "/".join([*parts[1:], "__init__.py"])):
        if candidate and (root / candidate).is_file():
            return candidate
    return None
