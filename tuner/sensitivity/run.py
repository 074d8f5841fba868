"""``tuner sensitivity``: every catalog constant on a fixed grid, beside popoto's own sweep.

Where ``tuner sweep`` draws one constant's curve in one family, this asks of every constant
"does it matter at all, and by how much?" — the question popoto's 2026-04-20 sweep answered
with max − min of mean nDCG@5. To stand beside those figures it sweeps popoto's own grids by
default, but scores every point on the *same* train scenarios of *every* family that reads the
constant (failed points score 0, never dropped) and gives the spread a paired CI.

Each (constant, grid point) is one trial of the Optuna study
``sensitivity:<constant>-<bank>[-batch<N>s<seed>]``, stored like a sweep's points (per-scenario
scores in user attrs), so a rerun evaluates only missing points and Ctrl-C keeps finished ones.
A point scored under another popoto (its defaults or source), harness or override code does not
count as finished: a rerun after an edit scores it again and says what changed.
The verdict itself is ``tuner.sensitivity.stats.judge``, shared with ``tuner report``.
"""

from __future__ import annotations

import datetime
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from scenarios import ScenarioSeed
from scenarios.runner import OUTAGE_ERRORS
from tuner.catalog import Catalog, Constant, UnknownConstantError
from tuner.evaluation.engine import BankSpec, evaluate_families, family_mean, sample_seeds
from tuner.evaluation.fingerprint import code_fingerprint
from tuner.infra.urls import mask_url
from tuner.sensitivity.popoto_sweep import POPOTO_SWEEP, POPOTO_SWEEP_DATE
from tuner.sensitivity.stats import CONFIDENCE, Facts, PointScores, Verdict, judge
from tuner.studies.study import DEFAULT_SEED, DEFAULT_STORAGE, fail_orphaned_trials
from tuner.sweeps.plan import GridPoint, SweepPlan, SweepSpecError, plan_sweep, point_key
from tuner.sweeps.run import (
    FINGERPRINT_ATTR,
    ask_point,
    fail_stale_queue,
    names_hash,
    open_sweep_study,
    pending_points,
    refresh_contract,
    scored_under,
    stale_note,
    stale_points,
    trials_by_point,
)

KIND = "sensitivity"
FALLBACK_POINTS = 5
MAX_SCENARIOS = 400  # per family: where a still-borderline constant's looks stop
EXTENSION_SEED_OFFSET = 7919  # the extension bank: neither a study's nor a held-out seed
POPOTO_SOURCE = f"popoto {POPOTO_SWEEP_DATE}"

ProgressCallback = Callable[[int, int], None]


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class ConstantPlan:
    """One constant's grid (popoto's default always a point) and where the grid came from."""

    constant: Constant
    sweep: SweepPlan
    source: str  # "popoto 2026-04-20", "--values" or "search range"

    @property
    def grid(self) -> list[float | int]:
        return [p.values[0] for p in self.sweep.points]


def parse_value_overrides(catalog: Catalog, texts: Sequence[str]) -> dict[str, str]:
    """``NAME=SPEC`` options as {catalog name: spec}; a bad one raises ``SweepSpecError``."""
    out: dict[str, str] = {}
    for text in texts:
        name, sep, spec = text.partition("=")
        if not sep or not name.strip() or not spec.strip():
            raise SweepSpecError(f"bad --values {text!r}: use NAME=SPEC, e.g. "
                                 "decay_rate=0.05..0.5:0.05 or decay_rate=0.1,0.3")
        try:
            constant = catalog.resolve(name)
        except UnknownConstantError as exc:
            raise SweepSpecError(str(exc)) from None
        if constant.name in out:
            raise SweepSpecError(f"--values gives {constant.name} twice; give one grid each")
        out[constant.name] = spec
    return out


def default_grid(constant: Constant) -> tuple[str, str]:
    """popoto's grid when popoto swept the constant, else FALLBACK_POINTS over the search range."""
    figure = POPOTO_SWEEP.get(constant.name)
    if figure is not None:
        return figure.grid, POPOTO_SOURCE
    low, high = constant.search_low, constant.search_high
    if constant.log:
        values = np.geomspace(low, high, FALLBACK_POINTS)
    else:
        values = np.linspace(low, high, FALLBACK_POINTS)
    if constant.is_int:
        return ",".join(str(v) for v in sorted({int(round(x)) for x in values})), "search range"
    return ",".join(f"{x:.6g}" for x in values), "search range"


