"""Robustness of an accepted value: does it hold in worlds other than ours?

Every score is relative to the worlds of ``scenarios/families/``, whose shape constants are our
own choices. Each family declares them as world knobs (``scenarios/knobs.py``) with a default
(today's world) and a plausible range. After the confirmation, an accepted value is re-scored
against its incumbent on world variants of the families it reaches, paired on the same scenarios
(``seed.with_knobs(variant)``: same label, same seed, another world), on a bank no decision saw
(``ROBUSTNESS_BASE_SEED``).

**Design** (``design``): per reached family, its default world (the reference the crossings are
interpolated from); each knob alone at the low end, the centre and the high end of its range,
the others at their defaults; and ``samples`` points of a seeded Latin hypercube over every knob
of every reached family together.

**Verdict**: *robust* when in every variant the lower confidence bound of the gain is above
``-harm_margin`` (the decisions' no-harm rule, per family); else *conditional*, naming each
failing knob, the value beyond which the accepted value loses (the gain's estimate interpolated
between the default and the failing end, where it crosses 0) and the estimate there. By the
intersection-union argument no correction over variants is needed: "robust" claims every
variant, and a variant that truly loses beyond the margin passes with probability <= ``level``.
A move toward the permissive end of a guard constant whose guard test is not significant in its
world is never robust unless the knob that sets the guarded items' prevalence was swept (catalog
keys ``guard_permissive``, ``guard_significant``, ``guard_prevalence``).

**Sizing** (``variant_size``), by the decisions' power reasoning: the smallest n per variant at
which a family with no true loss (mean gain 0) passes the no-harm bound with probability
``ROBUSTNESS_POWER`` at the noisiest measured per-scenario SD (``NOISIEST_SD`` = 0.19). With a
normal bound the arithmetic is

    pass  <=>  mean - c * z_level * sd / sqrt(n) > -margin,   mean ~ N(0, sd**2 / n)
    P(pass) = Phi(margin * sqrt(n) / sd - c * z_level) >= power
    n >= ((c * z_level + z_power) * sd / margin) ** 2
       = ((1.645 + 0.842) * 0.19 / 0.02) ** 2 = 558   (level 0.05, power 0.8, c = 1)

where c >= 1 is how much wider the bound in force is than a normal one (the anytime-valid
betting bound pays for looking at every prefix). ``variant_size`` finds that n by a seeded
simulation of the bound in force rather than assuming c. Variants are walked in looks (50, 62,
78, ... n, each 1.25 times the last): a variant stops when its bound clears ``-harm_margin``
(holds) or its upper bound falls below it (loses), so a value with a real gain pays for a
handful of looks, not for n.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from scipy.stats import norm

from scenarios.knobs import Knob, family_knobs
from tuner.catalog import Constant
from tuner.catalog.profile import active_profile
from tuner.decisions.ledger import LedgerRecord
from tuner.decisions.robustness_report import note_robustness, robustness_text
from tuner.defaults import DEFAULT_HARM_MARGIN, ROBUSTNESS_BASE_SEED
from tuner.evaluation.engine import BankSpec, evaluate_many, scenario_runs
from tuner.evaluation.outside import outside_lines

try:  # the lead's anytime-valid bound (Waudby-Smith & Ramdas betting)
    from tuner.decisions.betting import lower_bound as _betting_lower_bound
    from tuner.decisions.betting import p_value as _betting_p_value
except ImportError:  # FALLBACK should betting.py be missing: Hoeffding, below
    _betting_lower_bound = _betting_p_value = None

ROBUSTNESS_LEVEL = 0.05  # one-sided, per variant (intersection-union: no correction needed)
ROBUSTNESS_POWER = 0.8
NOISIEST_SD = 0.19  # the noisiest per-scenario delta SD measured (docs/statistics.md)
FIRST_LOOK = 50
LOOK_GROWTH = 1.25  # looks at 50, 62, 78, 98, 122, 153, 191, 238, ..., then n: a variant stops
# within 25% of where its bound decides (1.5 overshot by up to half: 9% more runs in the full
# ratchet, docs/results.md)
MAX_VARIANT_SIZE = 3200  # a safety cap for a bound that would ask more (the Hoeffding fallback)
LHS_SAMPLES = 4
DESIGN_SEED = 20270707
SIZING_SEED = 20270708
SIZING_REPS = 400

Progress = Callable[[str], None]
SeedsOf = Callable[[str, int], list]


def bound_name() -> str:
    return "betting (anytime-valid)" if _betting_lower_bound else "Hoeffding (fallback)"


def gain_lower_bound(values: np.ndarray, *, level: float, looks: int = 1) -> float:
    """Lower confidence bound of the mean of per-scenario gains in [-1, 1].

    The betting bound is anytime-valid: looking at every prefix costs nothing. The Hoeffding
    FALLBACK is not, so it splits ``level`` over the ``looks`` a variant may take.
    """
    values = np.clip(np.asarray(values, dtype=float), -1.0, 1.0)
    if len(values) == 0:
        return -1.0
    if _betting_lower_bound is not None:
        return float(_betting_lower_bound(values, level=level))
    # FALLBACK (Hoeffding, range 2): mean - sqrt(2 ln(1/level') / n)
    return float(values.mean() - math.sqrt(2.0 * math.log(looks / level) / len(values)))


def passes(values: np.ndarray, *, margin: float, level: float, looks: int = 1) -> bool:
    """Is the gain's lower bound above ``-margin``? (For the betting bound: is "mean <= -margin"
    rejected at ``level``, the same question without bisecting for the bound itself.)"""
    if _betting_p_value is not None:
        values = np.clip(np.asarray(values, dtype=float), -1.0, 1.0)
        return len(values) > 0 and _betting_p_value(values, -margin, design_level=level) < level
    return gain_lower_bound(values, level=level, looks=looks) > -margin


def look_schedule(n: int, first: int = FIRST_LOOK) -> list[int]:
    """first, then each look LOOK_GROWTH times the last, ending at n: the bound is anytime-valid,
    so finer looks cost nothing and stop a deciding variant sooner."""
    sizes, size = [], float(first)
    while round(size) < n:
        sizes.append(round(size))
        size *= LOOK_GROWTH
    return [*sizes, n]


@functools.cache
def variant_size(*, sd: float = NOISIEST_SD, margin: float = DEFAULT_HARM_MARGIN,
                 level: float = ROBUSTNESS_LEVEL, power: float = ROBUSTNESS_POWER,
                 reps: int = SIZING_REPS, seed: int = SIZING_SEED,
                 cap: int = MAX_VARIANT_SIZE) -> int:
    """The smallest n at which a variant with no true loss passes the no-harm bound with
    ``power`` (seeded simulation of the bound in force; module docstring has the arithmetic).

    Gains are drawn N(0, sd) clipped to [-1, 1]; the search starts from the normal-bound n and
    walks in steps of 5% until the simulated pass rate reaches ``power``.
    """
    rng = np.random.default_rng(seed)
    draws = np.clip(rng.normal(0.0, sd, size=(reps, cap)), -1.0, 1.0)
    z = float(norm.isf(level)) + float(norm.isf(1.0 - power))
    n = max(FIRST_LOOK, math.ceil((z * sd / margin) ** 2))
    while n < cap:
        looks = len(look_schedule(n))
        passed = np.mean([passes(row[:n], margin=margin, level=level, looks=looks)
                          for row in draws])
        if passed >= power:
            return n
        n = math.ceil(n * 1.05)
    return cap


@dataclass(frozen=True)
class Variant:
    """One world: ``values`` are the knobs it sets (the others stay at their defaults)."""

    family: str
    kind: str  # "default", "low", "centre", "high" (one knob alone) or "sample" (all together)
    knob: str | None
    values: tuple[tuple[str, float], ...] = ()


def _level(knob: Knob, u: float) -> float:
    value = round(knob.low + u * (knob.high - knob.low), 12)  # 0.65, not 0.6499999999999999
    return float(round(value)) if knob.integer else float(value)


def design(families: Sequence[str], *, samples: int = LHS_SAMPLES,
           seed: int = DESIGN_SEED) -> list[Variant]:
    """Default world, each knob alone at low / centre / high, and a Latin hypercube of all."""
    out: list[Variant] = []
    for family in families:
        out.append(Variant(family, "default", None))
        for knob in family_knobs(family):
            for kind, u in (("low", 0.0), ("centre", 0.5), ("high", 1.0)):
                value = _level(knob, u)
                if value != float(knob.default):
                    out.append(Variant(family, kind, knob.name, ((knob.name, value),)))
    knobs = [k for f in families for k in family_knobs(f)]
    if samples and knobs:
        rng = np.random.default_rng([seed, samples, len(knobs)])
        strata = np.stack([(rng.permutation(samples) + rng.random(samples)) / samples
                           for _ in knobs])  # knobs x samples, one point per stratum each
        for j in range(samples):
            for family in families:
                values = tuple(sorted((k.name, _level(k, strata[i, j]))
                                      for i, k in enumerate(knobs) if k.family == family))
                if values:
                    out.append(Variant(family, "sample", None, values))
    return out


@dataclass(frozen=True)
class VariantRow:
    """One family in one world: its paired gains' mean, a 95% display CI and the bounds."""

    family: str
    kind: str
    knob: str | None
    knobs: dict[str, float]  # every declared knob of the family, as this world sets it
    n: int
    mean: float
    ci_low: float
    ci_high: float
    lower_bound: float
    upper_bound: float
    holds: bool


