"""Plain-text renderings for the terminal; the CLI prints these and nothing else."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tuner.catalog import Catalog, Constant

if TYPE_CHECKING:  # type names only: `tuner constants` must not load Optuna
    from tuner.decisions.validation import ValidationResult
    from tuner.studies.study import StudySummary


def fmt_value(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1:
        return str(int(value)) if float(value).is_integer() else f"{value:.4g}"
    return f"{value:.4g}"


def catalog_rows(catalog: Catalog, constants: Iterable[Constant]) -> list[dict]:
    """One machine-readable row per constant (the ``--json`` form of ``tuner constants``)."""
    rows = []
    for c in constants:
        rows.append({
            "name": c.name, "tier": c.tier, "attr": c.attr, "argument": c.argument,
            "default": c.default(), "expected_default": c.expected_default,
            "default_mismatch": c.default_mismatch(), "low": c.low, "high": c.high,
            "log": c.log, "int": c.is_int, "mode": c.mode, "family": c.family,
            "families": list(c.reached_families), "search_low": c.search_low,
            "search_high": c.search_high, "meaning": c.meaning,
            "owner": c.owner, "reach": c.reach, "reason": c.reason,
            "outside_families": list(c.outside_families),
        })
    return rows


def outside_note(rows: list[dict]) -> list[str]:
    """The outside families the rows name (docs/locomo.md), grouped by why they cannot run."""
    from scenarios.outside import outside_reason

    named = sorted({f for r in rows for f in r.get("outside_families", ())})
    by_reason: dict[str, list[str]] = {}
    for family in named:
        by_reason.setdefault(outside_reason(family) or "", []).append(family)
    return [f"outside families {', '.join(families)}: "
            + (f"unavailable ({reason})" if reason else "available (robustness only)")
            for reason, families in by_reason.items()]


def calls_cell(row: dict) -> str:
    """The reach in popoto's own code (``tuner.export.call_sites``), when the row has it."""
    return (row.get("popoto_calls") or {}).get("summary", "")


def catalog_table(rows: list[dict]) -> str:
    header = (f"{'name':36} {'tier':>4} {'default':>8} {'range':>16} {'mode':>5}  "
              f"{'families (own first)':18} {'popoto calls':26} reach")
    lines = [header, "-" * len(header)]
    for r in rows:
        span = f"[{fmt_value(r['low'])}, {fmt_value(r['high'])}]" + ("ʟ" if r["log"] else "")
        reach = r["reach"] if r["reach"] == "reachable" else f"UNREACHABLE: {r['reason']}"
        lines.append(
            f"{r['name']:36} {r['tier']:>4} {fmt_value(r['default']):>8} {span:>16} "
            f"{r['mode']:>5}  {r['family']:18} {calls_cell(r):26} {reach}"
        )
        if len(r["families"]) > 1:
            lines.append(f"{'':36}   also read in: {', '.join(r['families'][1:])}")
        if (r["search_low"], r["search_high"]) != (r["low"], r["high"]):
            why = f" ({r['meaning']})" if r["meaning"] else ""
            lines.append(f"{'':36}   searched in [{fmt_value(r['search_low'])}, "
                         f"{fmt_value(r['search_high'])}]{why}")
        if r["default_mismatch"]:
            lines.append(f"{'':36}   ! {r['default_mismatch']}")
        for site in (r.get("popoto_calls") or {}).get("sites", ()):
            lines.append(f"{'':36}   passes its own value: {site}")
        if r.get("outside_families"):
            lines.append(f"{'':36}   outside check (not tuned on): "
                         f"{', '.join(r['outside_families'])}")
    lines.extend(outside_note(rows))
    lines.append(f"{len(rows)} constants; ʟ = log-scale search")
    return "\n".join(lines)


def sanity_rows(seeds: int) -> list[dict]:
    """Each family's ranking signal at popoto's defaults on its first ``seeds`` train seeds."""
    from scenarios.families import FAMILIES
    from scenarios.sanity import family_sanity
    from tuner.evaluation.engine import BankSpec

    rows = []
    for family in sorted(FAMILIES):
        result = family_sanity(family, BankSpec().pools(family)[0][:seeds])
        rows.append({"family": family, "mean_spearman": round(result.mean_spearman, 4),
                     "short_share": round(result.short_share, 4), "metric": result.metric,
                     "mean_score": round(result.mean_score, 4), "scenarios": result.scenarios,
                     "errors": result.errors, "carries_signal": result.carries_signal,
                     "note": result.note})
    return rows


