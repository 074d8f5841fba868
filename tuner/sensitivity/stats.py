"""How much a constant moves the score across a grid, with a CI and a status: pure numbers.

Input is what a sensitivity study stores per grid point (per-scenario scores in every family
the constant reaches, or a failure); nothing here runs popoto or reads Optuna, so the CLI and
``tuner report`` judge a constant by exactly the same code.

The curve is the equal-weight mean over families of each family's mean score; the spread is its
max − min over the grid. Every point saw the same scenarios, so the spread's CI comes from a
*paired* stratified bootstrap: one resample of scenarios per family is applied to every grid
point at once, and max − min is recomputed. A max − min is biased upwards by noise, so the CI
(not the spread alone) decides: ``sensitive`` when it lies above popoto's bar of 0.05, ``inert
(below the bar)`` when it lies below, ``at the bar`` when it straddles the bar but lies
within ``RESOLUTION`` of it on both sides (the spread *is* about 0.05: no feasible pool would
put it on one side, and the difference is below what the tuner resolves anywhere else), and
``borderline`` only while it straddles the bar more widely — the data cannot yet tell, and
``tuner sensitivity`` adds scenarios until they can.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from tuner.decisions.stats import STATS_SEED

SENSITIVE = 0.05  # popoto's own bar (popoto issue #362)
TINY = 0.005  # popoto's ratchet calls less than this "no_sensitivity"
# Half-width of the "at the bar" band: the effect every decision of the tuner is sized to
# resolve (docs/statistics.md: +0.02 at the noisiest measured SD), fixed with that design.
RESOLUTION = 0.02
CHANGE_TOLERANCE = 1e-9
BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95

Number = float | int


@dataclass(frozen=True)
class Facts:
    """What the verdict needs to know about a constant; stored on its study for the report."""

    constant: str
    tier: int
    families: tuple[str, ...]
    default: Number
    search_low: float
    search_high: float
    reachable: bool
    reason: str = ""

    def inside(self, value: Number) -> bool:
        """Inside the catalog's search range (range ∩ meaning ∩ popoto's hard limits)."""
        slack = CHANGE_TOLERANCE * max(1.0, abs(self.search_high))
        return self.search_low - slack <= float(value) <= self.search_high + slack

    def to_attrs(self) -> dict:
        return {**asdict(self), "families": list(self.families)}

    @classmethod
    def from_attrs(cls, attrs: Mapping) -> Facts:
        return cls(constant=str(attrs["constant"]), tier=int(attrs["tier"]),
                   families=tuple(attrs["families"]), default=attrs["default"],
                   search_low=float(attrs["search_low"]),
                   search_high=float(attrs["search_high"]),
                   reachable=bool(attrs["reachable"]), reason=str(attrs.get("reason", "")))


@dataclass(frozen=True)
class PointScores:
    """One grid point as stored: per-scenario scores, or a failure (every scenario scores 0)."""

    value: Number
    scores: dict[str, float] | None  # label -> score; None when the point failed
    error: str | None = None
    resumed: bool = False


@dataclass
class PointResult:
    """One grid point as reported; ``status`` is complete, failed or missing (not evaluated)."""

    value: Number
    status: str
    mean: float | None
    family_means: dict[str, float]
    inside: bool
    baseline: bool
    error: str | None = None
    resumed: bool = False


@dataclass
class Verdict:
    """A constant's spread over the grid, its CI, its status and our best value."""

    spread: float | None
    ci_low: float | None
    ci_high: float | None
    spread_in_range: float | None
    status: str  # sensitive, at the bar, borderline, inert, or incomplete (< 2 points scored)
    why: str  # for inert: collapsed, dead alias, effect outside the range, tiny
    best: str
    best_values: list[Number]
    points: list[PointResult]
    outside: list[Number]
    notes: list[str] = field(default_factory=list)
    in_range: str | None = None  # the status judged on in-range points alone, when it differs

    @property
    def label(self) -> str:
        text = f"{self.status} ({self.why})" if self.why else self.status
        return f"{text}; in range: {self.in_range}" if self.in_range else text


