"""World knobs: the declared shape constants of a family's world.

Every score is relative to the worlds in ``scenarios/families/``, whose shape constants (how
often related records recur, the share of bad policies, the interruption cost, ...) are our own
choices. A family declares those that define its latent truth or the cost of an error as
``Knob``s, so a decision can say which worlds it holds in and a deployment can score in its own.

A knob changes only the world, never a tuned constant: it is read in ``build_world`` (or in the
run's world-side bookkeeping), from ``ScenarioSeed.knobs`` with the declared default when the
seed does not set it, and the default is the value the harness had before knobs existed, so a
default world's scores are today's bit for bit (``tests/test_world_knobs.py``). Ranges are the
plausible ranges argued in docs/fair-worlds.md from what the mechanism means, fixed before any
robustness run.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace


class UnknownKnobError(KeyError):
    """A knob name the family does not declare; the message names the declared ones."""

    def __str__(self) -> str:  # KeyError quotes its argument; say the sentence plainly
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Knob:
    """One declared shape constant of a family's world.

    ``default`` is the harness's value before knobs (today's world); ``[low, high]`` the range a
    robustness design or a deployment profile may set it to. ``integer`` knobs (counts) are
    rounded where they are read, and a value is validated against the range as given.
    """

    name: str
    default: float
    low: float
    high: float
    meaning: str
    family: str = ""
    integer: bool = False

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"knob name must be an identifier, got {self.name!r}")
        for label in ("default", "low", "high"):
            if not math.isfinite(getattr(self, label)):
                raise ValueError(f"knob {self.name}: {label} must be finite")
        if not self.low < self.high:
            raise ValueError(f"knob {self.name}: low {self.low} must be < high {self.high}")
        if not self.low <= self.default <= self.high:
            raise ValueError(
                f"knob {self.name}: default {self.default} outside [{self.low}, {self.high}]"
            )
        if not self.meaning:
            raise ValueError(f"knob {self.name}: say what it means")

    def read(self, seed: object) -> float:
        """This knob's value in ``seed``'s world (a ``ScenarioSeed``): the seed's, else default.

        Module-level world builders read their knobs with this; ``Family.knob`` does the same
        by name. An integer knob is rounded here, so a profile may write 4 or 4.0.
        """
        value = seed.knob(self.name, self.default)  # type: ignore[attr-defined]
        return float(round(value)) if self.integer else float(value)

    def check(self, value: float) -> float:
        """``value`` as a float when it lies in the declared range; ValueError otherwise."""
        value = float(value)
        if not (math.isfinite(value) and self.low <= value <= self.high):
            where = f"{self.family}." if self.family else ""
            raise ValueError(
                f"knob {where}{self.name} = {value:g} is outside its range "
                f"[{self.low:g}, {self.high:g}]"
            )
        return value

    def to_dict(self) -> dict:
        return {"family": self.family, "name": self.name, "default": self.default,
                "low": self.low, "high": self.high, "integer": self.integer,
                "meaning": self.meaning}


def scaled_range(bounds: tuple[float, float], value: float, default: float):
    """``bounds`` scaled by ``value / default``: a knob that moves a per-seed hidden draw's mean.

    Several worlds draw a hidden share per seed from a range (``BAD_SHARE_RANGE``...); a knob
    on its mean scales both ends, keeping the spread relative. At the default the factor is
    exactly 1.0 and ``x * 1.0 == x``, so today's bounds (and draws) are reproduced bit for bit.
    """
    factor = value / default
    return bounds[0] * factor, bounds[1] * factor


_DECLARED: dict[str, tuple[Knob, ...]] = {}


def declare(family: str, knobs: tuple[Knob, ...]) -> tuple[Knob, ...]:
    """Register ``family``'s knobs (``Family.__init_subclass__`` calls this), each stamped with
    its family; returns them. A registry here, not a look-up of ``FAMILIES``, so that seeds and
    knobs never import the families package (which imports them)."""
    names = [k.name for k in knobs]
    if len(set(names)) != len(names):
        raise ValueError(f"family {family!r} declares a knob twice: {names}")
    stamped = tuple(k if k.family == family else replace(k, family=family) for k in knobs)
    _DECLARED[family] = stamped
    return stamped


def family_knobs(family: str | type | object) -> tuple[Knob, ...]:
    """The knobs ``family`` declares: a family name, a ``Family`` class or an instance."""
    if isinstance(family, str):
        if family not in _DECLARED:
            known = ", ".join(sorted(_DECLARED))
            raise KeyError(f"unknown scenario family {family!r}; known: {known}")
        return _DECLARED[family]
    return tuple(getattr(family, "knobs", ()))


def declared(family: str) -> tuple[Knob, ...] | None:
    """``family``'s knobs, or None when no family of that name was ever declared."""
    return _DECLARED.get(family)


def find_knob(knobs: tuple[Knob, ...], name: str, *, family: str = "") -> Knob:
    """The knob called ``name`` among ``knobs``; an ``UnknownKnobError`` suggests close names."""
    for knob in knobs:
        if knob.name == name:
            return knob
    names = [k.name for k in knobs]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    where = f"family {family!r}" if family else "this family"
    declared = ", ".join(names) or "none"
    raise UnknownKnobError(
        f"unknown knob {name!r} for {where}{hint} (declared: {declared})"
    )


def check_knob_values(family: str, values: Mapping[str, float]) -> dict[str, float]:
    """``values`` validated against ``family``'s declared knobs (name and range)."""
    knobs = family_knobs(family)
    return {name: find_knob(knobs, name, family=family).check(value)
            for name, value in values.items()}