def plan_sensitivity(constants: Sequence[Constant], overrides: Mapping[str, str], *,
                     incumbent: Mapping[Constant, float] | None = None) -> list[ConstantPlan]:
    """One grid per constant; refuses --values for a constant not asked for, or bad specs.

    Every point applies the incumbent, and the incumbent's value is always a point.
    """
    names = {c.name for c in constants}
    stray = sorted(set(overrides) - names)
    if stray:
        raise SweepSpecError(f"--values names {', '.join(stray)}, which is not among the "
                             "constants asked for (--constants / --tier)")
    plans = []
    for constant in constants:
        spec, source = ((overrides[constant.name], "--values") if constant.name in overrides
                        else default_grid(constant))
        plans.append(ConstantPlan(constant, plan_sweep([constant], [spec], incumbent=incumbent),
                                  source))
    return plans


def facts_of(constant: Constant, default: float | None = None) -> Facts:
    """What the verdict needs to know of ``constant``; ``default`` is the incumbent's value."""
    return Facts(constant=constant.name, tier=constant.tier,
                 families=constant.reached_families,
                 default=constant.default() if default is None else default,
                 search_low=constant.search_low, search_high=constant.search_high,
                 reachable=constant.reachable, reason=constant.reason)


def family_stream(family: str) -> int:
    """A sampling stream fixed per family name, so every constant shares each family's sample."""
    return zlib.crc32(family.encode()) or 1


def shared_seeds(families: Sequence[str], bank: BankSpec, *, batch: int | None,
                 seed: int, size: int | None = None) -> dict[str, list[ScenarioSeed]]:
    """The scenarios every point of every constant sees, per family: the train pool (or one
    ``batch`` sample of it), extended to ``size`` with seeds of the extension bank."""
    out = {}
    for f in families:
        train = sample_seeds(bank.pools(f)[0], batch=batch, study_seed=seed, trial_number=0,
                             stream=family_stream(f))
        extra = (size or 0) - len(train)
        out[f] = train + (extension_bank(bank).prefix(f, extra) if extra > 0 else [])
    return out


def extension_bank(bank: BankSpec) -> BankSpec:
    """Seeds beyond the train pool for sensitivity: another base seed, so they are neither a
    study's train seeds nor anybody's held-out ones."""
    return BankSpec(size=MAX_SCENARIOS * 4, base_seed=bank.base_seed + EXTENSION_SEED_OFFSET)


def look_sizes(bank: BankSpec, families: Sequence[str], *, batch: int | None,
               most: int = MAX_SCENARIOS) -> list[int | None]:
    """Scenarios per family at each look: the train pool, then doubling up to ``most``.

    A ``--batch`` sample is one fixed look (it was asked for). Each look's CI is judged at
    1 - 0.05 / looks (Bonferroni), so looking again until the CI clears the bar does not make a
    borderline constant look decided by chance.
    """
    if batch is not None:
        return [None]
    first = min(len(bank.pools(f)[0]) for f in families)
    sizes: list[int | None] = [None]
    n = first * 2
    while first < most and n <= most:
        sizes.append(n)
        n *= 2
    return sizes


def study_name(constant: Constant, bank: BankSpec, *, batch: int | None, seed: int,
               incumbent: dict[str, float] | None = None, size: int | None = None) -> str:
    suffix = f"-batch{batch}s{seed}" if batch is not None else ""
    suffix += f"-n{size}" if size else ""
    suffix += f"-inc{names_hash(incumbent)}" if incumbent else ""
    return f"{KIND}:{constant.name}-{bank.tag}{suffix}"


# --------------------------------------------------------------------------- running


@dataclass
class Prepared:
    """A constant's open study, its shared scenarios and the points still to evaluate."""

    plan: ConstantPlan
    study: optuna.Study
    seeds: dict[str, list[ScenarioSeed]]
    todo: list[GridPoint]
    notes: list[str] = field(default_factory=list)


