"""popoto's own constant sweep of 2026-04-20, as data: the grids and figures we stand beside.

Source: popoto's ``tests/benchmarks/results/sweep_20260420_051055.json`` as summarised in
/work/shared/docs/popoto-sweep-2026-04-20.md (popoto 1.10.1, parametric scenarios, nDCG@5;
errored points were dropped from its means). Keyed by the catalog's constant names, which are
the override names of popoto's harness. ``tuner sensitivity`` sweeps these grids by default so
that our spread and popoto's are measured over the same values.
"""

from __future__ import annotations

from dataclasses import dataclass

POPOTO_SWEEP_DATE = "2026-04-20"


@dataclass(frozen=True)
class PopotoFigure:
    """One row of popoto's sweep: the grid it swept, its max − min of mean nDCG@5, its best."""

    grid: str  # a ``--values`` list spec, exactly popoto's values
    spread: float
    best: str  # as popoto's summary states it ("0.1 (= default)", "plateau 0.1–0.5", "—")


def _row(grid: str, spread: float, best: str = "—") -> PopotoFigure:
    return PopotoFigure(grid=grid, spread=spread, best=best)


POPOTO_SWEEP: dict[str, PopotoFigure] = {
    "decay_rate": _row("0.1,0.2,0.3,0.5,0.7,0.9,1.0", 0.067, "0.1 (= default)"),
    "initial_confidence": _row("0.1,0.3,0.5,0.7,0.9", 0.0011, "0.9"),
    "_wf_min_threshold": _row("0.05,0.1,0.2,0.3,0.5", 0.068, "0.1 (= default)"),
    "ACTED_CONFIDENCE_SIGNAL": _row("0.1,0.3,0.5,0.7,0.9", 0.03, "0.1"),
    "CONTRADICTED_CONFIDENCE_SIGNAL": _row("0.1,0.3,0.5,0.7,0.9", 0.03, "0.9"),
    "ACTED_CYCLE_STRENGTHEN_FACTOR": _row(
        "0.3,0.5,0.8,0.9,0.95,1.0,1.02,1.05,1.08,1.1,1.12,1.15,1.2,1.5,2.0", 0.0),
    "DISMISSED_CYCLE_WEAKEN_FACTOR": _row("0.3,0.5,0.8,1.0,1.2,1.5,2.0", 0.0),
    "CONTRADICTED_CYCLE_WEAKEN_FACTOR": _row("0.3,0.5,0.8,1.0,1.2,1.5,2.0", 0.0),
    "decay_factor": _row("0.5,0.7,0.85,0.9,0.95,0.99", 0.0),
    "initial_weight": _row("0.01,0.05,0.1,0.2,0.5", 0.144, "0.01"),
    "delta": _row("0.01,0.02,0.05,0.1,0.2", 0.0),
    "decay_per_hop": _row("0.1,0.3,0.5,0.7,0.9", 0.112, "0.5 (= default)"),
    "COMPETITIVE_SUPPRESSION_SIGNAL": _row("0.1,0.2,0.3,0.5,0.7", 0.053, "plateau 0.1–0.5"),
    "DEFAULT_SURFACING_THRESHOLD": _row("0.1,0.3,0.5,0.7,0.9", 0.0),
    "MIN_EVENTS_FOR_CRYSTALLIZATION": _row("1,2,3,5,10", 0.0),
    "TD_ALPHA": _row("0.01,0.05,0.1,0.2,0.5", 0.0),
    "TD_GAMMA": _row("0.8,0.9,0.95,0.99", 0.0),
    "WILSON_CI_THRESHOLD": _row("0.3,0.5,0.6,0.7,0.8", 0.13, "0.7 / 0.8"),
    "AUTO_DISCHARGE_CONFIDENCE_THRESHOLD": _row("0.05,0.1,0.2,0.3", 0.0),
    "CHI_SQUARED_P_THRESHOLD": _row("0.001,0.005,0.01,0.025,0.05,0.1,0.2", 0.0),
    "INITIAL_CYCLE_AMPLITUDE": _row("0.1,0.25,0.5,0.75,1.0,2.0", 0.0),
    "PL_CONFIDENCE_ERROR_THRESHOLD": _row("0.3,0.5,0.7,0.85,0.95", 0.024),
    "PL_CONFIDENCE_LOW_SIGNAL": _row("0.05,0.1,0.2,0.3,0.5", 0.0),
    "PL_AUTO_RESOLVE_ACTED": _row("0.05,0.1,0.2,0.3,0.5", 0.0),
    "PL_AUTO_RESOLVE_DISMISSED": _row("0.2,0.3,0.5,0.7,0.9", 0.0),
    "PL_AUTO_RESOLVE_CONTRADICTED": _row("0.5,0.7,0.8,0.9,0.95", 0.024),
}
