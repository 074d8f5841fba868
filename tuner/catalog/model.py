"""The constant catalog: which popoto constants exist, how each is read, and what to search.

The catalog is data (``studies/popoto.toml``); a user adds a constant by adding a table there.
Defaults are read from the installed popoto at run time; the catalog's ``expected_default`` is
only compared against it, and a mismatch is reported rather than hidden.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from tuner.catalog.checks import check_constant, check_entry, check_top_level
from tuner.catalog.errors import CatalogError, UnknownConstantError

READ_MODES = ("K", "A", "C", "D", "A+D", "arg", "dead")
REACH_STATUSES = ("reachable", "unreachable")
REPO_CATALOG = Path(__file__).resolve().parents[2] / "studies" / "popoto.toml"


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
    reciprocal_bound_attr: str | None = None
    families: tuple[str, ...] = ()
    meaning_low: float | None = None
    meaning_high: float | None = None
    meaning: str = ""
    guard_permissive: str | None = None  # a guard's permissive end, "low" or "high"
    guard_significant: bool = True  # its guard test is significant in its world
    guard_prevalence: str | None = None  # the family knob setting the guarded items' share
    outside_families: tuple[str, ...] = ()
    """Outside families (``scenarios/outside.py``: the LoCoMo replays) that read this constant:
    a robustness check only, never in ``reached_families``, so no objective, screen or
    confirmation scores them."""

    @property
    def reachable(self) -> bool:
        return self.reach == "reachable"

    @property
    def reached_families(self) -> tuple[str, ...]:
        """Every family where popoto's ranking reads this constant, its own family first.

        ``tests/test_reach.py`` measures the matrix; a constant is scored, validated and
        confirmed on all of these, never on its own family alone.
        """
        rest = tuple(f for f in self.families if f != self.family)
        return (self.family, *rest)

    @property
    def search_low(self) -> float:
        """Lower edge of the search: the range, narrowed to where the constant keeps its meaning."""
        return max(self.low, self.meaning_low) if self.meaning_low is not None else self.low

    @property
    def search_high(self) -> float:
        """Upper edge: the range, the meaning interval and popoto's own hard limits."""
        high = self.high if self.meaning_high is None else min(self.high, self.meaning_high)
        for limit in self.hard_limits().values():
            high = min(high, limit)
        return high

    def hard_limits(self) -> dict[str, float]:
        """popoto's own bounds on the value (it raises beyond them), read from the installed popoto.

        ``upper_bound_attr``: value <= that attribute. ``reciprocal_bound_attr``: attribute *
        value < 1, so the value stays strictly below 1 / attribute (the largest float below it).
        """
        if not (self.upper_bound_attr or self.reciprocal_bound_attr):
            return {}
        from popoto.fields.constants import Defaults

        limits = {}
        if self.upper_bound_attr:
            limits[self.upper_bound_attr] = float(getattr(Defaults, self.upper_bound_attr))
        if self.reciprocal_bound_attr:
            bound = 1.0 / float(getattr(Defaults, self.reciprocal_bound_attr))
            limits[f"1/{self.reciprocal_bound_attr}"] = math.nextafter(bound, -math.inf)
        return limits

    def edge_distance(self, value: float) -> float:
        """Distance of ``value`` to the nearer search edge, as a fraction of the search width.

        Measured in log space for log-scale constants, so "2% from the edge" means the same
        thing at every scale.
        """
        low, high, x = self.search_low, self.search_high, float(value)
        if self.log:
            low, high, x = math.log(low), math.log(high), math.log(max(x, 1e-300))
        width = high - low
        return min(x - low, high - x) / width if width > 0 else 0.0

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
            reciprocal_bound_attr=entry.get("reciprocal_bound_attr"),
            families=tuple(str(f) for f in entry.get("families", ())),
            meaning_low=_optional_float(entry.get("meaning_low")),
            meaning_high=_optional_float(entry.get("meaning_high")),
            meaning=str(entry.get("meaning", "")),
            guard_permissive=entry.get("guard_permissive"),
            guard_significant=bool(entry.get("guard_significant", True)),
            guard_prevalence=entry.get("guard_prevalence"),
            outside_families=tuple(str(f) for f in entry.get("outside_families", ())),
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
    if set(constant.outside_families) & {constant.family, *constant.families}:
        problems.append("outside_families must not repeat a tuning family of families")
    if constant.families and constant.family not in constant.families:
        problems.append(f"families must include family {constant.family!r}, "
                        f"got {list(constant.families)}")
    if not constant.search_low < constant.search_high:
        problems.append(f"the meaning interval [{constant.meaning_low}, {constant.meaning_high}] "
                        f"leaves nothing of the range [{constant.low}, {constant.high}]")
    if (constant.meaning_low is not None or constant.meaning_high is not None) \
            and not constant.meaning:
        problems.append("meaning_low/meaning_high need a meaning (why the value must stay there)")
    if not (constant.attr or constant.argument):
        problems.append("one of attr (a Defaults attribute) or argument is required")
    if problems:
        raise CatalogError(f"{path}: constant {name!r}: " + "; ".join(problems))
    return constant


def _optional_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _check_unique_spellings(constants: tuple[Constant, ...], path: Path) -> None:
    seen: dict[str, str] = {}
    for constant in constants:
        for alias in constant.aliases():
            if alias in seen and seen[alias] != constant.name:
                raise CatalogError(
                    f"{path}: {constant.name!r} and {seen[alias]!r} both answer to {alias!r}"
                )
            seen[alias] = constant.name
