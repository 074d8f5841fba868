"""Terminal rendering of a ``SensitivityRun``: one row per constant, popoto's figures beside ours.

Rendering only: every number is already in the run's data (what ``--json`` prints and tests
check). The table is also valid Markdown, so a real run pastes straight into
``docs/results.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

from tuner.sensitivity.popoto_sweep import POPOTO_SWEEP_DATE
from tuner.sensitivity.run import MAX_SCENARIOS, ConstantSensitivity, SensitivityRun
from tuner.sensitivity.stats import RESOLUTION, SENSITIVE, TINY, fmt

HEADERS = ("constant", "tier", "families", "scenarios", "our spread [CI]", "status",
           f"popoto's spread ({POPOTO_SWEEP_DATE})", "popoto's best", "our best value")


def spread_text(row: ConstantSensitivity) -> str:
    v = row.verdict
    if v.spread is None:
        return "-"
    return f"{v.spread:.4f} [{v.ci_low:.4f}, {v.ci_high:.4f}]"


def popoto_spread_text(row: ConstantSensitivity) -> str:
    return "-" if row.popoto_spread is None else f"{row.popoto_spread:g}"


def cells(row: ConstantSensitivity) -> list[str]:
    per_family = max(row.scenarios.values()) if row.scenarios else 0
    return [f"`{row.constant}`", str(row.tier), str(len(row.families)), str(per_family),
            spread_text(row),
            row.verdict.label, popoto_spread_text(row), row.popoto_best or "-",
            row.verdict.best]


def table_lines(rows: Sequence[ConstantSensitivity]) -> list[str]:
    """A Markdown table with columns padded for the terminal."""
    grid = [list(HEADERS), *(cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in grid) for i in range(len(HEADERS))]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    return [line(grid[0]), line(["-" * w for w in widths]), *(line(r) for r in grid[1:])]


def note_lines(rows: Sequence[ConstantSensitivity]) -> list[str]:
    """Per constant: grids not popoto's, points outside the search range, failures."""
    notes = []
    for row in rows:
        v = row.verdict
        if row.grid_source != f"popoto {POPOTO_SWEEP_DATE}":
            grid = ", ".join(fmt(p.value) for p in v.points)
            notes.append(f"{row.constant}: grid from {row.grid_source}: {grid}")
        if v.outside:
            notes.append(f"{row.constant}: {', '.join(fmt(x) for x in v.outside)} outside the "
                         f"search range [{fmt(row.search_low)}, {fmt(row.search_high)}] "
                         f"(scored like the rest, flagged; in-range spread "
                         f"{_num(v.spread_in_range)})")
        notes += [f"{row.constant}: {note}" for note in v.notes + row.notes]
    return notes


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def header_lines(run: SensitivityRun) -> list[str]:
    pool = (f"a fixed sample of {run.batch} train scenarios per family (seed {run.seed})"
            if run.batch is not None else "every train scenario of each family, more while "
            "a CI straddles the bar")
    evaluated = sum(r.evaluated for r in run.constants)
    points = sum(len(r.verdict.points) for r in run.constants)
    return [
        f"SENSITIVITY {run.date}: {len(run.constants)} constants, bank {run.bank}, {pool}",
        f"  points {points}: {evaluated} evaluated now, {points - evaluated} resumed; "
        f"{run.seconds:.0f} s this run; storage {run.storage}",
        f"  spread = max − min over the grid of the equal-weight family mean of each family's "
        f"metric; CI: paired stratified bootstrap over scenarios, 95% over all looks "
        f"(Bonferroni). sensitive: CI above {SENSITIVE:g}; inert: CI below {SENSITIVE:g}, "
        f"spread <= {TINY:g}, or nothing changed; at the bar: the CI straddles "
        f"{SENSITIVE:g} within ±{RESOLUTION:g}; borderline: it straddles {SENSITIVE:g} more "
        f"widely at {MAX_SCENARIOS} scenarios per family.",
        "",
    ]


def tally_line(run: SensitivityRun) -> str:
    """Decided and undecided, counted honestly: "at the bar" is undecided too (its band,
    ±RESOLUTION around the bar, is fixed with the design before any run, not after one)."""
    statuses = [r.verdict.status for r in run.constants]
    at_bar, borderline = statuses.count("at the bar"), statuses.count("borderline")
    return (f"decided {len(statuses) - at_bar - borderline} of {len(statuses)} "
            f"({statuses.count('sensitive')} sensitive); undecided {at_bar + borderline} "
            f"({at_bar} at the bar, band ±{RESOLUTION:g} declared before the run; "
            f"{borderline} borderline)")


def sensitivity_text(run: SensitivityRun, *, redis: str | None = None) -> str:
    lines = header_lines(run) + table_lines(run.constants) + ["", tally_line(run)]
    notes = note_lines(run.constants)
    if notes:
        lines += ["", "notes"] + [f"  {n}" for n in notes]
    if redis:
        lines += ["", f"redis {redis}"]
    return "\n".join(lines)
