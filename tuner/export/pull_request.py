"""``tuner export --format pr``: the pull-request description a maintainer pastes with the patch.

A reviewer of a new default asks, in this order: what changes (old -> new, where), on what
evidence (the confirmation on a bank no search saw: Δ, its CI, the bank's seed), what it reaches
in popoto's own code (calls that pass their own value keep behaving as before), which of
popoto's tests it breaks, how robust the gain is, and what was looked at and left alone (each
certificate). Records are read defensively (``getattr``/``get``): ledgers of older tuners lack
some fields, later ones add more.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from tuner.export.call_sites import Reach
from tuner.export.patch import Change, Skipped
from tuner.export.popoto_tests import TestReport

BANK_TAG = re.compile(r"^b(-?\d+)n(\d+)")


def _get(record: Any, key: str, default: Any = None) -> Any:
    if isinstance(record, Mapping):
        return record.get(key, default)
    return getattr(record, key, default)


def _delta(value: Any) -> str:
    return f"{value:+.4f}" if isinstance(value, int | float) else "n/a"


def bank_seed(record: Any, joint: Mapping) -> str:
    """The confirmation bank's base seed: the record's own bank claim, else the joint record's."""
    claim = _get(record, "confirmation_bank") or {}
    for key in ("base_seed", "seed"):
        if isinstance(claim, Mapping) and claim.get(key) is not None:
            return str(claim[key])
    banks = joint.get("banks") if isinstance(joint.get("banks"), Mapping) else {}
    registry = banks.get("confirmation") if isinstance(banks.get("confirmation"), Mapping) else {}
    if registry.get("base_seed") is not None:
        return str(registry["base_seed"])
    for tag in ((claim.get("tag") or claim.get("bank")) if isinstance(claim, Mapping) else None,
                joint.get("bank")):
        match = BANK_TAG.match(str(tag or ""))
        if match:
            return match.group(1)
    return str(joint.get("bank_seed", "n/a"))


def evidence_cell(record: Any, joint: Mapping) -> str:
    """``+0.0310 [+0.0120, +0.0500], 800 scenarios, bank seed 20270101``."""
    n = _get(record, "validation_scenarios")
    return (f"{_delta(_get(record, 'validation_delta'))} [{_delta(_get(record, 'ci_low'))}, "
            f"{_delta(_get(record, 'ci_high'))}]" + (f", {n} scenarios" if n else "")
            + f", bank seed {bank_seed(record, joint)}")


def robustness_cell(record: Any) -> str:
    data = _get(record, "robustness")
    if not data:
        return ""
    try:
        from tuner.decisions.robustness import robustness_text

        return robustness_text(data)
    except Exception:  # noqa: BLE001 - a later or older shape: say the verdict, not a crash
        return str(data.get("verdict", "recorded")) if isinstance(data, Mapping) else "recorded"


def certificate_cell(record: Any) -> str:
    certificate = _get(record, "certificate") or {}
    if certificate.get("text"):
        return str(certificate["text"])
    bound = certificate.get("bound")
    return f"bound {_delta(bound)}" if bound is not None else ""


def pr_markdown(records: Sequence[Any], joint: Mapping | None, *, changes: Sequence[Change],
                skipped: Sequence[Skipped] = (), reach: Mapping[str, Reach] | None = None,
                tests: TestReport | None = None, today: str, ledger_name: str,
                not_exported: Mapping[str, tuple] | None = None) -> str:
    """The whole description: summary, the changes, reach, popoto's tests, the rest."""
    joint, reach = dict(joint or {}), dict(reach or {})
    by_name = {_get(r, "constant"): r for r in records}
    changed = list(dict.fromkeys(c.constant for c in changes))
    lines = [f"## Tune {len(changed)} popoto default(s) (tuner, {today})", ""]
    lines += _summary(joint, changed, tests)
    if not changes:
        lines += ["No accepted value changes popoto's source; below is what was looked at and "
                  "left unchanged, with its certificate.", ""]
    if changes:
        lines += ["### What changes", "",
                  "| constant | where | old → new | confirmation Δ [95% CI] | trials |",
                  "|---|---|---|---|---|"]
        for c in changes:
            record = by_name.get(c.constant)
            lines.append(f"| {c.constant} | `{c.file}:{c.line}` ({c.attr}) | {c.old} → {c.new} "
                         f"| {evidence_cell(record, joint) if record else 'n/a'} | "
                         f"{_get(record, 'trials', 'n/a')} |")
        lines += [""] + _replications([by_name[c] for c in changed if c in by_name])
        lines += ["The maintainers' comments on the changed lines are kept; the tuner's "
                  "evidence is the `# tuner` comment line above each value.", ""]
    lines += _left_out(skipped, not_exported or {})
    lines += _reach_section(changed, reach)
    lines += _tests_section(tests)
    lines += _robustness_section([by_name[c] for c in changed if c in by_name])
    lines += _certified_section(records, changed)
    lines += ["### Reproduce", "",
              f"The decisions are the ledger `{ledger_name}`; re-verify them on your checkout "
              "with `tuner check --ledger <the exported ledger>` (exit 1 names a broken claim)."]
    return "\n".join(lines) + "\n"


