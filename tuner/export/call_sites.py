"""Reach in popoto's own code: which of popoto's calls a new default actually reaches.

A constant that feeds a function's default (``propagate(decay_per_hop=_UNSET)`` reading
``Defaults.CO_OCCURRENCE_DECAY_PER_HOP`` when no value is passed, ``alpha: float = TD_ALPHA``,
``CoOccurrenceField.strengthen(delta=0.05)``) changes only the calls that leave that argument
out. A maintainer reviewing a new default needs to know which of popoto's own calls pass a value
of their own (and so keep behaving as before), and whether popoto calls the function at all (if
not, the new default reaches only users' code).

The scan is syntax only (``ast``, no import): for each constant, the functions whose default it
feeds are

- a parameter whose default expression names the constant (``Defaults.X`` or an alias ``X``);
- a parameter with a default that the body resolves from the constant (``if p is _UNSET:
  p = Defaults.X``, ``self.p = p if p is not None else Defaults.X``);
- the catalog's ``argument`` spec (a literal default that is the constant itself).

Calls are matched by name (``f(...)``, ``obj.f(...)``, ``Class(...)`` for ``__init__``), so a
method of another class with the same name would count too; the listing names file and line for
a person to confirm. A call passing the parameter the enclosing function received (``traverse``
forwarding its ``decay_per_hop`` to ``propagate``) is followed one level up: that function's own
default and its callers' values are listed as well.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

from tuner.catalog import Constant

FORWARD_DEPTH = 2  # a forwarding function's callers, and theirs


@dataclass(frozen=True)
class OwnValue:
    """A place in popoto that passes (or defaults to) its own value instead of the constant."""

    file: str  # relative to popoto's package directory
    line: int
    value: str  # the expression as written: "0.5", "decay_per_hop"
    literal: float | None  # the number, when it is a plain numeric literal
    function: str  # the function called (or whose default this is)
    param: str  # the parameter it passes (or defaults)
    kind: str = "call"  # "call" or "default" (a forwarding function's own default)


@dataclass(frozen=True)
class FedFunction:
    """A function whose ``param`` default the constant feeds, and popoto's calls of it."""

    function: str  # "CoOccurrenceField.propagate"
    param: str
    file: str
    line: int
    how: str  # "default expression" | "resolved when not passed" | "catalog argument"
    calls: int  # popoto's own calls of it (by name)
    without: int  # of those, the calls that leave the parameter out (the constant reaches)
    forwarding: int = 0  # calls passing on a parameter the constant feeds too (it reaches)


@dataclass
class Reach:
    """One constant's reach in popoto's own code."""

    constant: str
    functions: list[FedFunction] = field(default_factory=list)
    own_values: list[OwnValue] = field(default_factory=list)

    @property
    def not_called(self) -> list[str]:
        return [f.function for f in self.functions if f.calls == 0]

    def text(self) -> str:
        """One line for a table, a patch note or a PR description."""
        if not self.functions:
            return ("read directly where popoto uses it (no function default that a call "
                    "could bypass)")
        parts = []
        for f in self.functions:
            if f.calls == 0:
                parts.append(f"{f.function}() not called inside popoto: the new default "
                             "reaches only users' own calls")
                continue
            own = f.calls - f.without - f.forwarding
            forwards = f", {f.forwarding} pass the constant on" if f.forwarding else ""
            parts.append(f"{f.function}(): {f.calls} call(s) inside popoto, {own} pass "
                         f"their own {f.param}, {f.without} use the default{forwards}")
        via = [o for o in self.own_values if o.kind == "default"]
        parts += [f"{o.function}() passes its own {o.param} on, defaulting to {o.value} "
                  f"({o.file}:{o.line})" for o in via]
        return "; ".join(parts)

    def short(self) -> str:
        """A few words for the catalog table's column."""
        if not self.functions:
            return "read directly"
        if all(f.calls == 0 for f in self.functions):
            return "not called inside popoto"
        own = sum(o.kind == "call" for o in self.own_values)
        calls = sum(f.calls for f in self.functions)
        return f"{own} own-value site(s)" if own else f"{calls} call(s), none own-value"

    def sites(self) -> list[str]:
        """``recipes/context_assembler.py:2591 traverse(decay_per_hop=0.5)``, one per site."""
        return [f"{o.file}:{o.line} {o.function}({o.param}={o.value})"
                + (" (its own default)" if o.kind == "default" else "")
                for o in sorted(self.own_values, key=lambda o: (o.file, o.line))]

    def to_dict(self) -> dict:
        return {"constant": self.constant, "functions": [asdict(f) for f in self.functions],
                "own_values": [asdict(o) for o in self.own_values],
                "not_called": self.not_called, "summary": self.short(), "text": self.text(),
                "sites": self.sites()}