@dataclass
class Robustness:
    """An accepted value's verdict over world variants, with every row behind it."""

    constant: str
    value: float
    incumbent: float
    verdict: str  # "robust" or "conditional"
    conditions: list[dict] = field(default_factory=list)
    rows: list[VariantRow] = field(default_factory=list)
    runs: int = 0
    seconds: float = 0.0
    level: float = ROBUSTNESS_LEVEL
    harm_margin: float = DEFAULT_HARM_MARGIN
    max_n: int = 0
    base_seed: int = ROBUSTNESS_BASE_SEED
    design_seed: int = DESIGN_SEED
    bound: str = ""
    outside: list[dict] = field(default_factory=list)  # LoCoMo (worlds nobody here wrote)

    def to_dict(self) -> dict:
        return asdict(self)


def _row(variant: Variant, gains: np.ndarray, seed: object, *, level: float, margin: float,
         looks: int) -> VariantRow:
    n = len(gains)
    mean = float(gains.mean()) if n else 0.0
    half = 1.96 * float(gains.std(ddof=1)) / math.sqrt(n) if n > 1 else 1.0
    low = gain_lower_bound(gains, level=level, looks=looks)
    high = -gain_lower_bound(-gains, level=level, looks=looks)
    knobs = {k.name: k.read(seed) for k in family_knobs(variant.family)}  # profile included
    return VariantRow(variant.family, variant.kind, variant.knob, knobs, n, mean, mean - half,
                      mean + half, low, high, low > -margin)


