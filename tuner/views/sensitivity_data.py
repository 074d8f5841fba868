"""``tuner report``'s read of grid studies: sensitivity verdicts and sweep curves, as plain data.

A storage may hold only ``tuner sweep`` or ``tuner sensitivity`` studies (they are cheap and
usually come first), so the report shows them with or without a tuning study. Sensitivity
studies are judged by ``tuner.sensitivity.run.read_result``, the very code the command prints with,
so the page and the terminal never disagree. Nothing here writes to the storage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import optuna
from optuna.study import StudySummary
from optuna.trial import FrozenTrial, TrialState

from tuner.sensitivity.run import KIND as SENSITIVITY_KIND
from tuner.sensitivity.run import ConstantSensitivity, read_result
from tuner.sensitivity.stats import fmt
from tuner.sweeps.view import sparkline

SWEEP_KIND = "sweep"


@dataclass
class SweepView:
    """One sweep study reduced to a table row: its best point, its default and its curve."""

    name: str
    constants: list[str]
    points: int
    failed: int
    best: str
    best_mean: float | None
    default_mean: float | None
    curve: str  # a sparkline over the points in grid order (× = failed)

    @property
    def delta(self) -> float | None:
        if self.best_mean is None or self.default_mean is None:
            return None
        return self.best_mean - self.default_mean


@dataclass
class GridStudies:
    """Every sensitivity and sweep study of one bank."""

    sensitivity: list[ConstantSensitivity] = field(default_factory=list)
    sweeps: list[SweepView] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.sensitivity or self.sweeps)


def is_grid_study(summary: StudySummary) -> bool:
    return summary.user_attrs.get("kind") in (SENSITIVITY_KIND, SWEEP_KIND)


def load_grid_studies(handle: optuna.storages.BaseStorage, summaries: Sequence[StudySummary],
                      bank_tag: str) -> GridStudies:
    """Sensitivity rows (most sensitive first) and sweep rows (by name) of ``bank_tag``."""
    mine = sorted((s for s in summaries if is_grid_study(s)
                   and s.user_attrs.get("bank") == bank_tag), key=lambda s: s.study_name)
    grids = GridStudies()
    for summary in mine:
        study = optuna.load_study(study_name=summary.study_name, storage=handle)
        if summary.user_attrs["kind"] == SWEEP_KIND:
            grids.sweeps.append(sweep_view(summary.study_name, summary.user_attrs,
                                           study.get_trials(deepcopy=False)))
        elif "facts" in summary.user_attrs:
            grids.sensitivity.append(read_result(study))
    grids.sensitivity = _largest_look(grids.sensitivity)
    grids.sensitivity.sort(key=_sensitivity_order)
    return grids


def _largest_look(rows: Sequence[ConstantSensitivity]) -> list[ConstantSensitivity]:
    """One row per constant and incumbent: the look with the most scenarios (the verdict
    ``tuner sensitivity`` ended on)."""
    best: dict[tuple, ConstantSensitivity] = {}
    for row in rows:
        key = (row.constant, row.study_name.split("-inc")[-1] if "-inc" in row.study_name
               else "")
        if key not in best or sum(row.scenarios.values()) > sum(best[key].scenarios.values()):
            best[key] = row
    return list(best.values())


def _sensitivity_order(row: ConstantSensitivity) -> tuple:
    order = {"sensitive": 0, "at the bar": 1, "borderline": 2, "incomplete": 3, "inert": 4}
    return (order.get(row.verdict.status, 4), -(row.verdict.spread or 0.0), row.constant)


def sweep_view(name: str, attrs: dict, trials: Sequence[FrozenTrial]) -> SweepView:
    """Best point, the default's mean and a sparkline, from a sweep's finished trials."""
    names = str(attrs.get("constant", "")).split("+")
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.FAIL)
                and all(n in t.params for n in names)]
    by_point: dict[tuple, FrozenTrial] = {}
    for trial in finished:
        key = tuple(float(trial.params[n]) for n in names)
        if key not in by_point or by_point[key].state != TrialState.COMPLETE:
            by_point[key] = trial
    ordered = [by_point[k] for k in sorted(by_point)]
    means = [float(t.value) if t.state == TrialState.COMPLETE else None for t in ordered]
    scored = [(m, t) for m, t in zip(means, ordered, strict=True) if m is not None]
    best = max(scored, key=lambda pair: pair[0]) if scored else None
    default = next((m for m, t in scored if t.user_attrs.get("baseline")), None)
    return SweepView(
        name=name, constants=names, points=len(ordered),
        failed=sum(m is None for m in means),
        best=", ".join(f"{n}={fmt(best[1].params[n])}" for n in names) if best else "-",
        best_mean=best[0] if best else None, default_mean=default, curve=sparkline(means),
    )