# --------------------------------------------------------------------------- popoto's source


def installed_root() -> Path | None:
    """The installed popoto's package directory, found without importing it."""
    spec = find_spec("popoto")
    locations = list(spec.submodule_search_locations or ()) if spec else []
    return Path(locations[0]) if locations else None


@dataclass(frozen=True)
class Function:
    """A function definition in popoto: where, its qualified name, its parameters."""

    file: str
    qualname: str
    node: ast.FunctionDef | ast.AsyncFunctionDef
    in_class: bool

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def call_name(self) -> str:
        """How a call names it: ``__init__`` is called by its class name."""
        return self.qualname.split(".")[-2] if self.name == "__init__" and self.in_class \
            else self.name

    def params(self) -> list[str]:
        args = self.node.args
        return [a.arg for a in (*args.posonlyargs, *args.args)]

    def defaults(self) -> dict[str, ast.expr]:
        args = self.node.args
        positional = [*args.posonlyargs, *args.args]
        found = dict(zip([a.arg for a in positional[len(positional) - len(args.defaults):]],
                         args.defaults, strict=True))
        found.update((a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                     if d is not None)
        return found


@dataclass
class Source:
    """popoto's modules, parsed once: every function and every call."""

    root: Path
    functions: list[Function] = field(default_factory=list)
    calls: dict[str, list[tuple[str, ast.Call, Function | None]]] = field(default_factory=dict)
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)  # file -> as-name -> name
    mentions: dict[int, set[str]] = field(default_factory=dict)  # id(function node) -> names

    @classmethod
    def scan(cls, root: Path) -> Source:
        source = cls(root)
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" in path.parts or "tests" in path.relative_to(root).parts:
                continue
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, OSError):
                continue  # a file popoto itself could not import: nothing to learn from it
            rel = path.relative_to(root).as_posix()
            source.aliases[rel] = {a.asname: a.name for node in ast.walk(tree)
                                   if isinstance(node, ast.ImportFrom)
                                   for a in node.names if a.asname}
            source._walk(tree, rel, prefix="", enclosing=None, in_class=False)
        return source

    def names_in(self, function: Function) -> set[str]:
        key = id(function.node)
        if key not in self.mentions:
            self.mentions[key] = _names(function.node)
        return self.mentions[key]

    def _walk(self, node: ast.AST, file: str, *, prefix: str, enclosing: Function | None,
              in_class: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                self._walk(child, file, prefix=f"{prefix}{child.name}.", enclosing=enclosing,
                           in_class=True)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                function = Function(file, f"{prefix}{child.name}", child, in_class)
                self.functions.append(function)
                self._walk(child, file, prefix=f"{prefix}{child.name}.", enclosing=function,
                           in_class=False)
            else:
                if isinstance(child, ast.Call):
                    called = self._called_name(child, file)
                    if called:
                        self.calls.setdefault(called, []).append((file, child, enclosing))
                self._walk(child, file, prefix=prefix, enclosing=enclosing, in_class=in_class)

    def _called_name(self, call: ast.Call, file: str) -> str | None:
        """``f``, ``obj.f`` -> ``f``; a name imported ``as`` another resolves to the original."""
        callee = call.func
        if isinstance(callee, ast.Attribute):
            return callee.attr
        if isinstance(callee, ast.Name):
            return self.aliases.get(file, {}).get(callee.id, callee.id)
        return None

    def calls_of(self, function: Function) -> Iterator[tuple[str, ast.Call, Function | None]]:
        for file, call, enclosing in self.calls.get(function.call_name, ()):
            if enclosing is not function:
                yield file, call, enclosing


# --------------------------------------------------------------------------- the scan


def _names(node: ast.AST) -> set[str]:
    """Every bare name and attribute name an expression mentions."""
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            found.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            found.add(sub.attr)
    return found


def fed_params(function: Function, attr: str) -> list[tuple[str, str]]:
    """(param, how) of ``function``'s parameters whose default ``attr`` feeds."""
    fed = []
    for param, default in function.defaults().items():
        if attr in _names(default):
            fed.append((param, "default expression"))
        elif _resolved_in_body(function.node, param, attr):
            fed.append((param, "resolved when not passed"))
    return fed


def _resolved_in_body(node: ast.AST, param: str, attr: str) -> bool:
    for stmt in ast.walk(node):
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            value_names = _names(stmt.value)
            assigns_param = any(isinstance(t, ast.Name) and t.id == param for t in targets)
            if attr in value_names and (assigns_param or param in value_names):
                return True
    return False


def passed_value(function: Function, call: ast.Call, param: str, *,
                 as_method: bool) -> ast.expr | None:
    """The expression ``call`` passes for ``param`` (keyword or position), else None."""
    for keyword in call.keywords:
        if keyword.arg == param:
            return keyword.value
    params = function.params()
    if as_method and params and params[0] in ("self", "cls"):
        params = params[1:]
    if param in params:
        index = params.index(param)
        positional = [a for a in call.args if not isinstance(a, ast.Starred)]
        if index < len(positional) and len(positional) == len(call.args):
            return positional[index]
    return None


def _literal(node: ast.expr) -> float | None:
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def reach_of(constant: Constant, source: Source) -> Reach:
    """The constant's fed functions, their calls inside popoto and the own-value sites."""
    reach = Reach(constant.name)
    targets: list[tuple[Function, str, str]] = []
    if constant.attr:
        for function in source.functions:
            if function.file == "fields/constants.py" or \
                    constant.attr not in source.names_in(function):
                continue
            targets += [(function, p, how) for p, how in fed_params(function, constant.attr)]
    if constant.argument:
        module, qualname, param = constant.argument.split(":")
        file = "/".join(module.split(".")[1:]) + ".py"
        targets += [(f, param, "catalog argument") for f in source.functions
                    if f.file == file and f.qualname == qualname
                    and (f, param) not in {(t, p) for t, p, _ in targets}]
    fed = {(f.qualname, p) for f, p, _ in targets}
    seen: set[tuple[str, str]] = set()
    for function, param, _how in targets:
        calls, without, forwarding = _follow(reach, source, function, param, fed=fed, depth=0,
                                             seen=seen)
        reach.functions.append(FedFunction(function.qualname, param, function.file,
                                           function.node.lineno, _how, calls, without,
                                           forwarding))
    return reach


def _follow(reach: Reach, source: Source, function: Function, param: str, *,
            fed: set[tuple[str, str]], depth: int,
            seen: set[tuple[str, str]]) -> tuple[int, int, int]:
    """Count ``function``'s calls (and those leaving ``param`` out); list the own values once.

    A call forwarding a parameter of a function the constant feeds too (``update_q_value``
    passing its ``alpha = TD_ALPHA`` to ``td_update``) passes the constant, not a value of its
    own; a call forwarding another function's parameter is followed to that function's callers.
    """
    first = (function.qualname, param) not in seen
    seen.add((function.qualname, param))
    calls, without, passing_on, forwarded = 0, 0, 0, []
    for file, call, enclosing in source.calls_of(function):
        calls += 1
        as_method = isinstance(call.func, ast.Attribute) or function.name == "__init__"
        value = passed_value(function, call, param, as_method=as_method)
        if value is None:
            without += 1
            continue
        outer = enclosing if isinstance(value, ast.Name) and enclosing is not None \
            and value.id in enclosing.defaults() else None
        if outer is not None and (outer.qualname, value.id) in fed:
            passing_on += 1  # forwards the constant itself
            continue
        if first:
            reach.own_values.append(OwnValue(file, value.lineno, ast.unparse(value),
                                             _literal(value), function.call_name, param))
        if outer is not None:
            forwarded.append((outer, value.id))
    if first and depth + 1 <= FORWARD_DEPTH:
        for outer, outer_param in forwarded:
            if (outer.qualname, outer_param) in seen:
                continue
            default = outer.defaults()[outer_param]
            if _literal(default) is not None:
                reach.own_values.append(OwnValue(outer.file, default.lineno,
                                                 ast.unparse(default), _literal(default),
                                                 outer.name, outer_param, kind="default"))
            _follow(reach, source, outer, outer_param, fed=fed, depth=depth + 1, seen=seen)
    return calls, without, passing_on


def scan_reach(constants: Iterable[Constant], root: Path | None = None) -> dict[str, Reach]:
    """Each constant's reach in the popoto at ``root`` (default: the installed one)."""
    root = root or installed_root()
    if root is None:
        return {}
    source = _scanned(str(root.resolve()), _stamp(root))
    return {c.name: reach_of(c, source) for c in constants}


@lru_cache(maxsize=4)
def _scanned(root: str, stamp: tuple) -> Source:
    """One parse per popoto tree and state (``stamp``: its files' sizes and times)."""
    return Source.scan(Path(root))


def _stamp(root: Path) -> tuple:
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size)
                 for p in sorted(root.rglob("*.py")))
