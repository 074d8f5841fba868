"""Step 3 of ``tuner report``: write an index page and one page per constant.

The pages are plain files that open offline from any directory: plotly's JavaScript is written
once beside them (``plotly.min.js``, what ``include_plotlyjs="directory"`` does) and every page
loads it by relative path, never from a CDN. Every cell of text is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import plotly.graph_objects as go

from tuner.decisions.ratchet import joint_text
from tuner.studies.contract import contract_text
from tuner.views.figures import (
    deltas_figure,
    fmt,
    response_figure,
    sensitivity_figure,
    validation_lines,
)
from tuner.views.grids import (
    SENSITIVITY_HEADERS,
    SWEEP_HEADERS,
    sensitivity_rows,
    spread_figure,
    sweep_rows,
)
from tuner.views.report_data import ConstantView, ReportData
from tuner.views.robustness_view import robustness_html
from tuner.views.spread_stats import SPREAD_METHOD
from tuner.views.study_data import StudyView

PLOTLY_JS = "plotly.min.js"
INDEX = "index.html"
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
th { background: #f3f3f3; }
.accept { color: #1a9850; font-weight: bold; } .reject { color: #d73027; font-weight: bold; }
.inert { color: #9e9e9e; } .note { color: #555; }
"""
CURVE_NOTE = ("Each trial scores its own sample of train scenarios, so the binned mean mixes the "
              "value's effect with how hard each sample was; the dotted scenario-centred mean "
              "removes the second (flat for a constant that changes nothing). Diamonds and "
              "probes are scored on the whole train pool by the validator.")

GRID_NOTE = ("tuner sensitivity: every grid point scored on the same train scenarios of every "
             "family that reads the constant; spread = max − min of the equal-weight family mean "
             "over the grid, 95% CI by a paired stratified bootstrap over scenarios; popoto's "
             "figure is its own 2026-04-20 sweep (errored points dropped there, scored 0 here).")


class Html(str):
    """Markup built here; any other cell text is escaped."""


@dataclass(frozen=True)
class ReportFiles:
    """What ``write_report`` wrote."""

    index: Path
    pages: list[Path]
    plotly_js: Path

    def to_dict(self) -> dict:
        return {"index": str(self.index), "pages": [str(p) for p in self.pages],
                "plotly_js": str(self.plotly_js)}


def write_report(data: ReportData, out: Path) -> ReportFiles:
    """Write plotly.min.js, one page per constant and the index into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    js = write_plotly_js(out)
    pages = []
    for constant in data.constants:
        path = out / constant.page
        path.write_text(constant_page(data, constant), encoding="utf-8")
        pages.append(path)
    index = out / INDEX
    index.write_text(index_page(data), encoding="utf-8")
    return ReportFiles(index=index, pages=pages, plotly_js=js)


def write_plotly_js(out: Path) -> Path:
    """The installed plotly's bundle, rewritten only when it differs (plotly was upgraded)."""
    from plotly.offline import get_plotlyjs

    path = out / PLOTLY_JS
    text = get_plotlyjs()
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- html pieces


def cell(value: object) -> str:
    return value if isinstance(value, Html) else escape("-" if value is None else str(value))


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> Html:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return Html(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def link(href: str, text: str) -> Html:
    return Html(f'<a href="{escape(href)}">{escape(text)}</a>')


def span(css: str, text: str) -> Html:
    return Html(f'<span class="{css}">{escape(text)}</span>')


def paragraph(text: str, css: str = "") -> Html:
    return Html(f'<p class="{css}">{escape(text)}</p>' if css else f"<p>{escape(text)}</p>")


def figure_div(fig: go.Figure, div_id: str) -> Html:
    return Html(fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                            config={"displaylogo": False, "responsive": True}))


def page(title: str, body: Iterable[str]) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{STYLE}</style>"
            f'<script src="{PLOTLY_JS}"></script></head>\n<body>\n'
            + "\n".join(body) + "\n</body></html>\n")


def decision_span(decision: str | None) -> Html | str:
    if decision == "ACCEPT":
        return span("accept", decision)
    if decision == "REJECT":
        return span("reject", decision)
    return "-"