def run_variants(variants: Sequence[Variant], candidate: Mapping[Constant, float],
                 reference: Mapping[Constant, float], *, max_n: int, base_seed: int,
                 level: float, margin: float, first: int = FIRST_LOOK,
                 seeds_of: SeedsOf | None = None,
                 progress: Progress | None = None) -> list[VariantRow]:
    """Walk every variant in looks, all open variants of a look scored together (so the worker
    pool sees one batch); a variant stops once its bounds decide it either way. Scenarios are
    the first n of the robustness bank per family (``seeds_of`` overrides, for tests)."""
    seeds_of = seeds_of or BankSpec(size=max_n, base_seed=base_seed).prefix
    sizes = look_schedule(max_n, first)
    rows: dict[int, VariantRow] = {}
    open_ = list(range(len(variants)))
    for size in sizes:
        if not open_:
            break
        if progress:
            progress(f"robustness: {len(open_)} world variants at {size} scenarios each")
        seeds = {i: [s.with_knobs(dict(variants[i].values))
                     for s in seeds_of(variants[i].family, size)] for i in open_}
        flat = [s for i in open_ for s in seeds[i]]
        cand, ref = (e.results for e in evaluate_many([(candidate, flat), (reference, flat)]))
        start = 0
        for i in open_:
            stop = start + len(seeds[i])
            gains = np.array([c.score - r.score for c, r in zip(cand[start:stop],
                                                                 ref[start:stop], strict=True)])
            rows[i] = _row(variants[i], gains, seeds[i][0], level=level, margin=margin,
                           looks=len(sizes))
            start = stop
        open_ = [i for i in open_ if not (rows[i].holds or rows[i].upper_bound < -margin)]
    return [rows[i] for i in sorted(rows)]


