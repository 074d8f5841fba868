"""Grid sweeps: score every point of a value grid on the same train scenarios, as a study.

A sweep answers "what does the curve look like?" rather than "where is the best value?", so
every point is evaluated on the *same* scenarios (the whole train pool, or one fixed sample)
and points are directly comparable. Each point is one Optuna trial, asked for with enqueued
fixed params (not ``GridSampler``, which slows quadratically on SQLite), so a sweep lives in
the same storage as ``optimize``, resumes point by point and opens in optuna-dashboard.

The report is computed as data first (``SweepReport``); ``tuner.sweep_view`` renders it.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from scenarios import ScenarioSeed
from tuner.catalog import Constant
from tuner.evaluation import BankSpec, evaluate_values, sample_seeds
from tuner.objective import record_evaluation
from tuner.study import (
    DEFAULT_SEED,
    DEFAULT_STORAGE,
    StudyConflictError,
    check_identity,
    ensure_sqlite_dir,
    fail_orphaned_trials,
)
from tuner.urls import mask_url

GRID_CAP = 10_000
CLIFF_DROP = 0.15
VALUES_SYNTAX = "use START..END[:STEP] or V1,V2,..."
_TOLERANCE = Decimal("1e-9")
_KEY_DIGITS = 12

Number = float | int
ProgressCallback = Callable[[int, int], None]


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
    defaults: tuple[Number, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.constants]

    @property
    def family(self) -> str:
        return self.constants[0].family

    def params(self, point: GridPoint) -> dict[str, Number]:
        return dict(zip(self.names, point.values, strict=True))

    def mapping(self, point: GridPoint) -> dict[Constant, Number]:
        return dict(zip(self.constants, point.values, strict=True))

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
    constants: Sequence[Constant], specs: Sequence[str], *, cap: int = GRID_CAP
) -> SweepPlan:
    """Check and build the grid; refuses bad input and over-cap grids before anything runs."""
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
    defaults = tuple(_as_number(c, c.default()) for c in constants)
    return SweepPlan(constants=tuple(constants), points=_with_baseline(columns, defaults),
                     defaults=defaults)


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


# --------------------------------------------------------------------------- the study


def sweep_study_name(plan: SweepPlan, bank: BankSpec) -> str:
    """Stable per constants and bank, so rerunning (even with a wider grid) resumes."""
    return f"sweep:{'+'.join(plan.names)}@{plan.family}-{bank.tag}"


def sweep_seeds(
    pool: Sequence[ScenarioSeed], *, batch: int | None, seed: int
) -> list[ScenarioSeed]:
    """The scenarios every point shares: the whole pool, or one sample drawn once from seed."""
    return sample_seeds(pool, batch=batch, study_seed=seed, trial_number=0)


def open_sweep_study(
    plan: SweepPlan, *, storage: str, study_name: str, identity: Mapping[str, object],
    kind: str = "sweep",
) -> optuna.Study:
    """Create or load a grid study of ``kind``; refuses one of another kind or settings.

    ``kind`` is "sweep" for ``tuner sweep`` and "sensitivity" for ``tuner sensitivity``: both
    store one trial per grid point, and neither may resume the other's (or optimize's) study.
    """
    ensure_sqlite_dir(storage)
    study = optuna.create_study(
        study_name=study_name, storage=storage, direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0), load_if_exists=True,
    )
    attrs = study.user_attrs
    if attrs.get("constant") and attrs.get("kind") != kind:
        raise StudyConflictError(
            f"study {study_name!r} exists and is not a {kind}; pass another --study-name"
        )
    check_identity(study, identity)
    if attrs.get("kind") != kind:
        study.set_user_attr("kind", kind)
    return study


def fail_stale_queue(study: optuna.Study) -> int:
    """Points queued by an interrupted run would be popped by the next ask; mark them FAIL."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    for trial in stale:
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    return len(stale)


def trials_by_point(study: optuna.Study, plan: SweepPlan) -> dict[tuple, FrozenTrial]:
    """The trial that speaks for each point: its COMPLETE one, else its latest FAIL."""
    chosen: dict[tuple, FrozenTrial] = {}
    finished = (TrialState.COMPLETE, TrialState.FAIL)
    for trial in study.get_trials(deepcopy=False, states=finished):
        if not all(name in trial.params for name in plan.names):
            continue
        key = point_key([trial.params[name] for name in plan.names])
        held = chosen.get(key)
        if held is None or held.state != TrialState.COMPLETE:
            chosen[key] = trial
    return chosen