def delta_ci(mean: float | None, low: float | None, high: float | None) -> str:
    if mean is None:
        return "-"
    return f"{mean:+.4f} [{fmt(low, '+.4f')}, {fmt(high, '+.4f')}]"


# --------------------------------------------------------------------------- index


def index_page(data: ReportData) -> str:
    body = [f"<h1>tuner report — bank {escape(data.bank)}</h1>",
            paragraph(f"Storage {data.storage}; {len(data.constants)} constants. nDCG@5 is the "
                      "mean over scenarios; Δ is proposal minus popoto's default.", "note")]
    if data.constants:
        body += ["<h2>Sensitivity ranking</h2>",
                 f"<p>Spread: {escape(SPREAD_METHOD)}.</p>",
                 figure_div(sensitivity_figure(data.ranking()), "sensitivity"),
                 sensitivity_table(data),
                 "<h2>Train vs validation Δ</h2>",
                 figure_div(deltas_figure(data.proposals()), "deltas"),
                 "<h2>Ratchet decisions</h2>", *ledger_section(data)]
    else:
        body.append(paragraph("No tuning study for this bank yet (run `tuner optimize` or "
                              "`tuner ratchet`); grid studies only.", "note"))
    body += grid_sections(data)
    if data.constants:
        body += ["<h2>Constants</h2>", constants_list(data)]
    return page(f"tuner report {data.bank}", body)


def grid_sections(data: ReportData) -> list[str]:
    """``tuner sensitivity`` beside popoto's sweep, and every ``tuner sweep``, when present."""
    out: list[str] = []
    if data.sensitivity:
        out += ["<h2>Sensitivity beside popoto's sweep</h2>",
                paragraph(GRID_NOTE, "note"),
                figure_div(spread_figure(data.sensitivity), "grid-sensitivity"),
                table(SENSITIVITY_HEADERS, sensitivity_rows(data.sensitivity))]
    if data.sweeps:
        out += ["<h2>Grid sweeps</h2>", table(SWEEP_HEADERS, sweep_rows(data.sweeps))]
    return out


def sensitivity_table(data: ReportData) -> Html:
    rows = []
    for rank, c in enumerate(data.ranking(), start=1):
        study = c.primary_study
        s = study.sensitivity
        status = span("inert", "inert (collapsed)") if s.inert else (
            "signal" if s.note == SPREAD_METHOD else s.note)
        rows.append([rank, link(c.page, c.name), f"{s.spread:.4f}",
                     f"[{fmt(s.ci_low, '.4f')}, {fmt(s.ci_high, '.4f')}]", s.bins,
                     len(study.points), status, study.name])
    return table(["#", "constant", "spread", "95% CI", "bins", "trials", "status", "study"], rows)


def ledger_section(data: ReportData) -> list[str]:
    if data.ledger_name is None:
        return [paragraph(f"No ratchet ledger for bank {data.bank} (run `tuner ratchet`).",
                          "note")]
    pages = {c.name: c.page for c in data.constants}
    rows = []
    for r in data.ledger:
        name = link(pages[r["constant"]], r["constant"]) if r["constant"] in pages else r[
            "constant"]
        rows.append([name, f"{fmt(r['default'])} → {fmt(r['proposal'])}",
                     decision_span(r["decision"]), r["reason"], fmt(r["train_delta"], "+.4f"),
                     delta_ci(r["validation_delta"], r["ci_low"], r["ci_high"]),
                     r["validation_scenarios"], certificate_cell(r), r["trials"],
                     r["study_name"], r["date"]])
    headers = ["constant", "incumbent → proposal", "decision", "reason", "train Δ",
               "screen Δ [95% CI]", "held-out", "certificate (max gain)", "trials", "study",
               "date"]
    return [paragraph(f"Ledger {data.ledger_name}, in decision order.", "note"),
            table(headers, rows), "<h3>Joint check</h3>", *joint_section(data.joint)]


