"""A synthetic world for the decision engine: per-scenario delta streams instead of popoto.

``bench_decisions.py`` drives the production stages (``run_screen``, ``confirm`` with Holm,
the harm rule inside both, ``finish`` with the gate, ``certificate_for``) on deltas drawn from
distributions whose true means are known, so the engine's promises can be counted over
thousands of ratchets: false accepts, harmful accepts, certificate coverage, recovery.

The world: the catalog's constants, each reaching its real families, with a proposal value
(given: the search is not simulated) and the certification grid's values. Every (constant,
family, value) has a delta distribution (a ``Spec``). Deltas are drawn once per run and bank
as an array, from a generator seeded by (seed, run, bank, constant, value, family), so nested
prefixes are consistent and a run's data do not depend on which other runs or processes ran.
Every delta lies in [-1, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.stats import norm

from tuner.catalog import Constant
from tuner.decisions.comparison import PairedComparison, compare_deltas
from tuner.studies.objective import grid_values

BANKS = {"train": 0, "screen": 1, "confirm": 2}
PROPOSAL = 0  # value index of the proposal; grid values are 1..k


class SpecError(ValueError):
    """A delta specification that cannot be parsed; the message is one line for the user."""


SPEC_FORMS = ("zero", "normal:MEAN,SD", "skew:P,LOSS,GAIN", "sparse:P,GAIN")


@dataclass(frozen=True)
class Spec:
    """One per-scenario delta distribution, clipped to [-1, 1]."""

    kind: str
    params: tuple[float, ...] = ()

    @property
    def text(self) -> str:
        if self.kind == "zero":
            return "zero"
        return f"{self.kind}:" + ",".join(f"{p:g}" for p in self.params)

    @cached_property
    def mean(self) -> float:
        """The true mean of the clipped distribution (what every claim is about)."""
        if self.kind == "zero":
            return 0.0
        if self.kind == "normal":
            mu, sd = self.params
            if sd == 0:
                return min(1.0, max(-1.0, mu))
            a, b = (-1 - mu) / sd, (1 - mu) / sd
            inside = mu * (norm.cdf(b) - norm.cdf(a)) - sd * (norm.pdf(b) - norm.pdf(a))
            return float(-norm.cdf(a) + norm.sf(b) + inside)
        if self.kind == "skew":
            p, loss, gain = self.params
            return (1 - p) * gain - p * loss
        p, gain = self.params  # sparse
        return p * gain

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "zero":
            return np.zeros(n)
        if self.kind == "normal":
            mu, sd = self.params
            return np.clip(rng.normal(mu, sd, n), -1.0, 1.0)
        if self.kind == "skew":
            p, loss, gain = self.params
            return np.where(rng.random(n) < p, -loss, gain)
        p, gain = self.params
        return np.where(rng.random(n) < p, gain, 0.0)


def parse_spec(text: str) -> Spec:
    """``zero``, ``normal:mean,sd``, ``skew:p,loss,gain`` or ``sparse:p,gain``."""
    kind, _, rest = text.strip().partition(":")
    arity = {"zero": 0, "normal": 2, "skew": 3, "sparse": 2}
    if kind not in arity:
        raise SpecError(f"unknown delta spec {text!r}: use one of {', '.join(SPEC_FORMS)}")
    try:
        params = tuple(float(x) for x in rest.split(",")) if rest.strip() else ()
    except ValueError:
        raise SpecError(f"delta spec {text!r} has a non-number: use "
                        f"{SPEC_FORMS[list(arity).index(kind)]}") from None
    if len(params) != arity[kind] or not all(math.isfinite(p) for p in params):
        raise SpecError(f"delta spec {text!r} needs {arity[kind]} finite numbers: use "
                        f"{SPEC_FORMS[list(arity).index(kind)]}")
    _check_ranges(text, kind, params)
    return Spec(kind, params)


def _check_ranges(text: str, kind: str, params: tuple[float, ...]) -> None:
    if kind == "normal" and not (-1 <= params[0] <= 1 and params[1] >= 0):
        raise SpecError(f"delta spec {text!r}: normal needs -1 <= MEAN <= 1 and SD >= 0")
    if kind in ("skew", "sparse") and not 0 <= params[0] <= 1:
        raise SpecError(f"delta spec {text!r}: the fraction P must lie in [0, 1]")
    if kind in ("skew", "sparse") and not all(0 <= v <= 1 for v in params[1:]):
        raise SpecError(f"delta spec {text!r}: LOSS and GAIN are sizes in [0, 1] "
                        "(deltas lie in [-1, 1])")


# Skewed nulls, every one with mean <= 0: most scenarios gain a little, a few lose a lot (the
# shape of a permissive threshold). Assigned to (constant, family) in turn.
SKEWED_NULLS = ("skew:0.02,0.5,0.01", "skew:0.05,0.2,0.01", "skew:0.01,1,0.01",
                "skew:0.1,0.1,0.011", "skew:0.005,1,0.005", "skew:0.2,0.05,0.0125")


@dataclass(frozen=True)
class World:
    """The constants of a ratchet and, per (constant, family), the delta distribution of every
    value looked at (the proposal and each grid value, each with its own draws)."""

    constants: tuple[Constant, ...]
    specs: Mapping[tuple[str, str], Spec]
    null: Spec = Spec("zero")
    note: str = ""

    def spec(self, constant: str, family: str) -> Spec:
        return self.specs.get((constant, family), self.null)

    def family_means(self, constant: Constant) -> dict[str, float]:
        if not constant.reachable:
            return {f: 0.0 for f in constant.reached_families}
        return {f: self.spec(constant.name, f).mean for f in constant.reached_families}

    def true_mean(self, constant: Constant) -> float:
        means = self.family_means(constant)
        return sum(means.values()) / len(means)

    def describe(self) -> str:
        if self.note:
            return self.note
        alts = sorted({f"{c}@{f}={s.text}" for (c, f), s in self.specs.items()})
        return f"null {self.null.text}" + (f"; {len(alts)} overrides" if alts else "")


def build_world(constants: Sequence[Constant], *, null: Spec,
                assignments: Sequence[tuple[str, str | None, Spec]] = (),
                mix: str | None = None, note: str = "") -> World:
    """Every family gets ``null``; ``mix`` then a named set; each assignment (constant,
    family or None for all its families, spec) last, in order."""
    specs: dict[tuple[str, str], Spec] = {}
    for c_index, constant in enumerate(constants):
        for f_index, family in enumerate(constant.reached_families):
            specs[(constant.name, family)] = null
            if mix == "skewed-nulls":
                pick = SKEWED_NULLS[(7 * c_index + f_index) % len(SKEWED_NULLS)]
                specs[(constant.name, family)] = parse_spec(pick)
    by_name = {c.name: c for c in constants}
    for name, family, spec in assignments:
        for f in ([family] if family else by_name[name].reached_families):
            specs[(name, f)] = spec
    return World(tuple(constants), specs, null, note)


def parse_assignment(text: str, constants: Sequence[Constant]) -> tuple[str, str | None, Spec]:
    """``CONSTANT=SPEC`` (every family it reaches) or ``CONSTANT@family=SPEC``."""
    target, sep, spec_text = text.partition("=")
    if not sep:
        raise SpecError(f"--alt {text!r}: use CONSTANT=SPEC or CONSTANT@family=SPEC")
    name, _, family = target.strip().partition("@")
    by_name = {c.name: c for c in constants}
    if name not in by_name:
        close = [c for c in by_name if c.lower() == name.lower()]
        hint = f" (did you mean {close[0]}?)" if close else " (see studies/popoto.toml)"
        raise SpecError(f"--alt {text!r}: unknown constant {name!r}{hint}")
    if family and family not in by_name[name].reached_families:
        raise SpecError(f"--alt {text!r}: {name} reaches "
                        f"{', '.join(by_name[name].reached_families)}, not {family!r}")
    return name, family or None, parse_spec(spec_text)


# ---------------------------------------------------------------- streams and comparisons

@dataclass(frozen=True)
class Pools:
    """Scenarios per family of each bank (the production defaults unless a test shrinks them)."""

    train: int
    screen: int
    confirm: int

    def capacity(self, bank: str) -> int:
        return getattr(self, bank)


class Streams:
    """The deltas of one run, drawn lazily, once per (bank, constant, value, family)."""

    def __init__(self, world: World, pools: Pools, *, seed: int, run: int) -> None:
        self.world, self.pools, self.seed, self.run = world, pools, seed, run
        self.index = {c.name: i for i, c in enumerate(world.constants)}
        self._cache: dict[tuple, np.ndarray] = {}

    def deltas(self, bank: str, constant: Constant, value: int, family: str) -> np.ndarray:
        key = (bank, constant.name, value, family)
        if key not in self._cache:
            n = self.pools.capacity(bank)
            if not constant.reachable:
                self._cache[key] = np.zeros(n)
            else:
                f_index = constant.reached_families.index(family)
                rng = np.random.default_rng([self.seed, self.run, BANKS[bank],
                                             self.index[constant.name], value, f_index])
                spec = self.world.spec(constant.name, family)
                self._cache[key] = spec.draw(rng, n)
        return self._cache[key]


_LABELS: dict[str, list[str]] = {}


def labels(family: str, n: int) -> list[str]:
    have = _LABELS.setdefault(family, [])
    if len(have) < n:
        have.extend(f"{family}:{i}" for i in range(len(have), n))
    return have[:n]


def compare_arrays(deltas: Mapping[str, np.ndarray]) -> PairedComparison:
    """A PairedComparison of per-family delta arrays, built by the engine's own constructor
    (``comparison.compare_deltas``: family -> label -> delta, in pool order)."""
    return compare_deltas({f: dict(zip(labels(f, len(d)), d.tolist(), strict=True))
                           for f, d in deltas.items()})


@dataclass
class ValueSource:
    """The ``compare`` of one (constant, value) on one bank, for ``SequentialComparison``."""

    streams: Streams
    constant: Constant
    value: int
    bank: str
    looks: list[int] = field(default_factory=list)

    def prefix(self, family: str, n: int) -> range:
        return range(min(n, self.streams.pools.capacity(self.bank)))

    def __call__(self, seeds: Mapping[str, Sequence], level: float | None) -> PairedComparison:
        deltas = {f: self.streams.deltas(self.bank, self.constant, self.value, f)[:len(s)]
                  for f, s in seeds.items()}
        self.looks.append(sum(len(s) for s in seeds.values()))
        return compare_arrays(deltas)


class SyntheticScorer:
    """Stands in for ``FamilyScorer`` where a certificate scores the grid on the train pool."""

    def __init__(self, streams: Streams, constant: Constant, values: Sequence[float],
                 incumbent: float) -> None:
        self.streams, self.constant, self.incumbent = streams, constant, incumbent
        self.index = {v: i for i, v in enumerate(values)}

    def compare(self, value: float, reference: float) -> PairedComparison:
        assert reference == self.incumbent, "certificates compare against the incumbent"
        source = ValueSource(self.streams, self.constant, self.index[value], "train")
        capacity = self.streams.pools.train
        return source({f: range(capacity) for f in self.constant.reached_families}, 1.0)


def looked_at(constant: Constant) -> tuple[float, float, list[float]]:
    """(incumbent, proposal, every value: proposal first, then the certification grid)."""
    incumbent = float(constant.expected_default if constant.expected_default is not None
                      else constant.default())
    grid = [v for v in grid_values(constant) if v != incumbent]
    a, b = (grid[0], grid[1]) if len(grid) > 1 else (constant.search_low, constant.search_high)
    middle = math.sqrt(a * b) if constant.log else (a + b) / 2
    proposal = float(f"{(round(middle) if constant.is_int else middle):.4g}")
    if proposal in grid or proposal == incumbent:
        proposal = float(f"{(a * 0.75 + b * 0.25):.4g}")
    return incumbent, proposal, [proposal, *grid]
