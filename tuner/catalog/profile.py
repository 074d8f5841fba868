"""A deployment profile: which families matter to an application, and what its world is like.

Every score is relative to the scenario worlds and to the equal weight the objective gives each
family. An application that uses no cyclic fields should not pay for (or gain from) a constant
only the cyclic family reads, and one whose agents cache many bad policies lives in another
policy_cache world than ours. ``--profile FILE`` (TOML) says both::

    [weights]            # family = weight; a family not named keeps weight 1
    cyclic = 0
    [knobs.policy_cache] # knob = value, names as `tuner worlds` lists them
    bad_policy_share = 0.1

Knob values reach the worlds through the scenario bank (``BankSpec.profile`` applies them to
every seed it draws, so study, screen, confirmation and check all score in the profile's world;
the result cache keys on the seed, knobs included). Weights make the objective, tests and
certificates weighted means over families; a family of weight 0 is not scored at all. The
profile is part of a study's contract and of the ratchet ledger. The default profile (no file)
is equal weights and default knobs, and changes nothing, bit for bit.

A command's profile is also *active* while it runs (``profile_scope``): a ``BankSpec`` built
without an explicit profile takes the active one, so a bank derived anywhere in a run (a
confirmation or replication bank) is drawn in the same world.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SECTIONS = ("weights", "knobs")


class ProfileError(ValueError):
    """A profile that cannot be used; one line saying what was wrong and what is allowed."""


class Profile:
    """Family weights and world-knob values, validated and kept in canonical form.

    Canonical: a weight of 1 and a knob at its family's default are dropped (they change
    nothing), so two profiles that score the same are equal, hash the same and have the same
    ``digest``; the default profile is empty. Immutable and hashable (it is part of a
    ``BankSpec``).
    """

    __slots__ = ("_weights", "_knobs", "source")

    def __init__(self, weights: Mapping[str, float] | None = None,
                 knobs: Mapping[str, Mapping[str, float]] | None = None,
                 *, source: str = "") -> None:
        self._weights = _canonical_weights(weights or {})
        self._knobs = _canonical_knobs(knobs or {})
        self.source = source  # the file it was read from: descriptive, not identity
        if self._weights and all(self.weight(f) == 0 for f in tuning_families()):
            raise ProfileError("every family has weight 0: nothing would be scored "
                               "(give at least one family a weight > 0)")

    @property
    def weights(self) -> dict[str, float]:
        """The weights that differ from 1, by family."""
        return dict(self._weights)

    @property
    def knobs(self) -> dict[str, dict[str, float]]:
        """The knob values that differ from the family's default, by family."""
        return {family: dict(values) for family, values in self._knobs}

    def weight(self, family: str) -> float:
        """``family``'s weight: 1 unless the profile names it."""
        return dict(self._weights).get(family, 1.0)

    def family_weights(self, families: Iterable[str]) -> dict[str, float]:
        """Each of ``families`` with its weight (zero-weight ones included), in their order."""
        return {family: self.weight(family) for family in families}

    def weighted(self, families: Iterable[str]) -> tuple[str, ...]:
        """Those of ``families`` that are scored at all (weight > 0), in their order."""
        return tuple(f for f in families if self.weight(f) > 0)

    def knob_pairs(self, family: str) -> tuple[tuple[str, float], ...]:
        """``family``'s non-default knob values as sorted pairs (a seed's ``knobs`` form)."""
        return dict(self._knobs).get(family, ())

    def apply(self, seed: Any) -> Any:
        """``seed`` in this profile's world of its family (the seed itself when default)."""
        pairs = self.knob_pairs(seed.family)
        return seed.with_knobs(dict(pairs)) if pairs else seed

    @property
    def is_default(self) -> bool:
        return not self._weights and not self._knobs

    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON form: the contract, the ledger header and ``--json`` carry it."""
        return {"weights": self.weights, "knobs": self.knobs}

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    @property
    def tag(self) -> str:
        """Suffix of a bank's tag: empty for the default profile, else ``-p`` + 8 hex digits,
        so studies and ledgers of another profile never share a name with the default's."""
        return "" if self.is_default else f"-p{self.digest[:8]}"

    def describe(self) -> str:
        """One line: ``default (equal weights, default worlds)`` or what the profile sets."""
        where = f" from {self.source}" if self.source and not self.is_default else ""
        return describe_profile(self.to_dict()) + where

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Profile):
            return NotImplemented
        return (self._weights, self._knobs) == (other._weights, other._knobs)

    def __hash__(self) -> int:
        return hash((self._weights, self._knobs))

    def __repr__(self) -> str:
        return f"Profile(weights={self.weights!r}, knobs={self.knobs!r})"


