"""One tuning study of ``tuner report``, reduced to its response and its validator's verdict.

``study_view`` turns a study's completed trials and user attrs into a ``StudyView``: the search
space, popoto's default, the trial points with their binned response and sensitivity (computed
by ``tuner.views.spread_stats``) and the validator's findings flattened into a
``ValidationView``. Kept apart from ``tuner.views.report_data``, which finds the studies in
the storage and decides which one speaks for each constant, because a view is a pure function
of one study's trials and attrs: tests build one from hand-made trials without a storage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial

from tuner.studies.study import is_collapsed
from tuner.views.spread_stats import (
    Bin,
    Sensitivity,
    TrialPoint,
    bin_points,
    centred_effects,
    sensitivity,
    summarise_bin,
)


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
    p_value: float | None = None
    alpha: float | None = None
    family_deltas: tuple[tuple[str, float], ...] = ()
    certificate: str | None = None  # for a value not accepted: the bound on any gain

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
    contract: dict | None = None  # tuner.studies.contract: what the trials' numbers mean


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


def validation_view(data: dict | None) -> ValidationView | None:
    """Flatten ``ValidationResult.to_dict()``; a probe dropping by the cliff threshold is one."""
    if not data:
        return None
    held_out = data.get("validation") or {}
    cliff = data.get("cliff") or {}
    decision = data.get("decision") or {}
    train_proposal = _num(data.get("train_proposal"))
    cliff_at, drop = _num(cliff.get("cliff_at")), _num(cliff.get("drop"))

    here = _num(cliff.get("here")) if cliff.get("here") is not None else train_proposal

    def is_cliff(value: float, score: float) -> bool:
        at = cliff_at is not None and math.isclose(value, cliff_at)
        fell = here is not None and drop is not None and here - score >= drop
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
        p_value=_num(held_out.get("p_value")),
        alpha=_num((data.get("evidence") or {}).get("alpha")),
        family_deltas=tuple((str(f), float(fc["mean"]))
                            for f, fc in (held_out.get("families") or {}).items()),
        certificate=str((data.get("certificate") or {}).get("text") or "") or None,
    )


def _num(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