def sanity_table(rows: list[dict]) -> str:
    header = f"{'family':18} {'spearman':>8} {'< 5 items':>9} {'score':>6}  metric"
    lines = ["Sanity at popoto's defaults (mean Spearman vs the latent truth; < 0.2 says why)",
             header, "-" * len(header)]
    for r in rows:
        flag = "" if r["carries_signal"] else f"  LOW: {r['note'] or 'no reason given'}"
        lines.append(f"{r['family']:18} {r['mean_spearman']:>+8.3f} {r['short_share']:>9.0%} "
                     f"{r['mean_score']:>6.3f}  {r['metric']}{flag}")
    lines.append(f"({rows[0]['scenarios'] if rows else 0} train seeds per family)")
    return "\n".join(lines)


def study_summary_text(summary: StudySummary, *, redis: str) -> str:
    s = summary
    lines = [
        f"STUDY {s.study_name}",
        f"  constant   {s.constant} (families {s.family.replace(',', ', ')})",
        f"  trials     {s.trials_completed} completed of {s.trials_requested} requested"
        + (f", {s.trials_failed} failed" if s.trials_failed else "")
        + f"; {s.seconds:.1f} s this run",
        f"  storage    {s.storage}",
        f"  redis      {redis}",
        f"  default    {fmt_value(s.default_value)} -> mean nDCG@5 "
        + (f"{s.default_score:.4f}" if s.default_score is not None else "not yet evaluated")
        + " (whole train pools, equal weight per family)",
    ]
    if s.collapsed:
        lines.append("  best       none: COLLAPSED, every scenario scored the same under every "
                     "value tried")
    elif s.best_value is not None:
        delta = f" ({s.improvement:+.4f} vs default)" if s.improvement is not None else ""
        lines.append(f"  best       {fmt_value(s.best_value)} -> mean nDCG@5 "
                     f"{s.best_score:.4f}{delta}")
        lines.append("             (paired on the trial's sample: same scenarios at both values; "
                     "validate before trusting)")
    if s.spearman_default is not None:
        lines.append(f"  spearman   {s.spearman_default:+.3f} at the default (sanity check)")
    if s.scenario_errors:
        lines.append(f"  errors     {s.scenario_errors} scenario runs failed and scored 0")
    lines.extend(f"  note       {note}" for note in s.notes)
    return "\n".join(lines)


def validation_text(result: ValidationResult) -> str:
    """The validator's verdict in a few lines: the stages it went through, and a certificate
    when nothing was accepted."""
    r = result
    lines = [f"VALIDATION {r.constant}: {r.decision.label} ({r.decision.reason.value})",
             f"  {r.decision.detail}"]
    if not r.collapsed:
        lines += [
            f"  proposal   {fmt_value(r.proposal)} (best of {len(r.candidates)} re-scored on "
            f"the whole train pools) vs incumbent {fmt_value(r.default)}",
            f"  train      {r.train_delta:+.4f} (equal weight over {len(r.families or [])} "
            "families)",
        ]
        if r.margin_from is not None:
            lines.append(f"  margin     moved from {fmt_value(r.margin_from)} away from a cliff")
        if r.screen is None:
            lines.append("  held-out   not looked at: refused on train evidence")
    for stage in (r.screen, r.confirmation):
        if stage is not None:
            lines += stage_lines(stage)
    if r.confirmation is not None:
        from tuner.decisions.validation import confirmation_bank_text

        lines.append(f"  bank       {confirmation_bank_text(r.banks)}")
    if r.certificate is not None:
        lines.append(f"  certificate {r.certificate.text()}")
    return "\n".join(lines)


def stage_lines(stage: Any) -> list[str]:
    """A screen's or confirmation's deciding look, and each family's delta there."""
    lines = [f"  {stage.stage:10} {stage.outcome}: {stage.mean:+.4f} [{stage.ci_low:+.4f}, "
             f"{stage.ci_high:+.4f}] over {stage.n} scenarios, p {stage.p_value:.3g} "
             f"(look {stage.accepted_at or len(stage.looks)} of {stage.planned_looks})"]
    lines += [f"    {family:18} {delta:+.4f}" for family, delta in stage.families.items()]
    return lines