def crossing(points: Sequence[tuple[float, float]]) -> float:
    """Where the gain's estimate first crosses 0 walking out from the default (the first
    point), linear between neighbours; the last point when it never goes negative."""
    for (x0, g0), (x1, g1) in zip(points, points[1:], strict=False):
        if g0 >= 0 > g1:
            return x0 + (x1 - x0) * g0 / (g0 - g1)
        if g0 < 0:
            return x0
    return points[-1][0]


def conditions_of(rows: Sequence[VariantRow]) -> list[dict]:
    """Each failing knob (per side of its default) with its crossing; failing joint samples."""
    out = []
    for row in rows:
        if row.kind == "default" and not row.holds:  # not even today's world, on fresh seeds
            out.append({"family": row.family, "knob": None, "crossing": None,
                        "estimate": row.mean, "lower_bound": row.lower_bound,
                        "knobs": row.knobs, "why": "today's world"})
        if row.holds or row.kind not in ("low", "high", "sample"):
            continue
        if row.kind == "sample":
            out.append({"family": row.family, "knob": None, "crossing": None,
                        "estimate": row.mean, "lower_bound": row.lower_bound,
                        "knobs": row.knobs, "why": "all knobs together"})
            continue
        default = next((r for r in rows if r.family == row.family and r.kind == "default"),
                       None)
        x0, x_end = _default_of(row, default), row.knobs[row.knob]
        side = [r for r in rows if r.family == row.family and r.knob == row.knob
                and (r.knobs[row.knob] - x_end) * (r.knobs[row.knob] - x0) <= 0]
        side.sort(key=lambda r: abs(r.knobs[row.knob] - x0))
        points = [(x0, default.mean if default else 0.0)]
        points += [(r.knobs[row.knob], r.mean) for r in side]
        out.append({"family": row.family, "knob": row.knob, "crossing": crossing(points),
                    "estimate": row.mean, "lower_bound": row.lower_bound, "end": x_end,
                    "default": x0, "side": row.kind,
                    "why": "loses" if row.mean < 0 else "not shown to hold"})
    centres = [r for r in rows if r.kind == "centre" and not r.holds
               and not any(c["knob"] == r.knob and c["family"] == r.family for c in out)]
    for row in centres:  # a failing centre whose end holds: still a condition, at the centre
        out.append({"family": row.family, "knob": row.knob, "crossing": row.knobs[row.knob],
                    "estimate": row.mean, "lower_bound": row.lower_bound,
                    "end": row.knobs[row.knob], "default": _default_of(row, None),
                    "side": "centre", "why": "loses" if row.mean < 0 else "not shown to hold"})
    return out


def _default_of(row: VariantRow, default: VariantRow | None) -> float:
    """The knob's value in the reference world (the profile's, else the declared default)."""
    if default is not None:
        return default.knobs[row.knob]  # type: ignore[index]
    knob = next(k for k in family_knobs(row.family) if k.name == row.knob)
    return float(knob.default)