def describe_profile(data: Mapping[str, Any] | None) -> str:
    """A profile's ``to_dict`` form (None: the default) in one line, without validating it (a
    stored profile may name a knob this harness no longer declares)."""
    weights = (data or {}).get("weights") or {}
    knobs = (data or {}).get("knobs") or {}
    parts = [f"weight {f}={_num(w)}" for f, w in sorted(weights.items())]
    parts += [f"{f}.{k}={_num(v)}" for f, values in sorted(knobs.items())
              for k, v in sorted(values.items())]
    return "; ".join(parts) if parts else "default (equal weights, default worlds)"


def profile_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[str]:
    """What differs between two profiles' ``to_dict`` forms (None: the default), in words:
    ``weight cyclic 1 -> 0``, ``knob policy_cache.bad_policy_share 0.3 -> 0.1``."""
    old, new = old or {}, new or {}
    changes = []
    old_w, new_w = old.get("weights") or {}, new.get("weights") or {}
    for family in sorted(set(old_w) | set(new_w)):
        a, b = old_w.get(family, 1.0), new_w.get(family, 1.0)
        if a != b:
            changes.append(f"weight {family} {_num(a)} -> {_num(b)}")
    old_k, new_k = old.get("knobs") or {}, new.get("knobs") or {}
    for family in sorted(set(old_k) | set(new_k)):
        a_values, b_values = old_k.get(family) or {}, new_k.get(family) or {}
        for name in sorted(set(a_values) | set(b_values)):
            a, b = a_values.get(name), b_values.get(name)
            if a != b:
                changes.append(f"knob {family}.{name} {_knob_text(family, name, a)} -> "
                               f"{_knob_text(family, name, b)}")
    return changes


def load_profile(path: str | Path | None) -> Profile:
    """Read a profile file (None: the default profile); any problem is one ``ProfileError``."""
    if path is None:
        return DEFAULT_PROFILE
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"profile file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read profile file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ProfileError(f"profile file {path}: unknown section {unknown[0]!r} (allowed: "
                           "[weights] with family = weight, [knobs.FAMILY] with knob = value)")
    weights, knobs = data.get("weights", {}), data.get("knobs", {})
    if not isinstance(weights, dict):
        raise ProfileError(f"profile file {path}: weights must be a table [weights] of "
                           "family = weight")
    if not isinstance(knobs, dict) or not all(isinstance(v, dict) for v in knobs.values()):
        raise ProfileError(f"profile file {path}: knobs must be tables [knobs.FAMILY] of "
                           "knob = value")
    try:
        return Profile(weights, knobs, source=str(path))
    except ProfileError as exc:
        raise ProfileError(f"profile file {path}: {exc}") from None


def active_profile() -> Profile:
    """The profile of the command running now (``profile_scope``); the default otherwise."""
    return _ACTIVE[-1]


@contextmanager
def profile_scope(profile: Profile) -> Iterator[Profile]:
    """Make ``profile`` the active one for the block; the previous one is restored after."""
    _ACTIVE.append(profile)
    try:
        yield profile
    finally:
        _ACTIVE.pop()


def family_weights(families: Iterable[str], profile: Profile | None = None) -> dict[str, float]:
    """Each family's weight under ``profile`` (default: the active one): the weights a test or
    certificate over ``families`` uses. Families of weight 0 are included (with 0)."""
    return (profile or active_profile()).family_weights(families)