def judge(facts: Facts, grid: Sequence[Number], stored: Mapping[float, PointScores],
          labels: Mapping[str, Sequence[str]], *, seed: int = STATS_SEED,
          confidence: float = CONFIDENCE) -> Verdict:
    """The verdict of one constant from its stored points (keyed by ``float(value)``)."""
    evaluated = [v for v in grid if float(v) in stored]
    matrices = score_matrices([stored[float(v)] for v in evaluated], labels)
    points = [_point(facts, v, stored.get(float(v)), matrices, evaluated) for v in grid]
    outside = [v for v in grid if not facts.inside(v)]
    if len(evaluated) < 2:
        return Verdict(None, None, None, None, "incomplete", "", "—", [], points, outside,
                       ["fewer than two grid points scored: run the command again"])
    inside = np.array([facts.inside(v) for v in evaluated])
    curve = _curve(matrices)
    spread = float(np.ptp(curve))
    spread_in = float(np.ptp(curve[inside])) if inside.sum() >= 2 else 0.0
    collapsed = _collapsed(matrices)
    low, high = (0.0, 0.0) if collapsed else spread_ci(matrices, seed=seed,
                                                        confidence=confidence)
    status, why = classify(facts, spread, low, spread_in, collapsed, high)
    best_values = [] if collapsed else _best(evaluated, curve)
    return Verdict(spread=spread, ci_low=low, ci_high=high, spread_in_range=spread_in,
                   status=status, why=why, best=best_text(best_values, evaluated, facts),
                   best_values=best_values, points=points, outside=outside,
                   notes=_notes(facts, collapsed, points),
                   in_range=in_range_label(facts, matrices, inside, status, seed=seed,
                                           confidence=confidence))


def _collapsed(matrices: Mapping[str, np.ndarray]) -> bool:
    """No scenario's score changed between any two points."""
    return all(float(np.max(np.ptp(m, axis=0), initial=0.0)) < CHANGE_TOLERANCE
               for m in matrices.values() if m.shape[0])


def in_range_label(facts: Facts, matrices: Mapping[str, np.ndarray], inside: np.ndarray,
                   status: str, *, seed: int, confidence: float = CONFIDENCE) -> str | None:
    """The status of the in-range points alone, when out-of-range points change the verdict.

    popoto's grids reach values where a constant loses its meaning (a weaken factor above 1);
    the whole-grid spread stays comparable with popoto's figure, and this says what is left
    of it inside the range the tuner searches.
    """
    if inside.all() or inside.sum() < 2 or status == "inert":
        return None
    subset = {f: m[inside] for f, m in matrices.items()}
    collapsed = _collapsed(subset)
    spread = float(np.ptp(_curve(subset)))
    low, high = (0.0, 0.0) if collapsed else spread_ci(subset, seed=seed,
                                                        confidence=confidence)
    label = "{} ({})".format(*classify(facts, spread, low, spread, collapsed, high))
    label = label.replace(" ()", "")
    return None if label == status else label


def score_matrices(points: Sequence[PointScores],
                   labels: Mapping[str, Sequence[str]]) -> dict[str, np.ndarray]:
    """Per family, a (points × scenarios) array; a failed point is 0 on every scenario."""
    out = {}
    for family, names in labels.items():
        rows = [[(p.scores or {}).get(label, 0.0) for label in names] for p in points]
        out[family] = np.array(rows, dtype=float).reshape(len(points), len(names))
    return out


def _curve(matrices: Mapping[str, np.ndarray]) -> np.ndarray:
    """Equal-weight mean over families of each family's mean score, per point."""
    used = [m for m in matrices.values() if m.shape[1]]
    return np.mean([m.mean(axis=1) for m in used], axis=0)


