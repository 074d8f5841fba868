"""The report of a sweep, as data: rows ranked against the baseline, cliffs, curves, notes.

Kept apart from running the sweep (``tuner.sweeps.run``) because a report is a pure function of the
plan and the trials that speak for its points: it can be rebuilt from storage without
evaluating anything, tested on hand-made trials, and rendered by ``tuner.sweeps.view`` or
dumped as ``--json`` (``SweepReport.to_dict``) without either side knowing how it was run.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
from optuna.trial import FrozenTrial, TrialState

from tuner.sweeps.plan import GridPoint, Number, SweepPlan, point_key

CLIFF_DROP = 0.15


@dataclass(frozen=True)
class RunInfo:
    """Where and on what a sweep ran; the report's provenance."""

    study_name: str
    storage: str
    seed: int | None
    batch: int | None
    bank: str
    scenarios: list[str]
    evaluated: set[tuple]
    seconds: float
    notes: list[str] = field(default_factory=list)  # e.g. points scored again after an edit


@dataclass
class SweepRow:
    """One grid point as reported; ``mean`` is None when the point failed."""

    values: dict[str, Number]
    baseline: bool
    added: bool
    status: str  # "complete" or "failed"
    mean: float | None
    delta: float | None
    std: float | None
    n_errors: int
    error: str | None
    trial: int | None
    resumed: bool
    ndcg: dict[str, float]
    rank: int = 0
    best: bool = False


@dataclass
class Cliff:
    """Adjacent points along one constant whose means differ by >= CLIFF_DROP, or one fails."""

    constant: str
    at: dict[str, Number]  # the other constants' values (empty for one-constant sweeps)
    from_value: Number
    to_value: Number
    from_mean: float | None
    to_mean: float | None
    change: float | None
    kind: str  # "drop", "rise" or "fails"
    error: str | None = None


@dataclass
class Curve:
    """One sparkline's data: means along the grid, in order (None where a point failed)."""

    label: str
    axis: list[str]
    values: list[list[Number]]
    means: list[float | None]


@dataclass
class SweepReport:
    """Everything a sweep says, as data; ``to_dict`` is the ``--json`` output."""

    study_name: str
    storage: str
    family: str
    constants: list[str]
    defaults: dict[str, Number]
    bank: str
    seed: int | None
    batch: int | None
    scenarios: list[str]
    rows: list[SweepRow]
    baseline_mean: float | None
    best: int | None  # index into rows
    cliffs: list[Cliff]
    curves: list[Curve]
    evaluated: int
    resumed: int
    failed: int
    seconds: float
    stats: dict[str, list[dict]] | None = None
    notes: list[str] = field(default_factory=list)
    cliff_drop: float = CLIFF_DROP

    @property
    def best_row(self) -> SweepRow | None:
        return self.rows[self.best] if self.best is not None else None

    def to_dict(self) -> dict:
        return asdict(self)


def build_report(
    plan: SweepPlan, trials: Mapping[tuple, FrozenTrial], run: RunInfo, *, stats: bool = False
) -> SweepReport:
    """Rows in grid order, ranked (failed last), with deltas, cliffs, curves and notes."""
    rows = [_row(plan, p, trials.get(point_key(p.values)), run) for p in plan.points]
    baseline = next(r for r in rows if r.baseline)
    for row in rows:
        if row.mean is not None and baseline.mean is not None:
            row.delta = row.mean - baseline.mean
    best = _rank(rows)
    return SweepReport(
        study_name=run.study_name, storage=run.storage, family=plan.family,
        constants=plan.names, defaults=dict(zip(plan.names, plan.defaults, strict=True)),
        bank=run.bank, seed=run.seed, batch=run.batch, scenarios=run.scenarios, rows=rows,
        baseline_mean=baseline.mean, best=best, cliffs=find_cliffs(plan.names, rows),
        curves=curves(plan.names, rows),
        evaluated=sum(not r.resumed for r in rows), resumed=sum(r.resumed for r in rows),
        failed=sum(r.status == "failed" for r in rows), seconds=round(run.seconds, 3),
        stats=value_stats(plan.names, rows) if stats else None,
        notes=run.notes + _notes(plan, rows),
    )


def _row(plan: SweepPlan, point: GridPoint, trial: FrozenTrial | None, run: RunInfo) -> SweepRow:
    key = point_key(point.values)
    complete = trial is not None and trial.state == TrialState.COMPLETE
    ndcg = dict(trial.user_attrs.get("ndcg", {})) if complete and trial else {}
    scores = list(ndcg.values())
    error = None
    if not complete:
        error = trial.user_attrs.get("error", "trial failed") if trial else "not evaluated"
    return SweepRow(
        values=plan.params(point), baseline=point.baseline, added=point.added,
        status="complete" if complete else "failed",
        mean=float(trial.value) if complete and trial else None, delta=None,
        std=float(np.std(scores, ddof=1)) if len(scores) > 1 else None,
        n_errors=int(trial.user_attrs.get("n_errors", 0)) if trial else 0, error=error,
        trial=trial.number if trial else None, resumed=key not in run.evaluated, ndcg=ndcg,
    )


