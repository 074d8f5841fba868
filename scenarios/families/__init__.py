"""Scenario families, one module each; importing this package registers them all."""

from __future__ import annotations

import importlib
import pkgutil

from scenarios.families.base import FAMILIES, Family, Ranking, RunContext, composite_ranking

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")


def get_family(name: str) -> Family:
    """The family registered as ``name``; the error lists the known ones."""
    try:
        return FAMILIES[name]()
    except KeyError:
        known = ", ".join(sorted(FAMILIES))
        raise KeyError(f"unknown scenario family {name!r}; known: {known}") from None


__all__ = ["FAMILIES", "Family", "Ranking", "RunContext", "composite_ranking", "get_family"]