def prepare(plan: ConstantPlan, *, storage: str, bank: BankSpec, batch: int | None,
            seed: int, size: int | None = None, confidence: float = CONFIDENCE) -> Prepared:
    """Open (or resume) the constant's study at one look size and list its pending points."""
    families = plan.constant.reached_families
    seeds = shared_seeds(families, bank, batch=batch, seed=seed, size=size)
    sampled = batch is not None and any(batch < len(bank.pools(f)[0]) for f in families)
    name = study_name(plan.constant, bank, batch=batch if sampled else None, seed=seed,
                      incumbent=plan.sweep.incumbent, size=size)
    identity = {"constant": plan.constant.name, "seed": seed if sampled else None,
                "batch": batch if sampled else None, "bank": bank.tag,
                "families": list(families), "incumbent": plan.sweep.incumbent}
    study = open_sweep_study(plan.sweep, storage=storage, study_name=name, identity=identity,
                             kind=KIND)
    fail_orphaned_trials(study)
    fail_stale_queue(study)
    study.set_user_attr("facts", facts_of(plan.constant, plan.sweep.defaults[0]).to_attrs())
    study.set_user_attr("grid", plan.grid)
    study.set_user_attr("grid_source", plan.source)
    study.set_user_attr("scenarios", {f: [s.label for s in v] for f, v in seeds.items()})
    study.set_user_attr("confidence", confidence)
    changes = refresh_contract(study, plan.sweep)
    current = code_fingerprint()
    todo = pending_points(plan.sweep, trials_by_point(study, plan.sweep, fingerprint=current))
    stale = stale_points(study, plan.sweep, current) & {point_key(p.values) for p in todo}
    return Prepared(plan=plan, study=study, seeds=seeds, todo=todo,
                    notes=stale_note(changes, len(stale)))


def run_point(prepared: Prepared, point: GridPoint) -> FrozenTrial:
    """Score one point on every reached family's shared scenarios as one trial.

    A value popoto rejects is a FAIL carrying its error (judged as 0 on every scenario); an
    interrupt or a lost Redis marks the trial FAIL without an error and propagates.
    """
    study, sweep = prepared.study, prepared.plan.sweep
    trial = ask_point(study, sweep, point)
    trial.set_user_attr(FINGERPRINT_ATTR, code_fingerprint())
    try:
        evaluations = evaluate_families(sweep.mapping(point), prepared.seeds)
    except (KeyboardInterrupt, *OUTAGE_ERRORS):
        study.tell(trial, state=TrialState.FAIL)
        raise
    except Exception as exc:  # noqa: BLE001 - a rejected value is recorded, the run goes on
        trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
        return study.tell(trial, state=TrialState.FAIL)
    errors = {k: v for e in evaluations.values() for k, v in e.errors.items()}
    trial.set_user_attr("ndcg", {k: round(v, 6) for e in evaluations.values()
                                 for k, v in e.by_label().items()})
    trial.set_user_attr("family_means", {f: round(e.mean_score, 6)
                                         for f, e in evaluations.items()})
    trial.set_user_attr("n_errors", len(errors))
    if errors:
        trial.set_user_attr("errors", errors)
    return study.tell(trial, family_mean(evaluations))


@dataclass
class ConstantSensitivity:
    """One constant's row: the verdict, where it came from, and popoto's figure beside it."""

    constant: str
    tier: int
    families: list[str]
    default: float | int
    search_low: float
    search_high: float
    study_name: str
    grid_source: str
    scenarios: dict[str, int]
    verdict: Verdict
    popoto_spread: float | None
    popoto_best: str | None
    evaluated: int = 0
    notes: list[str] = field(default_factory=list)  # e.g. points scored again after an edit

    def to_dict(self) -> dict:
        return asdict(self)