def guard_condition(constant: Constant, value: float, incumbent: float,
                    swept: set[tuple[str, str]]) -> dict | None:
    """A move toward the permissive end of a guard its world cannot yet judge significantly
    is never robust unless the knob setting the guarded items' prevalence was swept."""
    permissive = getattr(constant, "guard_permissive", None)
    if permissive not in ("low", "high") or getattr(constant, "guard_significant", True):
        return None
    if (value - incumbent) * (1 if permissive == "high" else -1) <= 0:
        return None
    knob = getattr(constant, "guard_prevalence", None)
    if knob and (constant.family, knob) in swept:
        return None
    return {"family": constant.family, "knob": knob, "crossing": None, "estimate": None,
            "why": f"moves toward the permissive end of a guard whose guard test is not "
                   f"significant in its world, and {knob or 'no prevalence knob'} was not swept"}


def assess(constant: Constant, value: float, incumbent: Mapping[Constant, float], *,
           harm_margin: float = DEFAULT_HARM_MARGIN, level: float = ROBUSTNESS_LEVEL,
           max_n: int | None = None, samples: int = LHS_SAMPLES,
           design_seed: int = DESIGN_SEED, base_seed: int = ROBUSTNESS_BASE_SEED,
           variants: Sequence[Variant] | None = None, first: int = FIRST_LOOK,
           seeds_of: SeedsOf | None = None, progress: Progress | None = None) -> Robustness:
    """Re-score ``constant = value`` against the incumbent on world variants; the verdict."""
    started, runs = time.perf_counter(), scenario_runs()
    reference = dict(incumbent)
    default = reference.get(constant, constant.default())
    candidate = {**reference, constant: value}
    families = list(active_profile().weighted(constant.reached_families))
    variants = list(variants) if variants is not None else design(
        families, samples=samples, seed=design_seed)
    n = max_n or variant_size(margin=harm_margin, level=level)
    rows = run_variants(variants, candidate, reference, max_n=n, base_seed=base_seed,
                        level=level, margin=harm_margin, first=min(first, n),
                        seeds_of=seeds_of, progress=progress)
    conditions = conditions_of(rows)
    swept = {(r.family, r.knob) for r in rows if r.knob is not None}
    guard = guard_condition(constant, value, default, swept)  # type: ignore[arg-type]
    if guard is not None:
        conditions.append(guard)
    outside = [line.to_dict() for line in outside_lines(constant, value, reference,
                                                        harm_margin=harm_margin)]
    conditions += [{"family": o["family"], "knob": None, "why": "loses on LoCoMo",
                    "estimate": o["estimate"]} for o in outside if o["verdict"] == "loses"]
    return Robustness(
        constant=constant.name, value=value, incumbent=default,
        verdict="conditional" if conditions else "robust", conditions=conditions, rows=rows,
        runs=scenario_runs() - runs, seconds=round(time.perf_counter() - started, 2),
        level=level, harm_margin=harm_margin, max_n=n, base_seed=base_seed,
        design_seed=design_seed, bound=bound_name(), outside=outside)


def with_robustness(record: LedgerRecord, constant: Constant,
                    incumbent: Mapping[Constant, float], *, harm_margin: float,
                    storage: str | None = None, progress: Progress | None = None
                    ) -> LedgerRecord:
    """The ledger record of an accepted value with its ``robustness`` (others unchanged); with
    ``storage``, the study's dashboard note gains the verdict too."""
    if not record.accepted or record.proposal is None:
        return record
    if progress:
        progress(f"{constant.name}: robustness over world variants")
    result = assess(constant, record.proposal, incumbent, harm_margin=harm_margin,
                    progress=progress)
    data = json.loads(json.dumps(result.to_dict()))
    if storage:
        note_robustness(storage, record.study_name, data)
    return replace(record, robustness=data)


__all__ = ["Robustness", "Variant", "VariantRow", "assess", "design", "robustness_text",
           "variant_size", "with_robustness"]
