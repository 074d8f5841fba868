"""Step 1 of ``tuner report``: read the study storage into plain data; nothing is drawn here.

Everything a page shows is decided here (which study speaks for a constant and why, the binned
response, the sensitivity and its CI, the validator's findings, the ratchet ledger), so tests
check what the pages say without looking at pixels and the drawing code never touches Optuna.
The storage is only read: a missing SQLite file is reported, never created.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.study import StudySummary
from optuna.trial import FrozenTrial, TrialState
from scipy.stats import bootstrap

from tuner.ledger import LEDGER_PREFIX, LedgerRecord
from tuner.sensitivity import ConstantSensitivity
from tuner.study import is_collapsed
from tuner.urls import mask_url
from tuner.views.sensitivity_data import SweepView, is_grid_study, load_grid_studies

MAX_BINS = 6
TRIALS_PER_BIN = 3
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20261123


class NoStudiesError(ValueError):
    """The storage holds no study of the bank asked for; the message says which banks it has."""


@dataclass(frozen=True)
class TrialPoint:
    """One completed trial: its value, the mean nDCG@5 Optuna saw, and its centred effect."""

    number: int
    value: float
    score: float
    effect: float  # score with each scenario's difficulty removed (see centred_effects)
    enqueued: bool  # queued by tuner (popoto's default) rather than sampled


@dataclass(frozen=True)
class Bin:
    """Neighbouring trial values pooled, so the curve shows a mean with a band, not noise."""

    low: float
    high: float
    center: float
    n: int
    mean: float
    std: float
    effect: float
    centred_mean: float  # the study's mean score plus this bin's centred effect


@dataclass(frozen=True)
class Sensitivity:
    """How far nDCG@5 moves across the values: best bin minus worst bin of centred effects."""

    spread: float
    ci_low: float | None
    ci_high: float | None
    bins: int
    inert: bool
    note: str


@dataclass(frozen=True)
class Probe:
    """A cliff probe of the validator: a neighbour of the proposal scored on the train pool."""

    value: float
    score: float
    cliff: bool


@dataclass(frozen=True)
class ValidationView:
    """The study's ``validation`` user attr, flattened to what a page shows."""

    decision: str
    reason: str
    detail: str
    default: float
    proposal: float | None
    margin_from: float | None
    collapsed: bool
    train_default: float | None
    train_proposal: float | None
    train_delta: float | None
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    probes: tuple[Probe, ...]
    cliff_at: float | None
    cliff_drop: float | None

    @property
    def accepted(self) -> bool:
        return self.decision == "ACCEPT"


@dataclass
class StudyView:
    """One tuning study of one constant, reduced to its response and its verdict."""

    name: str
    constant: str
    kind: str  # "ratchet" or "optimize"
    low: float | None
    high: float | None
    log: bool
    default: float | None
    collapsed: bool
    mean_score: float | None
    points: list[TrialPoint]
    bins: list[Bin]
    sensitivity: Sensitivity
    validation: ValidationView | None
    contract: dict | None = None  # tuner.contract: what the trials' numbers mean


@dataclass
class ConstantView:
    """Every study of one constant; ``primary`` names the one its page draws, ``why`` says why."""

    name: str
    page: str
    studies: list[StudyView]
    primary: str
    why: str
    record: dict | None = None  # the ratchet ledger's record, when the ledger has one

    @property
    def primary_study(self) -> StudyView:
        return next(s for s in self.studies if s.name == self.primary)


@dataclass
class ReportData:
    """Everything ``tuner report`` writes, for one storage and one scenario bank."""

    storage: str
    bank: str
    constants: list[ConstantView]
    ledger_name: str | None = None
    ledger: list[dict] = field(default_factory=list)
    joint: dict | None = None
    sensitivity: list[ConstantSensitivity] = field(default_factory=list)
    sweeps: list[SweepView] = field(default_factory=list)

    def ranking(self) -> list[ConstantView]:
        """Most sensitive first; inert (collapsed) constants last."""
        def key(c: ConstantView) -> tuple:
            s = c.primary_study.sensitivity
            return (s.inert, -s.spread, c.name)

        return sorted(self.constants, key=key)

    def proposals(self) -> list[tuple[ConstantView, StudyView]]:
        """Every study, of every constant, whose validator made a proposal."""
        return [(c, s) for c in self.constants for s in c.studies
                if s.validation is not None and s.validation.proposal is not None]

    def constant(self, name: str) -> ConstantView:
        return next(c for c in self.constants if c.name == name)

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- loading