def spread_ci(matrices: Mapping[str, np.ndarray], *, seed: int = STATS_SEED,
              resamples: int = BOOTSTRAP_RESAMPLES,
              confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile CI of max − min of the curve: scenarios resampled within each family, the
    same resample for every grid point (the points are paired by scenario)."""
    rng = np.random.default_rng(seed)
    used = [m for m in matrices.values() if m.shape[1]]
    total = np.zeros((used[0].shape[0], resamples))
    for matrix in used:
        picks = rng.integers(0, matrix.shape[1], size=(resamples, matrix.shape[1]))
        total += matrix[:, picks].mean(axis=2) / len(used)
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(np.ptp(total, axis=0), [tail, 1.0 - tail])
    return float(low), float(high)


def classify(facts: Facts, spread: float, ci_low: float, spread_in: float,
             collapsed: bool, ci_high: float | None = None) -> tuple[str, str]:
    """Status and, for inert constants, why; checked in this order.

    The CI decides against popoto's bar: above it ``sensitive``, below it ``inert (below the
    bar)``, inside the bar ± ``RESOLUTION`` ``at the bar``; ``borderline`` means only that the
    CI still straddles the bar more widely than that.
    """
    if collapsed:
        return "inert", "collapsed" if facts.reachable else "dead alias"
    if spread_in <= TINY < spread:
        return "inert", "effect outside the range"
    if spread > SENSITIVE and ci_low > SENSITIVE:
        return "sensitive", ""
    if spread <= TINY:
        return "inert", "tiny"
    if ci_high is not None and ci_high < SENSITIVE:
        return "inert", "below the bar"
    if ci_high is not None and ci_low >= SENSITIVE - RESOLUTION and \
            ci_high <= SENSITIVE + RESOLUTION:
        return "at the bar", ""
    return "borderline", ""


def _point(facts: Facts, value: Number, stored: PointScores | None,
           matrices: Mapping[str, np.ndarray], evaluated: Sequence[Number]) -> PointResult:
    common = {"value": value, "inside": facts.inside(value),
              "baseline": float(value) == float(facts.default)}
    if stored is None:
        return PointResult(status="missing", mean=None, family_means={}, **common)
    row = list(evaluated).index(value)
    family_means = {f: float(m[row].mean()) for f, m in matrices.items() if m.shape[1]}
    mean = float(np.mean(list(family_means.values()))) if family_means else 0.0
    return PointResult(status="complete" if stored.scores is not None else "failed",
                       mean=mean, family_means=family_means, error=stored.error,
                       resumed=stored.resumed, **common)


def _best(values: Sequence[Number], curve: np.ndarray) -> list[Number]:
    top = float(curve.max())
    return [v for v, m in zip(values, curve, strict=True) if top - m < CHANGE_TOLERANCE]


def best_text(best: Sequence[Number], grid: Sequence[Number], facts: Facts) -> str:
    """Like popoto's column: one value, a plateau of neighbours, or '—' when nothing moved."""
    if not best or len(best) == len(grid):
        return "—"
    positions = [list(grid).index(v) for v in best]
    if len(best) == 1:
        text = fmt(best[0])
    elif positions == list(range(positions[0], positions[-1] + 1)):
        text = f"plateau {fmt(best[0])}–{fmt(best[-1])}"
    else:
        text = " / ".join(fmt(v) for v in best)
    if any(float(v) == float(facts.default) for v in best):
        text += " (= default)"
    if not any(facts.inside(v) for v in best):
        text += " (outside the range)"
    return text


def fmt(value: Number | None) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.10g}"


def _notes(facts: Facts, collapsed: bool, points: Sequence[PointResult]) -> list[str]:
    notes = []
    if not facts.reachable and not collapsed:
        notes.append(f"the catalog marks {facts.constant} unreachable ({facts.reason}), "
                     "yet some scenario's score moved")
    failed = [p for p in points if p.status == "failed"]
    if failed:
        notes.append("scored 0 on every scenario (popoto rejects the value): "
                     + ", ".join(f"{fmt(p.value)} ({p.error})" for p in failed))
    return notes