def _summary(joint: Mapping, changed: list[str], tests: TestReport | None) -> list[str]:
    lines = []
    if joint.get("mean") is not None and changed:
        ready = "ready for review" if joint.get("ready") else "NOT READY"
        lines.append(f"Together, on {joint.get('n', 'n/a')} confirmation scenarios no search "
                     f"saw: {_delta(joint.get('mean'))} [{_delta(joint.get('ci_low'))}, "
                     f"{_delta(joint.get('ci_high'))}] equal-weight mean nDCG@5 ({ready}).")
    if tests is not None:
        lines.append(f"popoto's tests: {tests.summary()}.")
    return lines + [""] if lines else []


def _replications(records: list[Any]) -> list[str]:
    """Each accepted value's re-test alone on a fresh bank, when the ledger has it."""
    lines = []
    for record in records:
        rep = _get(record, "replication")
        if isinstance(rep, Mapping) and rep.get("mean") is not None:
            verdict = "replicated" if rep.get("replicated") else (
                f"did NOT replicate ({rep.get('reason') or 'no gain'})")
            lines.append(f"- {_get(record, 'constant')}: {verdict} on bank {rep.get('bank')}: "
                         f"{_delta(rep.get('mean'))} [{_delta(rep.get('ci_low'))}, "
                         f"{_delta(rep.get('ci_high'))}] over {rep.get('n', 'n/a')} scenarios")
    return lines + [""] if lines else []


def _left_out(skipped: Sequence[Skipped], not_exported: Mapping[str, tuple]) -> list[str]:
    rows = [f"- {s.constant} → {s.proposal}: not patched ({s.where}): {s.why}" for s in skipped]
    rows += [f"- {name} → {value[0] if isinstance(value, tuple) else value}: not exported: "
             f"{value[1] if isinstance(value, tuple) else ''}"
             for name, value in not_exported.items()]
    return ["### Accepted but not in this patch", "", *rows, ""] if rows else []


def _reach_section(changed: list[str], reach: Mapping[str, Reach]) -> list[str]:
    known = [name for name in changed if name in reach]
    if not known:
        return []
    lines = ["### Reach in popoto's own code", ""]
    for name in known:
        lines.append(f"- **{name}**: {reach[name].text()}")
        lines += [f"  - `{site}`" for site in reach[name].sites()]
    return lines + [""]


def _tests_section(tests: TestReport | None) -> list[str]:
    lines = ["### popoto's tests", ""]
    if tests is None:
        return lines + ["Not run: export with `--popoto-src CHECKOUT` (a checkout with tests/) "
                        "to run the tests touching the changed constants before and after the "
                        "patch.", ""]
    if not tests.ran:
        return lines + [f"Not run: {tests.note}.", ""]
    which = "all tests" if tests.all_tests else (
        "those naming a changed constant or asserting on its old value")
    lines.append(f"{len(tests.before)} test(s) run before and after the patch ({which}).")
    if tests.broken:
        lines += ["", "Broken by the patch (passed before, fail after):", ""]
        lines += [f"- `{b.test}` ({b.after}), pins {', '.join(b.constants) or 'n/a'}"
                  for b in tests.broken]
        lines += ["", "Each pins the old value: update the test with the new default, or keep "
                  "the old value and say why."]
    else:
        lines.append("None broken by the patch.")
    failing = tests.failing_before()
    if failing:
        lines += ["", f"Failing before the patch already: {', '.join(f'`{t}`' for t in failing)}."]
    return lines + [""]


def _robustness_section(records: list[Any]) -> list[str]:
    rows = [(_get(r, "constant"), robustness_cell(r)) for r in records]
    rows = [(name, text) for name, text in rows if text]
    if not rows:
        return []
    return ["### Robustness over world variants", "",
            *[f"- **{name}**: {text}" for name, text in rows], ""]


def _certified_section(records: Sequence[Any], changed: list[str]) -> list[str]:
    rows = [r for r in records if _get(r, "constant") not in changed]
    if not rows:
        return []
    lines = ["### Looked at and left unchanged", "", "| constant | default | decision | "
             "certificate |", "|---|---|---|---|"]
    for r in rows:
        reference = _get(r, "incumbent")
        reference = _get(r, "default") if reference is None else reference
        lines.append(f"| {_get(r, 'constant')} | {reference} | {_get(r, 'decision', '')} "
                     f"({_get(r, 'reason', '')}) | {certificate_cell(r) or 'none'} |")
    return lines + [""]
