"""Step 2 of ``tuner report``: plotly figures drawn from ``report_data`` values only.

Nothing here reads the storage or computes a statistic; every number on a figure comes from the
data step, so what tests check there is what the figures show.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from tuner.views.formatting import fmt_value
from tuner.views.report_data import ConstantView
from tuner.views.study_data import StudyView, ValidationView

ACCEPT_COLOR = "#1a9850"
REJECT_COLOR = "#d73027"
INERT_COLOR = "#9e9e9e"
TRIAL_COLOR = "#1f77b4"
BAND_COLOR = "rgba(31, 119, 180, 0.18)"
DEFAULT_COLOR = "#444444"
PROPOSAL_COLOR = "#ff7f0e"
TEMPLATE = "plotly_white"


def fmt(value: float | None, spec: str | None = None) -> str:
    """Like the terminal output by default (86400, 0.2438); ``spec`` for deltas and scores."""
    if spec is None:
        return fmt_value(value)
    return "-" if value is None else format(value, spec)


def validation_lines(v: ValidationView | None) -> list[str]:
    """The validator's verdict as short lines (figure annotation and page text)."""
    if v is None:
        return ["not validated yet (run `tuner validate` or `tuner ratchet`)"]
    lines = [f"{v.decision} ({v.reason}): {v.detail}"]
    if v.collapsed:
        return lines + ([f"certificate: {v.certificate}"] if v.certificate else [])
    lines.append(f"proposal {fmt(v.proposal)} vs default {fmt(v.default)}; "
                 f"train Δ {fmt(v.train_delta, '+.4f')} on the whole train pool")
    if v.mean is None:
        lines.append("validation not looked at: refused on train evidence")
    else:
        significance = (f"; anytime p {v.p_value:.3g} vs alpha {v.alpha:.3g}"
                        if v.p_value is not None and v.alpha is not None else "")
        lines.append(f"validation Δ {fmt(v.mean, '+.4f')} [{fmt(v.ci_low, '+.4f')}, "
                     f"{fmt(v.ci_high, '+.4f')}] over {v.n} held-out scenarios (paired 95% "
                     f"CI){significance}")
    if v.family_deltas:
        lines.append("by family: " + ", ".join(f"{f} {d:+.4f}" for f, d in v.family_deltas))
    if v.margin_from is not None:
        lines.append(f"margin: moved from {fmt(v.margin_from)} away from a cliff")
    if v.certificate:
        lines.append(f"certificate: {v.certificate}")
    return lines


# --------------------------------------------------------------------------- per constant


def response_figure(study: StudyView) -> go.Figure:
    """Value vs nDCG@5: trials, binned mean ± std, default, proposal, cliff probes, verdict."""
    fig = go.Figure()
    low, high = _y_extent(study)
    _add_band(fig, study)
    _add_trials(fig, study)
    if study.default is not None:
        fig.add_trace(_vertical(study.default, low, high, f"popoto default {fmt(study.default)}",
                                DEFAULT_COLOR, "dash"))
    _add_validation(fig, study.validation, low, high)
    fig.add_annotation(xref="paper", yref="paper", x=0, y=1.02, xanchor="left",
                       yanchor="bottom", align="left", showarrow=False,
                       text="<br>".join(validation_lines(study.validation)[:3]))
    fig.update_layout(template=TEMPLATE, height=560, margin={"t": 120},
                      title={"text": f"{study.constant}: response on the train samples",
                             "y": 0.98},
                      xaxis_title=study.constant + (" (log scale)" if _log_x(study) else ""),
                      yaxis_title="mean nDCG@5", legend={"orientation": "v"})
    if _log_x(study):
        fig.update_xaxes(type="log")
    return fig


def _log_x(study: StudyView) -> bool:
    """Log x as the search space was, unless something drawn sits at or below zero."""
    xs = [p.value for p in study.points] + [study.default or 1.0]
    if study.validation is not None:
        xs += [p.value for p in study.validation.probes] + [study.validation.proposal or 1.0]
    return study.log and all(x > 0 for x in xs)