def load_report_data(storage: str, *, bank_tag: str) -> ReportData:
    """Read every tuning, sweep and sensitivity study of ``bank_tag`` and its ratchet ledger."""
    if _missing_sqlite(storage):
        raise NoStudiesError(f"no study storage at {storage}: the SQLite file does not exist; "
                             "run `tuner optimize` or `tuner ratchet` first")
    handle = optuna.storages.get_storage(storage)
    summaries = optuna.get_all_study_summaries(storage=handle, include_best_trial=False)
    tuning = [s for s in summaries if is_tuning_study(s)]
    mine = sorted((s for s in tuning if s.user_attrs.get("bank") == bank_tag),
                  key=lambda s: s.study_name)
    grids = load_grid_studies(handle, summaries, bank_tag)
    if not mine and not grids:
        others = tuning + [s for s in summaries if is_grid_study(s)]
        raise NoStudiesError(no_studies_message(storage, bank_tag, others))
    ledger = next((s for s in summaries if s.study_name == LEDGER_PREFIX + bank_tag), None)
    records = ledger_records(ledger.user_attrs) if ledger else []
    studies = [study_view(s.study_name, s.user_attrs, _completed(handle, s.study_name))
               for s in mine]
    joint = (ledger.user_attrs.get("joint") or None) if ledger else None
    return ReportData(storage=mask_url(storage), bank=bank_tag,
                      constants=group_constants(studies, records),
                      ledger_name=ledger.study_name if ledger else None,
                      ledger=[r.to_dict() for r in records], joint=joint,
                      sensitivity=grids.sensitivity, sweeps=grids.sweeps)


def is_tuning_study(study: StudySummary) -> bool:
    """An optimize or ratchet study; grid studies (sweep, sensitivity) and the ledger are not."""
    attrs = study.user_attrs
    return (bool(attrs.get("constant")) and not is_grid_study(study)
            and not study.study_name.startswith(LEDGER_PREFIX))


def no_studies_message(storage: str, bank_tag: str, tuning: Sequence[StudySummary]) -> str:
    banks = sorted({str(s.user_attrs.get("bank")) for s in tuning} - {bank_tag})
    message = f"no tuning, sweep or sensitivity studies for scenario bank {bank_tag} in {storage}"
    if not banks:
        return message + "; run `tuner optimize`, `tuner ratchet` or `tuner sensitivity` first"
    return message + f"; it holds bank(s) {', '.join(banks)}: pass " + " or ".join(
        _bank_flags(b) for b in banks)


def _bank_flags(tag: str) -> str:
    match = re.fullmatch(r"b(-?\d+)n(\d+)", tag)
    if not match:
        return tag
    return f"--bank-size {match[2]} --base-seed {match[1]}"


def _missing_sqlite(storage: str) -> bool:
    prefix = "sqlite:///"
    if not storage.startswith(prefix):
        return False
    path = storage[len(prefix):]
    return path not in ("", ":memory:") and not Path(path).exists()


def _completed(handle: optuna.storages.BaseStorage, name: str) -> list[FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=handle)
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def ledger_records(attrs: dict) -> list[LedgerRecord]:
    """The ledger's records in decision order, read without opening (or creating) a Ledger."""
    return [LedgerRecord.from_dict(attrs[f"record:{name}"]) for name in attrs.get("order", [])
            if f"record:{name}" in attrs]


# --------------------------------------------------------------------------- one study


def study_view(name: str, attrs: dict, trials: Sequence[FrozenTrial]) -> StudyView:
    """Reduce one study's completed trials and attrs to its response and verdict."""
    constant = str(attrs["constant"])
    done = [t for t in trials if constant in t.params and t.value is not None]
    low, high, log = _space(done, constant)
    effects = centred_effects(done)
    points = sorted((TrialPoint(number=t.number, value=float(t.params[constant]),
                                score=float(t.value), effect=e,
                                enqueued=constant in t.system_attrs.get("fixed_params", {}))
                     for t, e in zip(done, effects, strict=True)),
                    key=lambda p: (p.value, p.number))
    collapsed = is_collapsed(done)
    mean_score = float(np.mean([p.score for p in points])) if points else None
    groups = bin_points(points)
    validation = validation_view(attrs.get("validation"))
    return StudyView(
        name=name, constant=constant, kind="ratchet" if name.startswith("ratchet:") else "optimize",
        low=low, high=high, log=log, default=_default(attrs, validation, points),
        collapsed=collapsed, mean_score=mean_score, points=points,
        bins=[summarise_bin(g, log, mean_score or 0.0) for g in groups],
        sensitivity=sensitivity(groups, collapsed), validation=validation,
        contract=attrs.get("contract"),
    )


