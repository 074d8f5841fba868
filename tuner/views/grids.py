"""The report's sensitivity and sweep sections: a spread figure and table rows, from data only.

Ours beside popoto's: each constant gets our spread (with its paired bootstrap CI as an error
bar, coloured by status) and popoto's 2026-04-20 figure, on the same axis, so a reader sees at
a glance where the two harnesses disagree.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from tuner.sensitivity.popoto_sweep import POPOTO_SWEEP_DATE
from tuner.sensitivity.run import ConstantSensitivity
from tuner.sensitivity.stats import SENSITIVE
from tuner.sensitivity.view import HEADERS, popoto_spread_text, spread_text
from tuner.views.figures import INERT_COLOR, TEMPLATE, TRIAL_COLOR, _above
from tuner.views.sensitivity_data import SweepView

STATUS_COLORS = {"sensitive": TRIAL_COLOR, "at the bar": "#bcbd22", "borderline": "#ff7f0e",
                 "inert": INERT_COLOR, "incomplete": "#cccccc"}
POPOTO_COLOR = "#8c564b"
SENSITIVITY_HEADERS = [*HEADERS, "grid", "study"]
SWEEP_HEADERS = ["study", "constants", "points", "failed", "best point", "best mean",
                 "Δ default", "curve"]


def spread_figure(rows: Sequence[ConstantSensitivity]) -> go.Figure:
    """Horizontal bars per constant: our spread with its CI, popoto's beside it."""
    ordered = list(reversed(rows))  # plotly draws the first bar at the bottom
    names = [r.constant for r in ordered]
    ours = [r.verdict.spread or 0.0 for r in ordered]
    fig = go.Figure()
    fig.add_trace(go.Bar(
        y=names, x=ours, orientation="h", name="ours (95% CI)",
        marker={"color": [STATUS_COLORS.get(r.verdict.status, INERT_COLOR) for r in ordered]},
        error_x={"type": "data", "symmetric": False,
                 "array": [_above(r.verdict.ci_high, s) for r, s in zip(ordered, ours,
                                                                       strict=True)],
                 "arrayminus": [_above(s, r.verdict.ci_low) for r, s in zip(ordered, ours,
                                                                           strict=True)]},
        text=[r.verdict.label for r in ordered], textposition="outside",
        hovertemplate="%{y}: spread %{x:.4f} (%{text})<extra></extra>"))
    fig.add_trace(go.Bar(
        y=names, x=[r.popoto_spread or 0.0 for r in ordered], orientation="h",
        name=f"popoto {POPOTO_SWEEP_DATE}", marker={"color": POPOTO_COLOR, "opacity": 0.55},
        hovertemplate="%{y}: popoto's spread %{x:.4f}<extra></extra>"))
    fig.add_vline(x=SENSITIVE, line={"color": INERT_COLOR, "dash": "dash"})
    fig.update_layout(template=TEMPLATE, barmode="group", height=max(300, 80 + 44 * len(rows)),
                      title="Sensitivity: max − min of the mean score over the grid",
                      xaxis_title=f"spread (dashed: popoto's sensitivity bar {SENSITIVE:g})",
                      margin={"l": 260}, legend={"orientation": "h", "y": -0.08})
    return fig


def sensitivity_rows(rows: Sequence[ConstantSensitivity]) -> list[list[object]]:
    return [[r.constant, r.tier, len(r.families), spread_text(r), r.verdict.label,
             popoto_spread_text(r), r.popoto_best or "-", r.verdict.best,
             f"{len(r.verdict.points)} points ({r.grid_source})", r.study_name] for r in rows]


def sweep_rows(sweeps: Sequence[SweepView]) -> list[list[object]]:
    def num(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    return [[s.name, ", ".join(s.constants), s.points, s.failed, s.best,
             num(s.best_mean, ".4f"), num(s.delta, "+.4f"), s.curve] for s in sweeps]