def weighted_mean(values: Mapping[str, float], weights: Mapping[str, float] | None) -> float:
    """The weighted mean of per-family ``values`` (families of weight 0 count for nothing).

    With no weights, or all of them 1, it is exactly ``numpy.mean`` of the values, so the
    default profile reproduces today's equal-weight numbers bit for bit.
    """
    import numpy as np

    families = list(values)
    w = [1.0 if weights is None else float(weights.get(f, 1.0)) for f in families]
    if all(x == 1.0 for x in w):
        return float(np.mean([values[f] for f in families]))
    total = sum(w)
    if total <= 0:
        raise ValueError("no family with a weight > 0")
    return float(sum(x * values[f] for x, f in zip(w, families, strict=True)) / total)


def known_families() -> tuple[str, ...]:
    """Families a profile may name: the registered ones and the outside (LoCoMo) ones."""
    from scenarios.families import FAMILIES

    return tuple(sorted(set(FAMILIES) | set(_outside())))


def tuning_families() -> tuple[str, ...]:
    """The families objectives score (outside families are a robustness check only)."""
    from scenarios.families import FAMILIES

    return tuple(sorted(set(FAMILIES) - set(_outside())))


def _outside() -> tuple[str, ...]:
    try:
        from scenarios.outside import OUTSIDE_FAMILIES
    except ImportError:  # pragma: no cover - a harness without outside families
        return ()
    return tuple(OUTSIDE_FAMILIES)


def _family(name: object) -> str:
    families = known_families()
    if name in families:
        return str(name)
    close = difflib.get_close_matches(str(name), families, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ProfileError(f"unknown family {name!r}{hint} (known: {', '.join(families)})")


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProfileError(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ProfileError(f"{what} must be finite, got {value!r}")
    return number


def _canonical_weights(weights: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
    out = {}
    for name, value in weights.items():
        family = _family(name)
        weight = _number(value, f"weight of {family}")
        if weight < 0:
            raise ProfileError(f"weight of {family} must be >= 0 (0 leaves the family "
                               f"unscored), got {_num(weight)}")
        if weight != 1.0:
            out[family] = weight
    return tuple(sorted(out.items()))


def _canonical_knobs(knobs: Mapping[str, Mapping[str, float]]
                     ) -> tuple[tuple[str, tuple[tuple[str, float], ...]], ...]:
    from scenarios.knobs import UnknownKnobError, family_knobs, find_knob

    out = {}
    for name, values in knobs.items():
        family = _family(name)
        declared = family_knobs(family)
        pairs = {}
        for knob_name, value in values.items():
            try:
                knob = find_knob(declared, str(knob_name), family=family)
            except UnknownKnobError as exc:
                raise ProfileError(f"{exc}; `tuner worlds` lists every knob") from None
            number = _number(value, f"knob {family}.{knob.name}")
            if knob.integer and not number.is_integer():
                raise ProfileError(f"knob {family}.{knob.name} takes a whole number, got "
                                   f"{_num(number)}")
            try:
                knob.check(number)
            except ValueError as exc:
                raise ProfileError(str(exc)) from None
            if number != float(knob.default):
                pairs[knob.name] = number
        if pairs:
            out[family] = tuple(sorted(pairs.items()))
    return tuple(sorted(out.items()))


def _num(value: float) -> str:
    return f"{value:g}"


def _knob_text(family: str, name: str, value: float | None) -> str:
    """A knob value in a change line; an unset one reads as its default, e.g. ``0.3 (default)``."""
    if value is not None:
        return _num(value)
    from scenarios.knobs import family_knobs

    try:
        default = next(k.default for k in family_knobs(family) if k.name == name)
    except (KeyError, StopIteration):
        return "default"
    return f"{_num(default)} (default)"


DEFAULT_PROFILE = Profile()
_ACTIVE: list[Profile] = [DEFAULT_PROFILE]