def _space(done: Sequence[FrozenTrial], constant: str) -> tuple[float | None, float | None, bool]:
    for trial in done:
        dist = trial.distributions.get(constant)
        if isinstance(dist, FloatDistribution | IntDistribution):
            return float(dist.low), float(dist.high), bool(dist.log)
    return None, None, False


def _default(attrs: dict, validation: ValidationView | None,
             points: Sequence[TrialPoint]) -> float | None:
    """popoto's default as the study recorded it: validator, summary, else the queued trial."""
    if validation is not None:
        return validation.default
    summary = attrs.get("summary") or {}
    if summary.get("default_value") is not None:
        return float(summary["default_value"])
    queued = sorted((p for p in points if p.enqueued), key=lambda p: p.number)
    return queued[0].value if queued else None


def centred_effects(trials: Sequence[FrozenTrial]) -> list[float]:
    """Each trial's mean of (scenario score minus that scenario's mean over all trials).

    Trials score different samples, so raw means mix the value's effect with how hard the
    sample was; centring scenario by scenario removes the second, so a placebo's effects are
    exactly 0. A scenario seen by one trial only adds 0 (no evidence either way). A trial
    without per-scenario scores falls back to its value minus the mean of all values.
    """
    per_scenario: dict[str, list[float]] = {}
    for trial in trials:
        for label, score in _ndcg(trial).items():
            per_scenario.setdefault(label, []).append(score)
    centre = {label: float(np.mean(scores)) for label, scores in per_scenario.items()}
    overall = float(np.mean([t.value for t in trials])) if trials else 0.0
    effects = []
    for trial in trials:
        scores = _ndcg(trial)
        if scores:
            residuals = [s - centre[k] for k, s in scores.items()]
            effects.append(round(float(np.mean(residuals)), 12))  # float noise is not signal
        else:
            effects.append(float(trial.value) - overall)
    return effects


def _ndcg(trial: FrozenTrial) -> dict[str, float]:
    return {str(k): float(v) for k, v in (trial.user_attrs.get("ndcg") or {}).items()}