def _rank(rows: list[SweepRow]) -> int | None:
    """Rank by mean (ties: grid order), failed points last; returns the best row's index."""
    order = sorted(range(len(rows)),
                   key=lambda i: (rows[i].mean is None, -(rows[i].mean or 0.0), i))
    for rank, i in enumerate(order, start=1):
        rows[i].rank = rank
    best = order[0] if order and rows[order[0]].mean is not None else None
    if best is not None:
        rows[best].best = True
    return best


def _groups(names: list[str], rows: list[SweepRow], axis: int) -> dict[tuple, list[SweepRow]]:
    """Rows sharing every other constant's value, ordered along constant ``axis``."""
    groups: dict[tuple, list[SweepRow]] = {}
    for row in rows:
        others = tuple(row.values[n] for j, n in enumerate(names) if j != axis)
        groups.setdefault(others, []).append(row)
    for members in groups.values():
        members.sort(key=lambda r: r.values[names[axis]])
    return groups


def find_cliffs(names: list[str], rows: list[SweepRow], drop: float = CLIFF_DROP) -> list[Cliff]:
    """Neighbours along any one constant whose means differ by >= ``drop``, or where one fails."""
    cliffs = []
    for axis, name in enumerate(names):
        for others, members in _groups(names, rows, axis).items():
            at = dict(zip([n for n in names if n != name], others, strict=True))
            for a, b in itertools.pairwise(members):
                cliff = _cliff(name, at, a, b, drop)
                if cliff:
                    cliffs.append(cliff)
    return cliffs


def _cliff(name: str, at: dict, a: SweepRow, b: SweepRow, drop: float) -> Cliff | None:
    if a.mean is None and b.mean is None:
        return None
    base = {"constant": name, "at": at, "from_value": a.values[name],
            "to_value": b.values[name], "from_mean": a.mean, "to_mean": b.mean}
    if a.mean is None or b.mean is None:
        return Cliff(**base, change=None, kind="fails", error=a.error or b.error)
    change = b.mean - a.mean
    if abs(change) < drop:
        return None
    return Cliff(**base, change=change, kind="drop" if change < 0 else "rise")


def curves(names: list[str], rows: list[SweepRow]) -> list[Curve]:
    """One curve for a one-constant sweep; for products, one per value of the first constant."""
    if len(names) == 1:
        return [Curve(label=names[0], axis=names, values=[[r.values[names[0]]] for r in rows],
                      means=[r.mean for r in rows])]
    rest = names[1:]
    by_first: dict[Number, list[SweepRow]] = {}
    for row in rows:
        if not row.added:
            by_first.setdefault(row.values[names[0]], []).append(row)
    return [Curve(label=f"{names[0]}={value:.10g}", axis=rest,
                  values=[[r.values[n] for n in rest] for r in members],
                  means=[r.mean for r in members])
            for value, members in by_first.items()]


def value_stats(names: list[str], rows: list[SweepRow]) -> dict[str, list[dict]]:
    """Per value of each constant: mean/std/median/min/max of nDCG@5 over scenarios (pandas).

    For a one-constant sweep that is per point; for products it pools the other constants
    (without an added off-grid baseline, which would tilt one value's pool). Failed points have
    no scores and are left out.
    """
    import pandas as pd

    pooled = [r for r in rows if r.status == "complete" and not (r.added and len(names) > 1)]
    records = [{**row.values, "ndcg": score} for row in pooled for score in row.ndcg.values()]
    if not records:
        return {name: [] for name in names}
    frame = pd.DataFrame.from_records(records)
    out: dict[str, list[dict]] = {}
    for name in names:
        table = frame.groupby(name)["ndcg"].agg(["mean", "std", "median", "min", "max", "count"])
        out[name] = [
            {"value": _plain(value), **{k: _finite(v) for k, v in stats.items() if k != "count"},
             "n": int(stats["count"])}
            for value, stats in table.iterrows()
        ]
    return out


def _plain(value: object) -> Number:
    return value.item() if hasattr(value, "item") else value  # type: ignore[return-value]


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _notes(plan: SweepPlan, rows: list[SweepRow]) -> list[str]:
    notes = [f"{c.name} is marked unreachable in the catalog ({c.reason}): expect a flat curve"
             for c in plan.constants if not c.reachable]
    done = [r for r in rows if r.status == "complete"]
    if len(done) > 1 and all(r.ndcg == done[0].ndcg for r in done):
        notes.append("every point scored the same on every scenario: no signal on these "
                     "scenarios")
    return notes
