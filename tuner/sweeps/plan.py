"""The grid a sweep evaluates: the ``--values`` grammar, the cap, and the checked grid.

This is the *specification* half of a sweep, kept apart from running it (``tuner.sweeps.run``) and
reporting on it (``tuner.sweeps.report``): everything here is pure and touches neither Optuna
nor popoto, so a malformed or over-cap request is refused before any storage is opened, and
``tuner sensitivity`` reuses the same grid and point identity for its own studies.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution

from tuner.catalog import Constant

GRID_CAP = 10_000
VALUES_SYNTAX = "use START..END[:STEP] or V1,V2,..."
_TOLERANCE = Decimal("1e-9")
_KEY_DIGITS = 12

Number = float | int


class SweepSpecError(ValueError):
    """The sweep asked for is malformed; the message says what was wrong and what is allowed."""


# --------------------------------------------------------------------------- value grammar


@dataclass(frozen=True)
class Axis:
    """The values of one ``--values`` spec, counted before they are materialised.

    Counting first lets a 10-million-point range be refused without building it.
    """

    text: str
    listed: tuple[Decimal, ...] = ()
    start: Decimal | None = None
    step: Decimal | None = None
    steps: int = 0

    @property
    def count(self) -> int:
        return self.steps + 1 if self.start is not None else len(self.listed)

    def values(self) -> list[Decimal]:
        """Sorted values; range points are ``start + i*step`` in exact decimal arithmetic."""
        if self.start is not None and self.step is not None:
            return [self.start + i * self.step for i in range(self.steps + 1)]
        return sorted(self.listed)


def _bad(text: str, why: str) -> SweepSpecError:
    return SweepSpecError(f"bad --values {text!r}: {why}; {VALUES_SYNTAX}")


def _number(token: str, text: str) -> Decimal:
    token = token.strip()
    if not token:
        raise _bad(text, "empty value")
    try:
        number = Decimal(token)
    except InvalidOperation:
        raise _bad(text, f"{token!r} is not a number") from None
    if not number.is_finite():
        raise _bad(text, f"{token!r} is not a finite number")
    return number


def parse_values(text: str) -> Axis:
    """Parse ``START..END[:STEP]`` (end inclusive, step 1 by default) or ``V1,V2,...``.

    Decimal arithmetic keeps ``0.05..0.5:0.05`` at exactly ten clean points (float steps
    would give 0.15000000000000002 and lose or gain the end point).
    """
    spec = text.strip()
    if ".." not in spec:
        unique = dict.fromkeys(_number(token, text) for token in spec.split(","))
        return Axis(text=text, listed=tuple(unique))
    bounds, _, step_text = spec.partition(":")
    parts = bounds.split("..")
    if len(parts) != 2:
        raise _bad(text, "a range has exactly one '..'")
    start, end = (_number(part, text) for part in parts)
    if ":" in spec and not step_text.strip():
        raise _bad(text, "empty step after ':'")
    step = _number(step_text, text) if step_text else Decimal(1)
    if step <= 0:
        raise _bad(text, "step must be > 0")
    if end < start:
        raise _bad(text, "end must be >= start")
    steps = int((end - start) / step + _TOLERANCE)
    return Axis(text=text, start=start, step=step, steps=steps)


# --------------------------------------------------------------------------- the grid


@dataclass(frozen=True)
class GridPoint:
    """One combination of values, in the sweep's constant order."""

    values: tuple[Number, ...]
    baseline: bool = False
    added: bool = False  # popoto's default, added because the grid did not contain it