def bin_points(points: Sequence[TrialPoint]) -> list[list[TrialPoint]]:
    """Sorted points in up to MAX_BINS bins of about equal count; equal values share a bin.

    Equal counts (not equal widths) because TPE crowds its trials near the optimum, and a bin
    needs two or more trials for its spread and the bootstrap.
    """
    if not points:
        return []
    k = max(1, min(MAX_BINS, len(points) // TRIALS_PER_BIN))
    target = len(points) / k
    bins: list[list[TrialPoint]] = []
    current: list[TrialPoint] = []
    for _value, same in _equal_values(points):
        current.extend(same)
        if len(current) >= target and len(bins) < k - 1:
            bins.append(current)
            current = []
    if current and len(current) < 2 and bins:
        bins[-1].extend(current)
    elif current:
        bins.append(current)
    return bins


def _equal_values(points: Sequence[TrialPoint]) -> list[tuple[float, list[TrialPoint]]]:
    groups: dict[float, list[TrialPoint]] = {}
    for point in sorted(points, key=lambda p: (p.value, p.number)):
        groups.setdefault(point.value, []).append(point)
    return list(groups.items())


def summarise_bin(members: Sequence[TrialPoint], log: bool, mean_score: float) -> Bin:
    values = np.array([p.value for p in members])
    scores = np.array([p.score for p in members])
    effect = float(np.mean([p.effect for p in members]))
    geometric = log and bool(np.all(values > 0))
    center = float(np.exp(np.mean(np.log(values)))) if geometric else float(values.mean())
    return Bin(low=float(values.min()), high=float(values.max()), center=center,
               n=len(members), mean=float(scores.mean()), std=float(scores.std()),
               effect=effect, centred_mean=mean_score + effect)


def sensitivity(groups: Sequence[Sequence[TrialPoint]], collapsed: bool) -> Sensitivity:
    """Best-bin minus worst-bin centred effect, with a percentile bootstrap 95% CI.

    The bootstrap resamples trials within each bin (scipy, fixed seed). The spread is a
    maximum of differences, so noise alone makes it slightly positive: read it with its CI and
    next to the other constants, not against zero.
    """
    if collapsed:
        return Sensitivity(0.0, 0.0, 0.0, len(groups), True,
                           "collapsed: no value changed any scenario's score")
    effects = [np.array([p.effect for p in g]) for g in groups]
    if len(effects) < 2:
        return Sensitivity(0.0, None, None, len(effects), False,
                           "too few trials to compare values (fewer than two bins)")
    spread = float(np.ptp([e.mean() for e in effects]))
    samples = [e for e in effects if len(e) >= 2]
    if len(samples) < 2:
        return Sensitivity(spread, None, None, len(effects), False,
                           "too few trials per bin for a CI")
    low, high = _spread_ci(samples, spread)
    return Sensitivity(spread, low, high, len(effects), False, SPREAD_METHOD)


SPREAD_METHOD = ("best-bin minus worst-bin mean scenario-centred nDCG@5, percentile bootstrap "
                 "95% CI")


def _spread_ci(samples: list[np.ndarray], spread: float) -> tuple[float, float]:
    if all(float(np.ptp(s)) == 0.0 for s in samples):
        return spread, spread
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate resamples are fine for a percentile CI
        result = bootstrap(tuple(samples), _spread_statistic, vectorized=True,
                           method="percentile", confidence_level=0.95,
                           n_resamples=BOOTSTRAP_RESAMPLES,
                           rng=np.random.default_rng(BOOTSTRAP_SEED))
    low, high = result.confidence_interval
    return float(low), float(high)


def _spread_statistic(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    means = np.stack([np.mean(s, axis=axis) for s in samples])
    return np.ptp(means, axis=0)


def validation_view(data: dict | None) -> ValidationView | None:
    """Flatten ``ValidationResult.to_dict()``; a probe dropping by the cliff threshold is one."""
    if not data:
        return None
    held_out = data.get("validation") or {}
    cliff = data.get("cliff") or {}
    decision = data.get("decision") or {}
    train_proposal = _num(data.get("train_proposal"))
    cliff_at, drop = _num(cliff.get("cliff_at")), _num(cliff.get("drop"))

    def is_cliff(value: float, score: float) -> bool:
        at = cliff_at is not None and math.isclose(value, cliff_at)
        fell = train_proposal is not None and drop is not None and train_proposal - score >= drop
        return at or fell

    probes = tuple(sorted((Probe(float(v), float(s), is_cliff(float(v), float(s)))
                           for v, s in (cliff.get("probes") or {}).items()),
                          key=lambda p: p.value))
    return ValidationView(
        decision=str(decision.get("decision", "")), reason=str(decision.get("reason", "")),
        detail=str(decision.get("detail", "")), default=float(data["default"]),
        proposal=_num(data.get("proposal")), margin_from=_num(data.get("margin_from")),
        collapsed=bool(data.get("collapsed")), train_default=_num(data.get("train_default")),
        train_proposal=train_proposal,
        train_delta=None if data.get("collapsed") else _num(data.get("train_delta")),
        mean=_num(held_out.get("mean")), ci_low=_num(held_out.get("ci_low")),
        ci_high=_num(held_out.get("ci_high")), n=int(held_out.get("n") or 0),
        probes=probes, cliff_at=cliff_at, cliff_drop=drop,
    )


def _num(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- constants


def group_constants(studies: Sequence[StudyView],
                    records: Sequence[LedgerRecord]) -> list[ConstantView]:
    """One view per constant: ledger order first, then by name."""
    by_name: dict[str, list[StudyView]] = {}
    for study in studies:
        by_name.setdefault(study.constant, []).append(study)
    ledger = {r.constant: r for r in records}
    order = [r.constant for r in records if r.constant in by_name]
    order += sorted(set(by_name) - set(order))
    views = []
    for name in order:
        record = ledger.get(name)
        primary, why = choose_primary(by_name[name], record)
        views.append(ConstantView(name=name, page=page_name(name), studies=by_name[name],
                                  primary=primary.name, why=why,
                                  record=record.to_dict() if record else None))
    return views


def choose_primary(studies: Sequence[StudyView],
                   record: LedgerRecord | None) -> tuple[StudyView, str]:
    """The study a constant's page draws: the ledger's, else a ratchet study, else the fullest."""
    if record is not None:
        for study in studies:
            if study.name == record.study_name:
                return study, "the ratchet ledger's decision was made on this study"
    ratchets = [s for s in studies if s.kind == "ratchet"]
    if ratchets:
        return _fullest(ratchets), f"the ratchet study with the most trials ({len(ratchets)} found)"
    validated = [s for s in studies if s.validation is not None]
    if validated:
        return _fullest(validated), "the validated study with the most trials"
    return _fullest(studies), "the study with the most completed trials (none validated yet)"


def _fullest(studies: Sequence[StudyView]) -> StudyView:
    return max(studies, key=lambda s: (len(s.points), s.name))


def page_name(constant: str) -> str:
    return "constant-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", constant) + ".html"
