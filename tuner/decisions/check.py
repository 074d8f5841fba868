"""``tuner check``: re-verify an earlier ratchet's claims against the popoto installed now.

A ratchet's ledger makes claims about popoto: this accepted value beats the value it replaced;
this default sits inside its certificate (no value looked at could gain more than its bound);
this constant is inert. An edit to popoto (a default, or code that reads one) can break any of
them without anyone noticing, so popoto's CI runs this after every change. It is verification,
not a search: only the values the ledger names are scored, paired against the value they were
compared with, on a modest prefix of the ledger's replication bank (``seeds`` per family), in
the families the claim was made in. Every value is applied by number, so the check means the
same before and after a maintainer applies the exported patch.

One claim per ledger record (``claims_from``), one verdict per claim (``verify``):

- accepted: broken when some family now loses by ``tolerance`` or more (the no-harm margin), or
  when the value no longer beats its reference overall;
- certified (a record with a ``certificate``): broken when some value of the certificate now
  beats the incumbent by more than its bound + ``tolerance``, naming the family where it moved
  most;
- inert ("no sensitivity", or a collapsed certificate): broken when a value moves some family's
  mean by ``tolerance`` or more; smaller moves are reported, not failed;
- any other decision without a certificate: the decision stands (nothing to re-measure).

Records are read as dicts and defensively (``record.get``), so ledgers of older and later tuners
both check.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tuner.catalog import Catalog, Constant, UnknownConstantError
from tuner.decisions.comparison import PairedComparison, compare_values
from tuner.decisions.ledger_file import LedgerSnapshot
from tuner.defaults import CONFIRMATION_BASE_SEED
from tuner.evaluation.engine import BankSpec

DEFAULT_CHECK_SEEDS = 30
DEFAULT_TOLERANCE = 0.02  # the gate's no-harm margin (2 x --min-improvement)
DEFAULT_CERTIFICATE_VALUES = 5  # per certificate: those nearest to beating the incumbent
INERT_REASON = "no sensitivity"
CHANGED = 1e-9  # a scenario whose score moved by more than this changed
BANK_TAG = re.compile(r"^b(-?\d+)n(\d+)(?:v(\d+))?$")


class CheckInputError(ValueError):
    """The ledger cannot be checked as given; one line saying what was wrong."""


@dataclass(frozen=True)
class Claim:
    """One ledger record's claim, in the numbers the check scores."""

    constant: str
    kind: str  # "accepted" | "certified" | "inert" | "stands"
    reference: float  # the value the decision compared against (incumbent, else default)
    values: tuple[float, ...]  # the values scored against the reference
    families: tuple[str, ...]
    bounds: tuple[float, ...] = ()  # certified: each value's bound on its gain
    then: dict = field(default_factory=dict)  # what the ledger measured, per family
    label: str = ""  # e.g. "accepted 0.8 over 0.6"


@dataclass(frozen=True)
class Finding:
    """A claim's verdict; ``family`` and ``change`` say where and by how much it moved."""

    constant: str
    kind: str
    label: str
    holds: bool
    summary: str
    family: str | None = None
    now: float | None = None  # the deciding figure now (a family's or the overall mean delta)
    ledger: float | None = None  # the same figure in the ledger, when it has one
    change: float | None = None  # now - ledger (or now - bound for a certificate)
    scores: dict = field(default_factory=dict)  # value -> {family: mean delta}, "overall"


@dataclass
class CheckResult:
    """Every finding, the bank they were measured on, and what the run cost."""

    findings: list[Finding]
    bank: str
    seeds: int
    tolerance: float
    source: str
    popoto: dict
    scenario_runs: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(f.holds for f in self.findings)

    @property
    def broken(self) -> list[Finding]:
        return [f for f in self.findings if not f.holds]

    def to_dict(self) -> dict:
        """Strict JSON: an unbounded certificate value (``inf``) is written as null."""
        return _finite({**asdict(self), "ok": self.ok})


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# --------------------------------------------------------------------------- claims


def claims_from(snapshot: LedgerSnapshot, catalog: Catalog, names: Iterable[str] = (), *,
                certificate_values: int = DEFAULT_CERTIFICATE_VALUES) -> list[Claim]:
    """One claim per record (or per record named in ``names``), in ledger order."""
    wanted = {catalog_name(catalog, n) for n in names}
    claims = []
    for record in snapshot.records:
        constant = resolve(catalog, record["constant"], snapshot.source)
        if wanted and constant.name not in wanted:
            continue
        claims.append(claim_of(record, constant, snapshot.joint,
                               certificate_values=certificate_values))
    return claims


