"""Checks that make a catalog written slightly wrong fail loudly instead of loading as empty.

TOML accepts ``[decay_rate]`` as happily as ``[constants.decay_rate]``; the first used to be
ignored and the catalog loaded with 0 constants. Every check here names the table and the rule,
in one line, so the user can fix the file without reading code. Keys *inside* a constant table
are not restricted: the catalog grows optional keys (``families``, ``meaning_low``, ...) and an
older tuner must not reject a newer catalog for them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.catalog.errors import CatalogError

TOP_LEVEL = ("constants",)
ATTR_KEYS = ("attr", "upper_bound_attr", "reciprocal_bound_attr")  # each names a Defaults attr


class CatalogCheckError(CatalogError):
    """One line: the catalog file, the table, and what is wrong with it."""


def check_top_level(data: Mapping[str, Any], path: Path) -> None:
    """Only ``[constants.NAME]`` tables are allowed, and at least one of them."""
    for key, value in data.items():
        if key in TOP_LEVEL:
            continue
        what = f"table [{key}]" if isinstance(value, dict) else f"key {key!r}"
        hint = f"; a constant is written [constants.{key}]" if isinstance(value, dict) else ""
        raise CatalogCheckError(f"{path}: unknown top-level {what}{hint} "
                                f"(allowed: {', '.join(f'[{t}.NAME]' for t in TOP_LEVEL)})")
    constants = data.get("constants")
    if not isinstance(constants, dict) or not constants:
        raise CatalogCheckError(f"{path}: the catalog holds no constants; add at least one "
                                "[constants.NAME] table")
    for name, entry in constants.items():
        if not isinstance(entry, dict):
            raise CatalogCheckError(f"{path}: constants.{name} must be a table "
                                    f"[constants.{name}], not a value")


def check_entry(name: str, entry: Mapping[str, Any], path: Path) -> None:
    """Names in the raw table (families, Defaults attributes), before anything reads them."""
    problems = [*_family_problems(entry), *_outside_problems(entry), *_attr_problems(entry)]
    if problems:
        raise CatalogCheckError(f"{path}: constant {name!r}: " + "; ".join(problems))


def check_constant(constant: Any, entry: Mapping[str, Any], path: Path) -> None:
    """Checks of one parsed constant: finite range, popoto's default resolvable and inside it."""
    problems = [*_range_problems(constant), *_default_problems(constant)]
    if problems:
        raise CatalogCheckError(f"{path}: constant {constant.name!r}: " + "; ".join(problems))


def _range_problems(constant: Any) -> list[str]:
    bounds = {"low": constant.low, "high": constant.high}
    return [f"{key} must be a finite number, got {value}" for key, value in bounds.items()
            if not math.isfinite(value)]


def _family_problems(entry: Mapping[str, Any]) -> list[str]:
    from scenarios.families import FAMILIES

    named = [entry.get("family"), *_as_list(entry.get("families", []))]
    unknown = [str(name) for name in named if name is not None and name not in FAMILIES]
    if not unknown:
        return []
    from scenarios.outside import OUTSIDE_FAMILIES, outside_reason

    if set(unknown) <= set(OUTSIDE_FAMILIES):  # a tuning target now, but its data is absent
        return [f"outside family {name!r} is unavailable: {outside_reason(name)}"
                for name in unknown]
    return [f"unknown scenario family {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(sorted(FAMILIES))})"]


def _outside_problems(entry: Mapping[str, Any]) -> list[str]:
    """``outside_families`` names outside families (known even while their data is absent)."""
    import scenarios.families  # noqa: F401 - registers every family, outside ones included
    from scenarios.outside import OUTSIDE_FAMILIES

    unknown = [str(n) for n in _as_list(entry.get("outside_families", []))
               if n not in OUTSIDE_FAMILIES]
    if not unknown:
        return []
    return [f"unknown outside family {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(sorted(OUTSIDE_FAMILIES))})"]


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _attr_problems(entry: Mapping[str, Any]) -> list[str]:
    from popoto.fields.constants import Defaults

    named = [entry.get(key) for key in ATTR_KEYS]
    return [f"popoto's Defaults has no attribute {name!r}"
            for name in named if name and not hasattr(Defaults, str(name))]


def _default_problems(constant: Any) -> list[str]:
    try:
        default = constant.default()
    except Exception as exc:  # noqa: BLE001 - a bad spec is the user's input, named below
        return [f"argument {constant.argument!r} does not resolve ({type(exc).__name__}: "
                f"{exc}); write it as 'module:Qualified.name:param'"]
    if not isinstance(default, int | float) or isinstance(default, bool):
        return [f"popoto's default {default!r} is not a number"]
    if not constant.low <= default <= constant.high:
        return [f"popoto's default {default!r} lies outside the range [{constant.low}, "
                f"{constant.high}]; trial 0 runs the default, so widen the range to include it"]
    return []