@dataclass(frozen=True)
class SweepPlan:
    """What to evaluate: the constants (one family), the grid points and popoto's defaults."""

    constants: tuple[Constant, ...]
    points: tuple[GridPoint, ...]
    defaults: tuple[Number, ...]  # the baseline row: the incumbent's values (popoto's default)
    context: tuple[tuple[Constant, float], ...] = ()  # the incumbent's other values, applied

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.constants]

    @property
    def family(self) -> str:
        return self.constants[0].family

    def params(self, point: GridPoint) -> dict[str, Number]:
        return dict(zip(self.names, point.values, strict=True))

    def mapping(self, point: GridPoint) -> dict[Constant, Number]:
        """The values one point applies: the incumbent, with the swept constants set."""
        return {**dict(self.context), **dict(zip(self.constants, point.values, strict=True))}

    @property
    def incumbent(self) -> dict[str, float]:
        """Every incumbent value in force (the swept constants' baseline included)."""
        swept = {c.name: v for c, v in zip(self.constants, self.defaults, strict=True)
                 if v != _as_number(c, c.default())}
        return {**{c.name: v for c, v in self.context}, **swept}

    def distributions(self) -> dict[str, BaseDistribution]:
        """One distribution per constant spanning every grid value, so no fixed param warns."""
        spans: dict[str, BaseDistribution] = {}
        for i, constant in enumerate(self.constants):
            column = [p.values[i] for p in self.points]
            if constant.is_int:
                spans[constant.name] = IntDistribution(int(min(column)), int(max(column)))
            else:
                spans[constant.name] = FloatDistribution(float(min(column)), float(max(column)))
        return spans


def plan_sweep(
    constants: Sequence[Constant], specs: Sequence[str], *, cap: int = GRID_CAP,
    incumbent: Mapping[Constant, float] | None = None,
) -> SweepPlan:
    """Check and build the grid; refuses bad input and over-cap grids before anything runs.

    The baseline row (every delta is against it) is the incumbent's value of each swept
    constant, popoto's default where the incumbent has none; the incumbent's other values are
    applied at every point.
    """
    incumbent = dict(incumbent or {})
    if len(constants) != len(specs):
        raise SweepSpecError(
            f"got {len(constants)} --constant but {len(specs)} --values; give one --values "
            "per --constant, paired in order"
        )
    _check_distinct(constants)
    _check_one_family(constants)
    axes = [parse_values(spec) for spec in specs]
    count = math.prod(axis.count for axis in axes)
    if count > cap:
        shape = " x ".join(f"{axis.count:,}" for axis in axes)
        detail = f" ({shape})" if len(axes) > 1 else ""
        raise SweepSpecError(
            f"grid has {count:,} points{detail}, over the cap of {cap:,}; "
            "use fewer values or a larger step"
        )
    columns = [_column(c, axis) for c, axis in zip(constants, axes, strict=True)]
    defaults = tuple(_as_number(c, incumbent.get(c, c.default())) for c in constants)
    context = tuple(sorted(((c, v) for c, v in incumbent.items() if c not in constants),
                           key=lambda cv: cv[0].name))
    return SweepPlan(constants=tuple(constants), points=_with_baseline(columns, defaults),
                     defaults=defaults, context=context)


def _check_distinct(constants: Sequence[Constant]) -> None:
    seen: set[str] = set()
    for constant in constants:
        if constant.name in seen:
            raise SweepSpecError(f"{constant.name} is given twice; sweep each constant once")
        seen.add(constant.name)


def _check_one_family(constants: Sequence[Constant]) -> None:
    first = constants[0]
    for other in constants[1:]:
        if other.family != first.family:
            raise SweepSpecError(
                f"{first.name} (family {first.family}) and {other.name} (family {other.family}) "
                "do not share a scenario family; sweep only constants of one family together"
            )


def _column(constant: Constant, axis: Axis) -> list[Number]:
    values = axis.values()
    if constant.is_int:
        fractional = [v for v in values if v != v.to_integral_value()]
        if fractional:
            raise _bad(axis.text, f"{constant.name} takes whole numbers, got {fractional[0]}")
        return sorted(dict.fromkeys(int(v) for v in values))
    return sorted(dict.fromkeys(float(v) for v in values))


def _as_number(constant: Constant, value: float) -> Number:
    return int(round(value)) if constant.is_int else float(value)


def point_key(values: Sequence[float]) -> tuple[float, ...]:
    """Identity of a point across runs: stored params come back as floats."""
    return tuple(round(float(v), _KEY_DIGITS) for v in values)


def _with_baseline(
    columns: list[list[Number]], defaults: tuple[Number, ...]
) -> tuple[GridPoint, ...]:
    base = point_key(defaults)
    points = [GridPoint(values=v, baseline=point_key(v) == base)
              for v in itertools.product(*columns)]
    if not any(p.baseline for p in points):
        points.append(GridPoint(values=defaults, baseline=True, added=True))
        points.sort(key=lambda p: p.values)
    return tuple(points)