def claim_of(record: Mapping[str, Any], constant: Constant, joint: Mapping[str, Any], *,
             certificate_values: int = DEFAULT_CERTIFICATE_VALUES) -> Claim:
    """What one record claims, read defensively (older and later ledgers).

    A certificate may list many values (a train grid and held-out ones); the budget keeps the
    ``certificate_values`` with the highest bounds, the ones nearest to beating the incumbent.
    """
    extra = record.get("extra") or {}
    reference = _number(record.get("incumbent"), record.get("default"))
    families = tuple(extra.get("families") or ()) or constant.reached_families
    certificate = record.get("certificate") or {}
    if record.get("decision") == "ACCEPT" and record.get("proposal") is not None:
        alone = (joint.get("alone") or {}).get(record["constant"]) or {}
        then = alone.get("families") or extra.get("families") or {}
        value = float(record["proposal"])
        return Claim(constant.name, "accepted", reference, (value,), families, then=dict(then),
                     label=f"accepted {_fmt(value)} over {_fmt(reference)}")
    if certificate.get("collapsed") or (not certificate and record.get("reason") == INERT_REASON):
        listed = [float(v["value"]) for v in _entries(certificate)]
        values = tuple(dict.fromkeys(v for v in listed if not _same(constant, v, reference))) \
            if listed else probe_values(constant, reference)
        return Claim(constant.name, "inert", reference, values,
                     tuple(certificate.get("families") or ()) or families,
                     label=f"inert at {_fmt(reference)}")
    if _entries(certificate):
        overall = _float(certificate.get("bound"), 0.0)
        entries = distinct_values(constant, sorted(
            _entries(certificate), key=lambda v: (-_float(v.get("bound"), overall),
                                                  -_float(v.get("mean"), 0.0))))
        entries = entries[:max(1, certificate_values)]
        return Claim(constant.name, "certified", reference,
                     tuple(float(v["value"]) for v in entries),
                     tuple(certificate.get("families") or ()) or families,
                     bounds=tuple(_float(v.get("bound"), overall) for v in entries),
                     label=f"certified {_fmt(reference)} (bound {_bound(overall)})")
    return Claim(constant.name, "stands", reference, (), families,
                 label=f"{str(record.get('decision', '')).lower()} "
                       f"({record.get('reason', 'no reason')})")


def distinct_values(constant: Constant, entries: Sequence[Mapping[str, Any]]) -> list[dict]:
    """One entry per value, the first in ``entries`` order (the loosest bound, as sorted).

    A certificate can list a value twice, as a grid point and as the held-out proposal (each
    with its own bound); the check scores each value once, so two entries for one value would
    leave one comparison for two bounds. An int constant's values count as equal when they
    round to the same integer (popoto only ever sees that integer).
    """
    kept: dict[float, dict] = {}
    for entry in entries:
        kept.setdefault(_key(constant, float(entry["value"])), dict(entry))
    return list(kept.values())


def _key(constant: Constant, value: float) -> float:
    return float(int(round(value))) if constant.is_int else value


def _same(constant: Constant, value: float, reference: float) -> bool:
    return _key(constant, value) == _key(constant, reference)


def _entries(certificate: Mapping[str, Any]) -> list[dict]:
    """A certificate's value entries that carry a number (others are skipped, not fatal)."""
    return [v for v in certificate.get("values") or ()
            if isinstance(v, Mapping) and _is_number(v.get("value"))]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _float(value: object, default: float) -> float:
    """A ledger number, or ``default`` when absent (JSON null, an older ledger)."""
    return float(value) if _is_number(value) else default


