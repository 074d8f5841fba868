"""``tuner check``'s Markdown: a summary made for a CI job's summary page (and a terminal).

A CI reader wants the verdict first, then the broken claims in words (constant, family, how far
it moved), then every claim as a table row; the numbers behind each row are in ``--json``.
"""

from __future__ import annotations

from tuner.decisions.check import CheckResult, Finding

MARK = {True: "holds", False: "**BROKEN**"}


def check_markdown(result: CheckResult) -> str:
    """The whole summary: headline, provenance, broken claims, the table of every claim."""
    broken = result.broken
    checked = [f for f in result.findings if f.kind != "stands"]
    verdict = (f"{len(broken)} of {len(checked)} claim(s) BROKEN" if broken
               else f"all {len(checked)} claim(s) hold")
    lines = [f"## tuner check: {verdict}", "",
             f"Ledger {result.source}, checked against popoto {result.popoto.get('version')} "
             f"(source {result.popoto.get('source')}) on the first {result.seeds} seeds per "
             f"family of bank {result.bank}; tolerance {result.tolerance}; "
             f"at most {result.scenario_runs} scenario runs, {result.seconds:.0f} s.", ""]
    if broken:
        lines += ["### Broken claims", ""]
        lines += [f"- **{f.constant}** ({f.label}): {f.summary}" for f in broken]
        lines += ["", "Rerun `tuner ratchet` against this popoto and review the new patch, or "
                  "undo the change that broke the claim.", ""]
    lines += ["| constant | claim | result | family | now | ledger | change |",
              "|---|---|---|---|---|---|---|"]
    lines += [row(f) for f in result.findings]
    stands = [f.constant for f in result.findings if f.kind == "stands"]
    if stands:
        lines += ["", f"Not re-measured (the decision stands; the ledger holds no certificate): "
                  f"{', '.join(stands)}."]
    return "\n".join(lines) + "\n"


def row(finding: Finding) -> str:
    result = "stands" if finding.kind == "stands" else MARK[finding.holds]
    return (f"| {finding.constant} | {finding.label} | {result} | {finding.family or ''} | "
            f"{_num(finding.now)} | {_num(finding.ledger)} | {_num(finding.change)} |")


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:+.4f}"