def certificate_cell(record: dict) -> str:
    """The bound on any value's gain for a constant not accepted ('-' for an accepted one)."""
    cert = record.get("certificate") or {}
    if not cert:
        return "-"
    if cert.get("collapsed"):
        return "0 (nothing changed)"
    return f"≤ {max(cert['bound'], 0.0):.4f} ({len(cert.get('values', []))} values)"


def joint_section(joint: dict | None) -> list[str]:
    out: list[str] = [paragraph(joint_text(joint))]
    loo = (joint or {}).get("leave_one_out") or {}
    if loo:
        out.append(table(["left out", "validation Δ of the rest"],
                         [[name, f"{mean:+.4f}"] for name, mean in loo.items()]))
    return out


def constants_list(data: ReportData) -> Html:
    items = "".join(
        f"<li>{link(c.page, c.name)} — {len(c.studies)} "
        f"stud{'y' if len(c.studies) == 1 else 'ies'}; drawn from {escape(c.primary)}</li>"
        for c in data.constants)
    return Html(f"<ul>{items}</ul>")


# --------------------------------------------------------------------------- constant page


def constant_page(data: ReportData, constant: ConstantView) -> str:
    primary = constant.primary_study
    body = [f'<p><a href="{INDEX}">← all constants</a></p>',
            f"<h1>{escape(constant.name)}</h1>",
            paragraph(f"Drawn from study {primary.name}: {constant.why}.", "note"),
            *study_section(primary, "response-0")]
    if constant.record is not None:
        body += ["<h2>Ratchet ledger</h2>", ledger_record_text(constant.record),
                 robustness_html(constant.record.get("robustness"), "robustness-0")]
    if len(constant.studies) > 1:
        body += ["<h2>All studies of this constant</h2>", studies_table(constant)]
        others = [s for s in constant.studies if s.name != primary.name]
        for number, study in enumerate(others, start=1):
            body += [f"<h2>Other study: {escape(study.name)}</h2>",
                     *study_section(study, f"response-{number}")]
    return page(f"{constant.name} — tuner report {data.bank}", body)


def study_section(study: StudyView, div_id: str) -> list[str]:
    s = study.sensitivity
    lines = validation_lines(study.validation)
    out = [figure_div(response_figure(study), div_id),
           paragraph(CURVE_NOTE, "note"),
           paragraph(contract_text(study.contract), "note"),
           f"<h3>Validation of {escape(study.name)}</h3>",
           "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>",
           paragraph(f"Sensitivity: spread {s.spread:.4f} [{fmt(s.ci_low, '.4f')}, "
                     f"{fmt(s.ci_high, '.4f')}] over {s.bins} bins — {s.note}.", "note")]
    v = study.validation
    if v is not None and v.probes:
        rows = [[fmt(p.value), f"{p.score:.4f}",
                 span("reject", "CLIFF") if p.cliff else "safe"] for p in v.probes]
        out.append(table(["probe value", "train nDCG@5", "cliff?"], rows))
    return out


def ledger_record_text(record: dict) -> Html:
    r = record
    text = f" ({r['reason']})" + (f": {r['detail']}" if r["detail"] else "")
    if r["proposal"] is not None:
        delta = delta_ci(r["validation_delta"], r["ci_low"], r["ci_high"])
        text += (f"; {fmt(r['default'])} → {fmt(r['proposal'])}, validation {delta} on "
                 f"{r['validation_scenarios']} held-out scenarios")
    text += f" ({r['date']})"
    certificate = (r.get("certificate") or {}).get("text")
    extra = f"<p>Certificate: {escape(certificate)}</p>" if certificate else ""
    return Html(f"<p>{decision_span(r['decision'])}{escape(text)}</p>{extra}")


def studies_table(constant: ConstantView) -> Html:
    rows = []
    for s in constant.studies:
        v = s.validation
        rows.append([s.name + (" (drawn above)" if s.name == constant.primary else ""), s.kind,
                     len(s.points), "yes" if s.collapsed else "no",
                     decision_span(v.decision if v else None), fmt(v.proposal if v else None),
                     delta_ci(v.mean, v.ci_low, v.ci_high) if v else "-"])
    return table(["study", "kind", "trials", "collapsed", "decision", "proposal",
                  "validation Δ [95% CI]"], rows)
