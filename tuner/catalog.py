"""The constant catalog: which popoto constants exist, how each is read, and what to search.

The catalog is data (``studies/popoto.toml``); a user adds a constant by adding a table there.
Defaults are read from the installed popoto at run time; the catalog's ``expected_default`` is
only compared against it, and a mismatch is reported rather than hidden.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

READ_MODES = ("K", "A", "C", "D", "A+D", "arg", "dead")
REACH_STATUSES = ("reachable", "unreachable")
REPO_CATALOG = Path(__file__).resolve().parents[1] / "studies" / "popoto.toml"


class CatalogError(ValueError):
    """The catalog file is malformed; the message names the entry and the rule it broke."""


class UnknownConstantError(KeyError):
    """A constant name that resolves to nothing; ``str()`` carries a did-you-mean."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Constant:
    """One tunable popoto constant and its search space."""

    name: str
    tier: int
    family: str
    low: float
    high: float
    mode: str
    attr: str | None = None
    argument: str | None = None
    owner: str = ""
    log: bool = False
    step: float | None = None
    is_int: bool = False
    expected_default: float | None = None
    reach: str = "reachable"
    reason: str = ""
    alias_modules: tuple[str, ...] = field(default_factory=tuple)
    upper_bound_attr: str | None = None

    @property
    def reachable(self) -> bool:
        return self.reach == "reachable"

    def default(self) -> float:
        """popoto's current value: the ``Defaults`` attribute, or the frozen argument default."""
        if self.attr:
            from popoto.fields.constants import Defaults

            return getattr(Defaults, self.attr)
        return argument_default(self.argument or "")

    def default_mismatch(self) -> str | None:
        """A sentence when the installed popoto's default differs from the catalog's record."""
        if self.expected_default is None:
            return None
        actual = self.default()
        if actual != self.expected_default:
            return (
                f"{self.name}: installed popoto default is {actual!r}, "
                f"catalog expected {self.expected_default!r}"
            )
        return None

    def aliases(self) -> set[str]:
        """Every spelling that resolves to this constant, lower-cased."""
        names = {self.name, self.name.lstrip("_")}
        if self.attr:
            names.add(self.attr)
        return {n.lower() for n in names}


def argument_default(spec: str) -> float:
    """Read a frozen default argument, spec ``module:Qualified.name:param``."""
    module_name, qualname, param = spec.split(":")
    target: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return inspect.signature(target).parameters[param].default  # type: ignore[arg-type]


@dataclass(frozen=True)
class Catalog:
    """All constants, resolvable by any of their spellings, case-insensitively."""

    constants: tuple[Constant, ...]
    path: Path

    def __iter__(self):
        return iter(self.constants)

    def __len__(self) -> int:
        return len(self.constants)

    def resolve(self, name: str) -> Constant:
        wanted = name.strip().lower()
        for constant in self.constants:
            if wanted in constant.aliases():
                return constant
        spellings = sorted({a for c in self.constants for a in c.aliases()})
        close = difflib.get_close_matches(wanted, spellings, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownConstantError(
            f"unknown constant {name!r}{hint} (`tuner constants` lists all {len(self)})"
        )

    def by_tier(self, tier: int) -> list[Constant]:
        return [c for c in self.constants if c.tier == tier]


def default_catalog_path() -> Path:
    """``$TUNER_CATALOG``, else ``./studies/popoto.toml``, else the repository's copy."""
    env = os.environ.get("TUNER_CATALOG")
    if env:
        return Path(env)
    local = Path.cwd() / "studies" / "popoto.toml"
    return local if local.exists() else REPO_CATALOG


def load_catalog(path: Path | str | None = None) -> Catalog:
    """Parse and validate the catalog file."""
    path = Path(path) if path else default_catalog_path()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise CatalogError(f"catalog file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"catalog {path} is not valid TOML: {exc}") from None
    from tuner.catalog_checks import check_constant, check_entry, check_top_level

    check_top_level(data, path)
    entries = data.get("constants", {})
    for name, entry in entries.items():
        check_entry(name, entry, path)
    constants = tuple(_parse_entry(name, entry, path) for name, entry in entries.items())
    for constant in constants:
        check_constant(constant, entries[constant.name], path)
    _check_unique_spellings(constants, path)
    return Catalog(constants=constants, path=path)


def _parse_entry(name: str, entry: dict, path: Path) -> Constant:
    try:
        constant = Constant(
            name=name,
            tier=int(entry.get("tier", 0)),
            family=str(entry["family"]),
            low=float(entry["low"]),
            high=float(entry["high"]),
            mode=str(entry.get("mode", "C")),
            attr=entry.get("attr"),
            argument=entry.get("argument"),
            owner=str(entry.get("owner", "")),
            log=bool(entry.get("log", False)),
            step=float(entry["step"]) if "step" in entry else None,
            is_int=bool(entry.get("int", False)),
            expected_default=entry.get("expected_default"),
            reach=str(entry.get("reach", "reachable")),
            reason=str(entry.get("reason", "")),
            alias_modules=tuple(entry.get("alias_modules", ())),
            upper_bound_attr=entry.get("upper_bound_attr"),
        )
    except KeyError as exc:
        raise CatalogError(f"{path}: constant {name!r} lacks required key {exc}") from None
    except (TypeError, ValueError) as exc:  # e.g. low = "small": TOML typed it, we cannot
        raise CatalogError(f"{path}: constant {name!r} has a value of the wrong type: {exc}"
                           ) from None
    problems = []
    if not constant.low < constant.high:
        problems.append(f"low < high is required, got low={constant.low}, high={constant.high}")
    if constant.log and constant.low <= 0:
        problems.append(f"log=true needs low > 0, got low={constant.low}")
    if constant.mode not in READ_MODES:
        problems.append(f"mode must be one of {READ_MODES}, got {constant.mode!r}")
    if constant.reach not in REACH_STATUSES:
        problems.append(f"reach must be one of {REACH_STATUSES}, got {constant.reach!r}")
    if constant.reach == "unreachable" and not constant.reason:
        problems.append("reach = 'unreachable' needs a reason")
    if not (constant.attr or constant.argument):
        problems.append("one of attr (a Defaults attribute) or argument is required")
    if problems:
        raise CatalogError(f"{path}: constant {name!r}: " + "; ".join(problems))
    return constant


def _check_unique_spellings(constants: tuple[Constant, ...], path: Path) -> None:
    seen: dict[str, str] = {}
    for constant in constants:
        for alias in constant.aliases():
            if alias in seen and seen[alias] != constant.name:
                raise CatalogError(
                    f"{path}: {constant.name!r} and {seen[alias]!r} both answer to {alias!r}"
                )
            seen[alias] = constant.name
