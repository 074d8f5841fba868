"""The incumbent: the constant values a deployment runs with, the baseline of every comparison.

An app may set popoto's ``Defaults.X`` at start-up; tuning from popoto's own defaults would then
answer a question nobody asked. ``--incumbent NAME=VALUE`` (repeatable) and ``--incumbent-file
FILE`` (TOML: ``NAME = value`` lines, at the top level or under ``[incumbent]``) name those
values; every study, screen, confirmation, certificate and sweep compares against them. The
same option lets a benchmark plant a mis-set value and check that the tuner finds its way back.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from tuner.catalog.errors import UnknownConstantError
from tuner.catalog.model import Catalog, Constant


class IncumbentError(ValueError):
    """An incumbent that cannot be used; the message says what was wrong and what is allowed."""


def parse_incumbent(catalog: Catalog, pairs: Iterable[str] = (),
                    path: str | Path | None = None) -> dict[Constant, float]:
    """Resolve ``NAME=VALUE`` pairs and an optional TOML file; pairs win over the file."""
    values: dict[Constant, float] = {}
    if path is not None:
        values.update(_from_file(catalog, Path(path)))
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip() or not text.strip():
            raise IncumbentError(f"--incumbent takes NAME=VALUE, got {pair!r}")
        constant = _resolve(catalog, name)
        values[constant] = _number(constant, text.strip(), f"--incumbent {pair}")
    return values


def _from_file(catalog: Catalog, path: Path) -> dict[Constant, float]:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise IncumbentError(f"incumbent file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise IncumbentError(f"incumbent file {path} is not valid TOML: {exc}") from None
    table = data.get("incumbent", data)
    if not isinstance(table, Mapping):
        raise IncumbentError(f"incumbent file {path}: [incumbent] must be a table of "
                             "NAME = value")
    return {(c := _resolve(catalog, name)): _number(c, value, f"{path}: {name}")
            for name, value in table.items()}


def _resolve(catalog: Catalog, name: str) -> Constant:
    try:
        return catalog.resolve(name.strip())
    except UnknownConstantError as exc:
        raise IncumbentError(str(exc)) from None


def _number(constant: Constant, raw: object, where: str) -> float:
    """A finite number popoto accepts for ``constant`` (an integer for integer constants)."""
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise IncumbentError(f"{where}: {constant.name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise IncumbentError(f"{where}: {constant.name} must be finite, got {raw!r}")
    if constant.is_int:
        if not value.is_integer():
            raise IncumbentError(f"{where}: {constant.name} is an integer constant, got {raw!r}")
        return int(value)
    for limit_name, limit in constant.hard_limits().items():
        if value > limit:
            raise IncumbentError(f"{where}: {constant.name} must be <= {limit:.6g} "
                                 f"({limit_name}), got {value:g}")
    return value


def incumbent_names(incumbent: Mapping[Constant, float]) -> dict[str, float]:
    """The incumbent by constant name, for contracts, ledgers and JSON."""
    return {c.name: v for c, v in sorted(incumbent.items(), key=lambda kv: kv[0].name)}
