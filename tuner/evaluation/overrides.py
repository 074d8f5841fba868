"""Apply constant values so they really reach popoto's code, and restore them in ``finally``.

One mechanism for every read mode:
- C (call time): set ``Defaults.X``.
- A (module alias ``X = Defaults.X``): also rebind ``X`` in every loaded ``popoto.*`` module
  that holds it (the catalog names modules to import first so their aliases exist).
- K (constructor-captured): ``Defaults.X`` is set before the scenario builds its model classes,
  which families do at run time, so fresh Fields capture the value.
- D / arg (frozen default arguments, or no ``Defaults`` attribute): the value is handed to the
  scenario as an explicit argument (``RunContext.arguments``) that the family passes on.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from tuner.catalog import Constant

_MISSING = object()


class OverrideError(ValueError):
    """A value the constant cannot take (popoto would reject it or it is out of type)."""


def coerce_value(constant: Constant, value: float) -> float | int:
    """The value as popoto expects it: int constants stay int; bounds popoto enforces hold."""
    if constant.is_int:
        value = int(round(value))
    for name, limit in constant.hard_limits().items():
        if value > limit:
            rule = f"< {name} ({1 / limit:.6g})" if name.startswith("1/") else f"<= {name} " \
                f"({limit})"
            raise OverrideError(f"{constant.name} must be {rule}, got {value}")
    return value


@contextmanager
def applied_constants(values: Mapping[Constant, float]) -> Iterator[dict[str, float]]:
    """Apply ``values`` for the duration of the block; yields the explicit-argument values."""
    from popoto.fields.constants import Defaults

    from tuner.evaluation.fingerprint import popoto_defaults

    popoto_defaults()  # popoto's own numbers are snapshotted before any value is applied
    undo: list[tuple[object, str, object]] = []
    arguments: dict[str, float] = {}
    try:
        for constant, raw in values.items():
            value = coerce_value(constant, raw)
            if constant.argument and not constant.attr:
                arguments[constant.name] = value
                continue
            for module_name in constant.alias_modules:
                importlib.import_module(module_name)
            assert constant.attr is not None
            _set(undo, Defaults, constant.attr, value)
            for module in _alias_holders(constant.attr):
                _set(undo, module, constant.attr, value)
            arguments[constant.name] = value
        yield arguments
    finally:
        for target, attr, old in reversed(undo):
            if old is _MISSING:
                delattr(target, attr)
            else:
                setattr(target, attr, old)


def _set(undo: list, target: object, attr: str, value: object) -> None:
    undo.append((target, attr, target.__dict__.get(attr, _MISSING)))
    setattr(target, attr, value)


def _alias_holders(attr: str) -> list[object]:
    """Every loaded popoto module with a module-level global named ``attr``."""
    return [
        module
        for name, module in list(sys.modules.items())
        if (name == "popoto" or name.startswith("popoto."))
        and module is not None
        and attr in getattr(module, "__dict__", {})
        and not isinstance(module.__dict__[attr], type)
    ]


def current_values(constants: list[Constant]) -> dict[Constant, float]:
    """popoto's own current values, the baseline every study compares against."""
    return {c: c.default() for c in constants}