def _y_extent(study: StudyView) -> tuple[float, float]:
    ys = [p.score for p in study.points]
    ys += [b.mean + s * b.std for b in study.bins for s in (-1, 1)]
    v = study.validation
    if v is not None:
        ys += [p.score for p in v.probes]
        ys += [y for y in (v.train_default, v.train_proposal) if y is not None]
    if not ys:
        return 0.0, 1.0
    pad = max(0.02, 0.05 * (max(ys) - min(ys)))
    return min(ys) - pad, max(ys) + pad


def _add_band(fig: go.Figure, study: StudyView) -> None:
    if not study.bins:
        return
    x = [b.center for b in study.bins]
    upper = [b.mean + b.std for b in study.bins]
    lower = [b.mean - b.std for b in study.bins]
    fig.add_trace(go.Scatter(x=x + x[::-1], y=upper + lower[::-1], fill="toself", mode="lines",
                             fillcolor=BAND_COLOR, line={"width": 0}, hoverinfo="skip",
                             name="binned mean ± std"))
    fig.add_trace(go.Scatter(x=x, y=[b.mean for b in study.bins], mode="lines+markers",
                             line={"color": TRIAL_COLOR, "width": 2}, name="binned mean",
                             customdata=[[b.n, b.low, b.high] for b in study.bins],
                             hovertemplate="mean %{y:.4f}<br>%{customdata[0]} trials in "
                                           "[%{customdata[1]:.4g}, %{customdata[2]:.4g}]"
                                           "<extra></extra>"))
    fig.add_trace(go.Scatter(x=x, y=[b.centred_mean for b in study.bins], mode="lines",
                             line={"color": TRIAL_COLOR, "dash": "dot"},
                             name="scenario-centred mean", hovertemplate="%{y:.4f}<extra></extra>"))


def _add_trials(fig: go.Figure, study: StudyView) -> None:
    fig.add_trace(go.Scatter(
        x=[p.value for p in study.points], y=[p.score for p in study.points], mode="markers",
        marker={"color": TRIAL_COLOR, "size": 7, "opacity": 0.6}, name="trials",
        text=[f"trial {p.number}" + (" (queued default)" if p.enqueued else "")
              for p in study.points],
        hovertemplate="%{text}<br>value %{x:.4g}<br>nDCG@5 %{y:.4f}<extra></extra>"))


def _add_validation(fig: go.Figure, v: ValidationView | None, low: float, high: float) -> None:
    if v is None or v.proposal is None:
        return
    color = ACCEPT_COLOR if v.accepted else REJECT_COLOR
    fig.add_trace(_vertical(v.proposal, low, high, f"proposal {fmt(v.proposal)} ({v.decision})",
                            color, "solid"))
    pool = [(v.default, v.train_default, "default"), (v.proposal, v.train_proposal, "proposal")]
    known = [(x, y, what) for x, y, what in pool if y is not None]
    if known:
        fig.add_trace(go.Scatter(
            x=[k[0] for k in known], y=[k[1] for k in known], mode="markers",
            name="whole train pool", marker={"symbol": "diamond", "size": 12, "color": [
                DEFAULT_COLOR if k[2] == "default" else color for k in known]},
            text=[k[2] for k in known],
            hovertemplate="%{text} on the whole train pool<br>%{y:.4f}<extra></extra>"))
    if v.probes:
        fig.add_trace(go.Scatter(
            x=[p.value for p in v.probes], y=[p.score for p in v.probes], mode="markers",
            name=f"cliff probes (drop ≥ {fmt(v.cliff_drop)} = cliff)",
            marker={"symbol": ["x" if p.cliff else "circle-open" for p in v.probes], "size": 12,
                    "color": [REJECT_COLOR if p.cliff else DEFAULT_COLOR for p in v.probes]},
            text=["CLIFF" if p.cliff else "safe" for p in v.probes],
            hovertemplate="probe %{x:.4g}: %{y:.4f} (%{text})<extra></extra>"))


