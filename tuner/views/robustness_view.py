"""The robustness of an accepted value in ``tuner report``: its gain against each world knob.

One panel per (family, knob) the design swept: the paired gain of the accepted value over its
incumbent at the knob's low end, centre and high end (the other knobs at their defaults) and in
today's world, with its 95% CI, the anytime lower bound the verdict reads, and the no-harm line
at ``-harm_margin``. Every number comes from the ledger record's ``robustness``
(``tuner.decisions.robustness.Robustness.to_dict``); nothing is computed here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tuner.decisions.robustness_report import robustness_text

GAIN_COLOR = "#1f77b4"
FAIL_COLOR = "#d73027"
BOUND_COLOR = "#ff7f0e"
LINE_COLOR = "#444444"
COLUMNS = 3


def knob_panels(data: Mapping) -> dict[tuple[str, str], list[dict]]:
    """Per (family, knob), the rows that move it alone plus the family's default row, by value."""
    rows = data.get("rows", [])
    panels: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if row["kind"] in ("low", "centre", "high"):
            panels.setdefault((row["family"], row["knob"]), []).append(row)
    for (family, knob), members in panels.items():
        members += [r for r in rows if r["family"] == family and r["kind"] == "default"]
        members.sort(key=lambda r: r["knobs"][knob])
    return panels


def robustness_figure(data: Mapping) -> go.Figure | None:
    """Gain against each knob with 95% CIs; None when the record has no knob rows."""
    panels = knob_panels(data)
    if not panels:
        return None
    titles = [f"{family}.{knob}" for family, knob in panels]
    rows_n = math.ceil(len(panels) / COLUMNS)
    fig = make_subplots(rows=rows_n, cols=min(COLUMNS, len(panels)), subplot_titles=titles,
                        horizontal_spacing=0.08, vertical_spacing=0.16)
    margin = float(data.get("harm_margin", 0.0))
    for i, ((_, knob), members) in enumerate(panels.items()):
        row, col = i // COLUMNS + 1, i % COLUMNS + 1
        x = [m["knobs"][knob] for m in members]
        fig.add_trace(go.Scatter(
            x=x, y=[m["mean"] for m in members], mode="lines+markers", name="gain",
            showlegend=i == 0, line={"color": GAIN_COLOR},
            marker={"size": 9, "color": [GAIN_COLOR if m["holds"] else FAIL_COLOR
                                         for m in members]},
            error_y={"type": "data", "symmetric": False,
                     "array": [max(0.0, m["ci_high"] - m["mean"]) for m in members],
                     "arrayminus": [max(0.0, m["mean"] - m["ci_low"]) for m in members]},
            customdata=[[m["kind"], m["n"], m["lower_bound"]] for m in members],
            hovertemplate=f"{knob} = %{{x:.3g}} (%{{customdata[0]}})<br>gain %{{y:+.4f}} over "
                          "%{customdata[1]} scenarios<br>lower bound %{customdata[2]:+.4f}"
                          "<extra></extra>"), row=row, col=col)
        fig.add_trace(go.Scatter(
            x=x, y=[m["lower_bound"] for m in members], mode="markers", name="lower bound",
            showlegend=i == 0, marker={"symbol": "triangle-up", "color": BOUND_COLOR}),
            row=row, col=col)
        fig.add_hline(y=0.0, line={"color": LINE_COLOR, "width": 1}, row=row, col=col)
        fig.add_hline(y=-margin, line={"color": FAIL_COLOR, "dash": "dot", "width": 1},
                      row=row, col=col)
    fig.update_layout(template="plotly_white", height=300 * rows_n + 80,
                      title=f"{data.get('constant')} = {data.get('value'):.4g} vs "
                            f"{data.get('incumbent'):.4g}: gain against each world knob (95% CI; "
                            f"dotted: -harm margin {margin:g})")
    return fig


def robustness_html(data: Mapping | None, div_id: str) -> str:
    """The verdict, the figure and the table of every variant, as one HTML fragment."""
    if not data:
        return ""
    parts = [f"<h2>Robustness over world variants</h2><p>{escape(robustness_text(data))}</p>"]
    fig = robustness_figure(data)
    if fig is not None:
        parts.append(fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                                 config={"displaylogo": False, "responsive": True}))
    head = "".join(f"<th>{h}</th>" for h in (
        "family", "world", "knob values", "n", "gain [95% CI]", "lower bound", "holds"))
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in (
            r["family"], r["kind"] + (f" {r['knob']}" if r.get("knob") else ""),
            ", ".join(f"{k}={v:.3g}" for k, v in r["knobs"].items()), r["n"],
            f"{r['mean']:+.4f} [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]",
            f"{r['lower_bound']:+.4f}", "yes" if r["holds"] else "NO")) + "</tr>"
        for r in data.get("rows", []))
    parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts.append(f'<p class="note">{escape(_design_note(data))}</p>')
    return "\n".join(parts)


def _design_note(data: Mapping) -> str:
    return (f"Paired on the robustness bank (base seed {data.get('base_seed')}), each variant "
            f"walked in looks up to {data.get('max_n')} scenarios and stopped once its bound "
            f"decided; bound: {data.get('bound')} at level {data.get('level')}; Latin hypercube "
            f"seed {data.get('design_seed')}; {data.get('runs')} scenario runs, "
            f"{data.get('seconds')} s.")