def pending_points(plan: SweepPlan, done: Mapping[tuple, FrozenTrial]) -> list[GridPoint]:
    """Points without a COMPLETE trial; failed points are tried again."""
    return [p for p in plan.points
            if (t := done.get(point_key(p.values))) is None or t.state != TrialState.COMPLETE]


def ask_point(study: optuna.Study, plan: SweepPlan, point: GridPoint) -> optuna.Trial:
    """Start the trial of ``point``: enqueued fixed params, checked against what came back."""
    study.enqueue_trial(plan.params(point), user_attrs={"baseline": point.baseline})
    trial = study.ask(plan.distributions())
    if point_key([trial.params[n] for n in plan.names]) != point_key(point.values):
        study.tell(trial, state=TrialState.FAIL)
        raise RuntimeError(f"study {study.study_name!r} handed out another point: is a second "
                           "sweep running on it?")
    return trial


def run_point(
    study: optuna.Study, plan: SweepPlan, point: GridPoint, seeds: Sequence[ScenarioSeed]
) -> FrozenTrial:
    """Evaluate one point as one trial. A value popoto rejects becomes a FAIL with its error.

    A point where every scenario failed is also a FAIL: its mean of 0 would otherwise look
    like a (terrible) score rather than a refusal.
    """
    trial = ask_point(study, plan, point)
    try:
        evaluation = evaluate_values(plan.mapping(point), seeds)
    except KeyboardInterrupt:
        study.tell(trial, state=TrialState.FAIL)
        raise
    except Exception as exc:  # noqa: BLE001 - a rejected value is recorded, the sweep goes on
        trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
        return study.tell(trial, state=TrialState.FAIL)
    record_evaluation(trial, seeds, evaluation)
    if evaluation.results and len(evaluation.errors) == len(evaluation.results):
        first = next(iter(evaluation.errors.values()))
        trial.set_user_attr("error", f"every scenario failed, e.g. {first}")
        return study.tell(trial, state=TrialState.FAIL)
    return study.tell(trial, evaluation.mean_score)


def run_sweep(
    plan: SweepPlan,
    *,
    storage: str = DEFAULT_STORAGE,
    study_name: str | None = None,
    seed: int = DEFAULT_SEED,
    batch: int | None = None,
    bank: BankSpec | None = None,
    stats: bool = False,
    on_progress: ProgressCallback | None = None,
) -> SweepReport:
    """Evaluate every point not yet COMPLETE in the sweep's study, then report on all of them.

    Interrupting keeps finished points; calling again evaluates only the rest.
    """
    bank = bank or BankSpec()
    train, _validation = bank.pools(plan.family)
    sampled = batch is not None and batch < len(train)
    seeds = sweep_seeds(train, batch=batch, seed=seed)
    name = study_name or sweep_study_name(plan, bank)
    identity = {"constant": "+".join(plan.names), "seed": seed if sampled else None,
                "batch": batch if sampled else None, "bank": bank.tag}
    study = open_sweep_study(plan, storage=storage, study_name=name, identity=identity)
    fail_orphaned_trials(study)
    fail_stale_queue(study)
    todo = pending_points(plan, trials_by_point(study, plan))
    started = time.perf_counter()
    progress = on_progress or (lambda done, total: None)
    progress(0, len(todo))
    for done, point in enumerate(todo, start=1):
        run_point(study, plan, point, seeds)
        progress(done, len(todo))
    run = RunInfo(study_name=name, storage=mask_url(storage), seed=seed if sampled else None,
                  batch=batch if sampled else None, bank=bank.tag,
                  scenarios=[s.label for s in seeds],
                  evaluated={point_key(p.values) for p in todo},
                  seconds=time.perf_counter() - started)
    return build_report(plan, trials_by_point(study, plan), run, stats=stats)


# --------------------------------------------------------------------------- the report


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
        stats=value_stats(plan.names, rows) if stats else None, notes=_notes(plan, rows),
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