def read_result(study: optuna.Study, evaluated: set | None = None, *,
                fingerprint: str | None = None, notes: Sequence[str] = ()) -> ConstantSensitivity:
    """Judge a sensitivity study from what it stores (the CLI and the report both call this).

    ``fingerprint``: count only points scored under it (the command, right after scoring);
    the report passes none and reads each point's latest trial.
    """
    attrs = study.user_attrs
    facts = Facts.from_attrs(attrs["facts"])
    grid = list(attrs.get("grid", []))
    evaluated = evaluated or set()
    trials = [t for t in study.get_trials(deepcopy=False) if scored_under(t, fingerprint)]
    stored = stored_points(trials, facts.constant, evaluated)
    labels = attrs.get("scenarios", {})
    figure = POPOTO_SWEEP.get(facts.constant)
    return ConstantSensitivity(
        constant=facts.constant, tier=facts.tier, families=list(facts.families),
        default=facts.default, search_low=facts.search_low, search_high=facts.search_high,
        study_name=study.study_name, grid_source=str(attrs.get("grid_source", "")),
        scenarios={f: len(v) for f, v in labels.items()},
        verdict=judge(facts, grid, stored, labels,
                      confidence=float(attrs.get("confidence", CONFIDENCE))),
        popoto_spread=figure.spread if figure else None,
        popoto_best=figure.best if figure else None,
        evaluated=sum(point_key([v]) in evaluated for v in grid),
        notes=list(notes),
    )


def stored_points(trials: Sequence[FrozenTrial], name: str,
                  evaluated: set) -> dict[float, PointScores]:
    """Per value: its COMPLETE trial's scores, else a FAIL that carries popoto's refusal."""
    out: dict[float, PointScores] = {}
    for trial in trials:
        if name not in trial.params:
            continue
        value = float(trial.params[name])
        resumed = point_key([value]) not in evaluated
        if trial.state == TrialState.COMPLETE:
            scores = {str(k): float(v) for k, v in trial.user_attrs.get("ndcg", {}).items()}
            out[value] = PointScores(value, scores, resumed=resumed)
        elif (trial.state == TrialState.FAIL and "error" in trial.user_attrs
              and (value not in out or out[value].scores is None)):
            out[value] = PointScores(value, None, trial.user_attrs["error"], resumed)
    return out


@dataclass
class SensitivityRun:
    """Everything ``tuner sensitivity`` prints; ``to_dict`` is its ``--json``."""

    date: str
    storage: str  # masked: it is printed
    bank: str
    batch: int | None
    seed: int
    seconds: float
    constants: list[ConstantSensitivity] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def run_sensitivity(plans: Sequence[ConstantPlan], *, storage: str = DEFAULT_STORAGE,
                    seed: int = DEFAULT_SEED, batch: int | None = None,
                    bank: BankSpec | None = None, most: int = MAX_SCENARIOS,
                    on_progress: ProgressCallback | None = None) -> SensitivityRun:
    """Judge every constant on the train pool; give each still-borderline constant more
    scenarios (doubling, up to ``most`` per family) until its CI clears or misses the bar."""
    bank = bank or BankSpec()
    started = time.perf_counter()
    families = sorted({f for p in plans for f in p.constant.reached_families})
    sizes = look_sizes(bank, families, batch=batch, most=most) if plans else [None]
    confidence = 1.0 - (1.0 - CONFIDENCE) / len(sizes)
    results: dict[str, ConstantSensitivity] = {}
    pending = list(plans)
    for size in sizes:
        prepared = [prepare(p, storage=storage, bank=bank, batch=batch, seed=seed, size=size,
                            confidence=confidence) for p in pending]
        _evaluate(prepared, on_progress)
        current = code_fingerprint()
        for item in prepared:
            results[item.plan.constant.name] = read_result(
                item.study, {point_key(pt.values) for pt in item.todo}, fingerprint=current,
                notes=item.notes)
        pending = [p for p in pending
                   if results[p.constant.name].verdict.status == "borderline"]
        if not pending:
            break
    return SensitivityRun(date=datetime.date.today().isoformat(), storage=mask_url(storage),
                          bank=bank.tag, batch=batch, seed=seed,
                          seconds=round(time.perf_counter() - started, 1),
                          constants=[results[p.constant.name] for p in plans])


def _evaluate(prepared: Sequence[Prepared], on_progress: ProgressCallback | None) -> None:
    total = sum(len(p.todo) for p in prepared)
    progress = on_progress or (lambda done, total: None)
    progress(0, total)
    done = 0
    for item in prepared:
        for point in item.todo:
            run_point(item, point)
            done += 1
            progress(done, total)