def _vertical(x: float, low: float, high: float, name: str, color: str, dash: str) -> go.Scatter:
    """A vertical line as a trace: unlike layout shapes it stays right on log axes."""
    return go.Scatter(x=[x, x], y=[low, high], mode="lines", name=name,
                      line={"color": color, "dash": dash, "width": 2}, hoverinfo="name")


# --------------------------------------------------------------------------- index


def sensitivity_figure(ranking: Sequence[ConstantView]) -> go.Figure:
    """Spread of nDCG@5 across values per constant with its CI; inert ones greyed."""
    rows = list(reversed(ranking))  # plotly draws the first bar at the bottom
    sens = [c.primary_study.sensitivity for c in rows]
    fig = go.Figure(go.Bar(
        y=[c.name for c in rows], x=[s.spread for s in sens], orientation="h",
        marker={"color": [INERT_COLOR if s.inert else TRIAL_COLOR for s in sens]},
        error_x={"type": "data", "symmetric": False,
                 "array": [_above(s.ci_high, s.spread) for s in sens],
                 "arrayminus": [_above(s.spread, s.ci_low) for s in sens]},
        text=["inert (collapsed)" if s.inert else "" for s in sens], textposition="outside",
        hovertemplate="%{y}: spread %{x:.4f}<extra></extra>"))
    fig.update_layout(template=TEMPLATE, height=max(260, 60 + 34 * len(rows)),
                      title="Sensitivity: best-bin minus worst-bin nDCG@5 (95% CI)",
                      xaxis_title="spread of scenario-centred nDCG@5 across values",
                      margin={"l": 220})
    return fig


def _above(high: float | None, low: float | None) -> float:
    return 0.0 if high is None or low is None else max(0.0, high - low)


def deltas_figure(proposals: Sequence[tuple[ConstantView, StudyView]]) -> go.Figure:
    """Train Δ vs validation Δ per proposal: points far below the diagonal were overfitted."""
    fig = go.Figure()
    for decision, color in (("ACCEPT", ACCEPT_COLOR), ("REJECT", REJECT_COLOR)):
        chosen = [(c, s, s.validation) for c, s in proposals
                  if s.validation is not None and s.validation.decision == decision]
        if not chosen:
            continue
        fig.add_trace(go.Scatter(
            x=[v.train_delta for _, _, v in chosen], y=[v.mean for _, _, v in chosen],
            mode="markers+text", name=decision, text=[c.name for c, _, _ in chosen],
            textposition="top center", marker={"color": color, "size": 11},
            error_y={"type": "data", "symmetric": False,
                     "array": [_above(v.ci_high, v.mean) for _, _, v in chosen],
                     "arrayminus": [_above(v.mean, v.ci_low) for _, _, v in chosen]},
            customdata=[[s.name, v.reason] for _, s, v in chosen],
            hovertemplate="%{customdata[0]}<br>train Δ %{x:+.4f}, validation Δ %{y:+.4f}"
                          "<br>%{customdata[1]}<extra></extra>"))
    _add_diagonal(fig, proposals)
    if not proposals:
        fig.add_annotation(text="no validated proposal yet", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_layout(template=TEMPLATE, height=480,
                      title="Train Δ vs validation Δ for every proposal (95% CI)",
                      xaxis_title="train Δ (whole train pool)",
                      yaxis_title="validation Δ (held-out scenarios)")
    return fig


def _add_diagonal(fig: go.Figure, proposals: Sequence[tuple[ConstantView, StudyView]]) -> None:
    values = [0.0]
    for _, study in proposals:
        v = study.validation
        values += [x for x in (v.train_delta, v.mean) if x is not None] if v else []
    low, high = min(values), max(values)
    fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="validation = train",
                             line={"color": INERT_COLOR, "dash": "dot"}, hoverinfo="skip"))
    fig.add_hline(y=0, line={"color": DEFAULT_COLOR, "width": 1})
    fig.add_vline(x=0, line={"color": DEFAULT_COLOR, "width": 1})