def probe_values(constant: Constant, reference: float) -> tuple[float, ...]:
    """Where an inert constant is probed when the ledger names no values: the search edges."""
    edges = (constant.search_low, constant.search_high)
    if constant.is_int:
        edges = (float(int(-(-edges[0] // 1))), float(int(edges[1] // 1)))
    return tuple(v for v in dict.fromkeys(edges) if v != reference)


def resolve(catalog: Catalog, name: str, source: str) -> Constant:
    try:
        return catalog.resolve(name)
    except UnknownConstantError:
        raise CheckInputError(f"the ledger {source} names {name!r}, which the catalog "
                              f"{catalog.path} does not have; pass the catalog the ratchet "
                              "used with --catalog") from None


def catalog_name(catalog: Catalog, name: str) -> str:
    try:
        return catalog.resolve(name).name
    except UnknownConstantError as exc:
        raise CheckInputError(str(exc)) from None


def _number(*candidates: object) -> float:
    for value in candidates:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    raise CheckInputError("a ledger record has neither an incumbent nor a default number")


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _bound(bound: float) -> str:
    """A bound as the summary shows it; any sign (a value that only lost is bounded below 0),
    and "none" where the ledger could not bound it (one scenario: no variance estimate)."""
    return f"{bound:+.4f}" if math.isfinite(bound) else "none (too few scenarios)"


# --------------------------------------------------------------------------- the bank


def check_bank(snapshot: LedgerSnapshot, *, seeds: int, base_seed: int | None) -> BankSpec:
    """The first ``seeds`` seeds per family of the ledger's replication bank (or ``base_seed``'s).

    Banks are prefixes of each other (seed ids count up from 0), so these are seeds the joint
    check scored and no decision ever saw: the joint check runs on the run's replication bank,
    never on its confirmation bank (``decisions/replication.py``). A ledger from before the
    bank registry names its (fixed) confirmation bank there instead.
    """
    replication = ((snapshot.joint.get("banks") or {}).get("replication") or {}).get("base_seed")
    if base_seed is None and isinstance(replication, int):
        base_seed = replication
    if base_seed is None:
        match = BANK_TAG.match(str(snapshot.joint.get("bank", "")))
        base_seed = int(match.group(1)) if match else CONFIRMATION_BASE_SEED
    return BankSpec(size=seeds, base_seed=base_seed)


def context_of(snapshot: LedgerSnapshot, catalog: Catalog) -> dict[Constant, float]:
    """The ledger's incumbent (values a deployment sets at start-up), applied under every claim."""
    incumbent = snapshot.joint.get("incumbent") or {}
    return {resolve(catalog, name, snapshot.source): float(value)
            for name, value in incumbent.items()}


# --------------------------------------------------------------------------- verdicts


def verify(claim: Claim, constant: Constant, bank: BankSpec, *,
           context: Mapping[Constant, float], tolerance: float) -> Finding:
    """Score the claim's values against its reference and judge it."""
    if claim.kind == "stands":
        return Finding(claim.constant, claim.kind, claim.label, True,
                       "the decision stands (the ledger holds no certificate to re-measure)")
    seeds = {f: bank.bank(f) for f in claim.families}
    reference = {**context, constant: claim.reference}
    comparisons = {v: compare_values({**context, constant: v}, reference, seeds)
                   for v in claim.values}
    scores = {_fmt(v): {**{f: fc.mean for f, fc in c.families.items()}, "overall": c.mean}
              for v, c in comparisons.items()}
    judge = {"accepted": judge_accepted, "certified": judge_certified,
             "inert": judge_inert}[claim.kind]
    finding = judge(claim, comparisons, tolerance)
    return Finding(**{**asdict(finding), "scores": scores})


def judge_accepted(claim: Claim, comparisons: Mapping[float, PairedComparison],
                   tolerance: float) -> Finding:
    (comparison,) = comparisons.values()
    worst = min(comparison.families.values(), key=lambda fc: fc.mean)
    then = claim.then.get(worst.family)
    change = worst.mean - then if then is not None else None
    base = dict(constant=claim.constant, kind=claim.kind, label=claim.label,
                family=worst.family, now=worst.mean, ledger=then, change=change)
    if worst.mean <= -tolerance:
        return Finding(**base, holds=False, summary=(
            f"now loses {worst.mean:+.4f} to {_fmt(claim.reference)} in {worst.family}"
            f"{_then_text(then, change)}: beyond the no-harm margin of {tolerance}"))
    if comparison.mean <= 0:
        return Finding(**base, holds=False, summary=(
            f"no longer beats {_fmt(claim.reference)}: overall {comparison.mean:+.4f} "
            f"(worst in {worst.family}, {worst.mean:+.4f}{_then_text(then, change)})"))
    return Finding(**base, holds=True, summary=(
        f"still beats {_fmt(claim.reference)}: overall {comparison.mean:+.4f}, worst family "
        f"{worst.family} {worst.mean:+.4f}"))


def judge_certified(claim: Claim, comparisons: Mapping[float, PairedComparison],
                    tolerance: float) -> Finding:
    bounds = dict(zip(comparisons, claim.bounds, strict=True))
    excess = {v: c.mean - bounds[v] for v, c in comparisons.items()}
    value = max(excess, key=lambda v: excess[v])
    comparison, bound = comparisons[value], bounds[value]
    moved = max(comparison.families.values(), key=lambda fc: fc.mean)
    base = dict(constant=claim.constant, kind=claim.kind, label=claim.label, family=moved.family,
                now=comparison.mean, ledger=bound, change=excess[value])
    if excess[value] > tolerance:
        return Finding(**base, holds=False, summary=(
            f"{_fmt(value)} now beats {_fmt(claim.reference)} by {comparison.mean:+.4f}, "
            f"above the certificate's bound {_bound(bound)} by {excess[value]:.4f} (most in "
            f"{moved.family}: {moved.mean:+.4f})"))
    return Finding(**base, holds=True, summary=(
        f"inside its certificate: the best value looked at, {_fmt(value)}, gains "
        f"{comparison.mean:+.4f} (bound {_bound(bound)})"))


def judge_inert(claim: Claim, comparisons: Mapping[float, PairedComparison],
                tolerance: float) -> Finding:
    if not comparisons:
        return Finding(claim.constant, claim.kind, claim.label, True,
                       "no value to probe besides the reference")
    moves = {(v, fc.family): fc for v, c in comparisons.items() for fc in c.families.values()}
    (value, family), fc = max(moves.items(), key=lambda kv: abs(kv[1].mean))
    changed = sum(abs(d) > CHANGED for c in comparisons.values() for d in c.deltas.values())
    base = dict(constant=claim.constant, kind=claim.kind, label=claim.label, family=family,
                now=fc.mean, ledger=0.0, change=fc.mean)
    if abs(fc.mean) >= tolerance:
        return Finding(**base, holds=False, summary=(
            f"no longer inert: {_fmt(value)} moves {family} by {fc.mean:+.4f} against "
            f"{_fmt(claim.reference)} ({changed} scenario(s) changed)"))
    if changed:
        return Finding(**base, holds=True, summary=(
            f"still inert within the tolerance: {changed} scenario(s) changed, at most "
            f"{fc.mean:+.4f} in {family}"))
    return Finding(**base, holds=True, summary=(
        f"still inert: {', '.join(_fmt(v) for v in comparisons)} change no scenario"))


def _then_text(then: float | None, change: float | None) -> str:
    if then is None or change is None:
        return ""
    return f" (ledger {then:+.4f}, change {change:+.4f})"


# --------------------------------------------------------------------------- the run


def planned_runs(claims: Sequence[Claim], bank: BankSpec) -> int:
    """Scenario runs the check asks for at most (the memo shares references between claims)."""
    return sum((len(c.values) + 1) * len(c.families) * bank.size
               for c in claims if c.kind != "stands")


@dataclass(frozen=True)
class CheckPlan:
    """What a check will score, settled before any Redis starts (bad input fails first)."""

    snapshot: LedgerSnapshot
    claims: list[Claim]
    constants: dict[str, Constant]
    bank: BankSpec
    context: dict[Constant, float]

    @property
    def runs(self) -> int:
        return planned_runs(self.claims, self.bank)


def plan_check(snapshot: LedgerSnapshot, catalog: Catalog, *, seeds: int = DEFAULT_CHECK_SEEDS,
               base_seed: int | None = None, names: Iterable[str] = (),
               certificate_values: int = DEFAULT_CERTIFICATE_VALUES) -> CheckPlan:
    """Resolve every claim, the bank and the incumbent; raises ``CheckInputError`` on bad input."""
    claims = claims_from(snapshot, catalog, names, certificate_values=certificate_values)
    return CheckPlan(snapshot=snapshot, claims=claims,
                     constants={c.constant: catalog.resolve(c.constant) for c in claims},
                     bank=check_bank(snapshot, seeds=seeds, base_seed=base_seed),
                     context=context_of(snapshot, catalog))


def execute(plan: CheckPlan, *, tolerance: float = DEFAULT_TOLERANCE) -> CheckResult:
    """Score and judge every claim of ``plan`` on the installed popoto."""
    from tuner.evaluation.fingerprint import digest, popoto_source, popoto_version

    started = time.perf_counter()
    findings = [verify(claim, plan.constants[claim.constant], plan.bank, context=plan.context,
                       tolerance=tolerance) for claim in plan.claims]
    return CheckResult(findings=findings, bank=f"b{plan.bank.base_seed}", seeds=plan.bank.size,
                       tolerance=tolerance, source=plan.snapshot.source,
                       popoto={"version": popoto_version(), "source": digest(popoto_source())},
                       scenario_runs=plan.runs, seconds=round(time.perf_counter() - started, 1))


def run_check(snapshot: LedgerSnapshot, catalog: Catalog, *, seeds: int = DEFAULT_CHECK_SEEDS,
              base_seed: int | None = None, tolerance: float = DEFAULT_TOLERANCE,
              names: Iterable[str] = ()) -> CheckResult:
    """Verify every claim of ``snapshot`` (or those of ``names``) on the installed popoto."""
    plan = plan_check(snapshot, catalog, seeds=seeds, base_seed=base_seed, names=names)
    return execute(plan, tolerance=tolerance)
