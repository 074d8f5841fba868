"""Terminal rendering of a ``SweepReport``: table, bars, sparklines, cliffs, statistics.

Rendering only: every number shown here is already in the report, so tests check the data and
``--json`` users see exactly what the table shows.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from tuner.sweeps.plan import Number
from tuner.sweeps.report import Cliff, SweepReport, SweepRow

BAR_WIDTH = 20
BAR_EIGHTHS = " ▏▎▍▌▋▊▉"
SPARKS = "▁▂▃▄▅▆▇█"
FAILED_SPARK = "×"
BEST_MARK = "◀ best"


def fmt_number(value: Number | None) -> str:
    """Grid values as typed (decimal-generated, so 0.15 prints as 0.15)."""
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.10g}"


def fmt_score(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def bar(mean: float | None, width: int = BAR_WIDTH) -> str:
    """nDCG@5 on an absolute 0..1 scale in eighth blocks, so bars compare across sweeps."""
    if mean is None:
        return ""
    eighths = round(min(max(mean, 0.0), 1.0) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (BAR_EIGHTHS[part] if part else "")).ljust(width)


def sparkline(means: Sequence[float | None], lo: float | None = None,
              hi: float | None = None) -> str:
    """One block per point scaled between ``lo`` and ``hi`` (default: the curve's own range).

    A relative scale shows the curve's shape; failed points show as ``×``.
    """
    scored = [m for m in means if m is not None]
    if not scored:
        return FAILED_SPARK * len(means)
    lo = min(scored) if lo is None else lo
    hi = max(scored) if hi is None else hi
    span = hi - lo
    out = []
    for mean in means:
        if mean is None:
            out.append(FAILED_SPARK)
        elif span <= 0:
            out.append(SPARKS[len(SPARKS) // 2 - 1])
        else:
            out.append(SPARKS[min(int((mean - lo) / span * len(SPARKS)), len(SPARKS) - 1)])
    return "".join(out)


def _marks(row: SweepRow) -> str:
    marks = []
    if row.baseline:
        marks.append("default (added)" if row.added else "default")
    if row.best:
        marks.append(BEST_MARK)
    if row.error:
        marks.append(f"FAILED: {row.error}")
    elif row.n_errors:
        marks.append(f"{row.n_errors} scenario errors scored 0")
    return "  ".join(marks)


def sweep_table(report: SweepReport, *, color: bool = False) -> list[str]:
    """One line per grid point, in grid order: values, rank, mean, delta, std, bar, marks."""
    widths = [max(len(name), *(len(fmt_number(r.values[name])) for r in report.rows))
              for name in report.constants]
    head = [name.ljust(w) for name, w in zip(report.constants, widths, strict=True)]
    titles = [*head, "rank", "nDCG@5", "Δ default", "   std", "bar".ljust(BAR_WIDTH)]
    lines = ["  ".join(titles).rstrip(), "  ".join("-" * len(t) for t in titles)]
    for row in report.rows:
        cells = [fmt_number(row.values[n]).ljust(w)
                 for n, w in zip(report.constants, widths, strict=True)]
        mean = fmt_score(row.mean) if row.status == "complete" else "failed"
        line = "  ".join([*cells, str(row.rank).rjust(4), mean.rjust(6),
                          fmt_score(row.delta, signed=True).rjust(9),
                          fmt_score(row.std).rjust(6), bar(row.mean), _marks(row)]).rstrip()
        lines.append(click.style(line, bold=True) if color and row.best else line)
    return lines


def _values_text(values: dict[str, Number]) -> str:
    return ", ".join(f"{name}={fmt_number(v)}" for name, v in values.items())


def best_line(report: SweepReport) -> str:
    best = report.best_row
    if best is None:
        return "best     none: every point failed"
    delta = f" ({fmt_score(best.delta, signed=True)} vs default)" if best.delta is not None else ""
    return f"best     {_values_text(best.values)} -> nDCG@5 {best.mean:.4f}{delta}"


def curve_lines(report: SweepReport) -> list[str]:
    """Sparklines on one shared scale, so a product's curves compare with each other."""
    scored = [m for c in report.curves for m in c.means if m is not None]
    lo, hi = (min(scored), max(scored)) if scored else (None, None)
    span = f"(nDCG@5 {lo:.4f} .. {hi:.4f})" if scored else "(no scores)"
    if len(report.curves) == 1:
        curve = report.curves[0]
        first, last = fmt_number(curve.values[0][0]), fmt_number(curve.values[-1][0])
        return [f"curve    {curve.label} {first} {sparkline(curve.means, lo, hi)} {last}  {span}"]
    lines = [f"curves   over {', '.join(report.curves[0].axis)}, one per "
             f"{report.constants[0]} {span}"]
    width = max(len(c.label) for c in report.curves)
    lines += [f"  {c.label.ljust(width)}  {sparkline(c.means, lo, hi)}" for c in report.curves]
    return lines


def _cliff_text(cliff: Cliff) -> str:
    where = f" at {_values_text(cliff.at)}" if cliff.at else ""
    step = f"{cliff.constant} {fmt_number(cliff.from_value)} -> {fmt_number(cliff.to_value)}"
    if cliff.kind == "fails":
        side = fmt_number(cliff.to_value if cliff.to_mean is None else cliff.from_value)
        return f"  {step}{where}: fails at {side} ({cliff.error})"
    verb = "drops" if cliff.kind == "drop" else "rises"
    return (f"  {step}{where}: mean {verb} {abs(cliff.change or 0):.4f} "
            f"({fmt_score(cliff.from_mean)} -> {fmt_score(cliff.to_mean)})")


def cliff_lines(report: SweepReport, drop: float) -> list[str]:
    if not report.cliffs:
        return [f"cliffs   none (no neighbouring points differ by >= {drop:g} or fail)"]
    return [f"cliffs   neighbouring points whose mean differs by >= {drop:g}, or that fail:",
            *(_cliff_text(c) for c in report.cliffs)]


def stats_lines(report: SweepReport) -> list[str]:
    """The ``--stats`` table: per value, nDCG@5 over scenarios (products pool the others)."""
    if report.stats is None:
        return []
    lines = ["statistics of nDCG@5 over scenarios, per value"]
    for name, entries in report.stats.items():
        width = max(len(name), *(len(fmt_number(e["value"])) for e in entries)) if entries \
            else len(name)
        lines.append(f"  {name.ljust(width)}    mean     std  median     min     max    n")
        for e in entries:
            numbers = "  ".join(fmt_score(e[k]).rjust(6)
                                for k in ("mean", "std", "median", "min", "max"))
            lines.append(f"  {fmt_number(e['value']).ljust(width)}  {numbers}  {e['n']:>3}")
    return lines


def sweep_text(report: SweepReport, *, redis: str | None = None, color: bool = False) -> str:
    """The whole human report: header, table, best, curve(s), cliffs, optional statistics."""
    r = report
    pool = (f"a fixed sample of {r.batch} (seed {r.seed})" if r.batch is not None
            else "the whole train pool")
    header = [
        f"SWEEP {r.study_name}",
        f"  family {r.family}, {len(r.scenarios)} train scenarios ({pool}), bank {r.bank}",
        f"  points {len(r.rows)}: {r.evaluated} evaluated now, {r.resumed} resumed, "
        f"{r.failed} failed; {r.seconds:.1f} s this run",
        f"  storage {r.storage}" + (f"; redis {redis}" if redis else ""),
        "",
    ]
    lines = [*header, *sweep_table(r, color=color), "", best_line(r), *curve_lines(r),
             *cliff_lines(r, r.cliff_drop)]
    lines += [f"note     {note}" for note in r.notes]
    stats = stats_lines(r)
    return "\n".join(lines + ([""] + stats if stats else []))


class SweepProgress:
    """A progress bar on stderr, opened on the first report (when the total is known)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar = None
        self._shown = 0

    def update(self, done: int, total: int) -> None:
        if not self.enabled or total == 0:
            return
        if self._bar is None:
            self._bar = click.progressbar(length=total, label="points", file=sys.stderr,
                                          show_pos=True)
            self._bar.__enter__()
        self._bar.update(done - self._shown)
        self._shown = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
