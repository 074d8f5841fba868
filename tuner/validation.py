"""The validator: turn a finished study into evidence the gate can judge.

1. Noise-robust proposal: the top few trials are re-scored on the *whole* train pool and the
   best of those is proposed, so a lucky sample cannot win.
2. The proposal and the current default run on every validation seed (never seen by a study);
   per-scenario paired deltas give a mean and a paired bootstrap 95% CI (scipy, fixed seed).
3. Cliff safety: the proposal +/- 10% of the search range is probed on the train pool; a drop
   of 0.15 or more in mean nDCG@5 on either side is a cliff. A value further from the cliff
   that keeps the validated improvement is proposed instead ("margin").
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import optuna
from scipy.stats import bootstrap

from scenarios import ScenarioSeed
from tuner.catalog import Constant
from tuner.contract import contract_text
from tuner.evaluation import BankSpec, Evaluation, evaluate_values
from tuner.gate import DEFAULT_MIN_IMPROVEMENT, Decision, GateEvidence, decide
from tuner.study import completed, is_collapsed

CLIFF_DROP = 0.15
PROBE_FRACTION = 0.10
MARGIN_STEPS = 3
DEFAULT_TOP = 5
BOOTSTRAP_SEED = 20261123


@dataclass(frozen=True)
class PairedComparison:
    """Per-scenario paired deltas (candidate minus reference) with a bootstrap 95% CI."""

    mean: float
    ci_low: float
    ci_high: float
    n: int
    deltas: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def paired_comparison(
    candidate: Evaluation, reference: Evaluation, *, seed: int = BOOTSTRAP_SEED
) -> PairedComparison:
    """Pair scenarios by label; bootstrap the mean delta (BCa, falling back to percentile)."""
    ref = reference.by_label()
    deltas = {label: score - ref[label] for label, score in candidate.by_label().items()}
    values = np.array(list(deltas.values()), dtype=float)
    mean = float(values.mean()) if len(values) else 0.0
    if len(values) < 2 or float(np.ptp(values)) == 0.0:
        return PairedComparison(mean, mean, mean, len(values), deltas)
    low, high = _bootstrap_ci(values, seed)
    return PairedComparison(mean, low, high, len(values), deltas)


def _bootstrap_ci(values: np.ndarray, seed: int) -> tuple[float, float]:
    """BCa first; when scipy cannot compute it (degenerate data) fall back to percentile."""
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the NaN interval is handled right below
            result = bootstrap((values,), np.mean, confidence_level=0.95, n_resamples=9999,
                               method=method, rng=np.random.default_rng(seed))
        low, high = result.confidence_interval
        if math.isfinite(low) and math.isfinite(high):
            return float(low), float(high)
    return float(values.mean()), float(values.mean())


class TrainScores:
    """Mean train nDCG@5 per value, each evaluated once on the whole train pool."""

    def __init__(self, constant: Constant, pool: Sequence[ScenarioSeed],
                 baseline: Mapping[Constant, float]) -> None:
        self.constant, self.pool, self.baseline = constant, pool, dict(baseline)
        self._cache: dict[float, Evaluation] = {}

    def evaluation(self, value: float) -> Evaluation:
        key = float(value)
        if key not in self._cache:
            values = {**{c: v for c, v in self.baseline.items() if c != self.constant},
                      self.constant: value}
            self._cache[key] = evaluate_values(values, self.pool)
        return self._cache[key]

    def __call__(self, value: float) -> float:
        return self.evaluation(value).mean_ndcg


@dataclass
class ValidationResult:
    """The validator's findings for one constant and the gate's decision on them."""

    constant: str
    default: float
    proposal: float | None
    collapsed: bool
    candidates: list[dict]
    train_default: float | None
    train_proposal: float | None
    train_delta: float
    validation: PairedComparison | None
    cliff: dict
    margin_from: float | None
    evidence: GateEvidence
    decision: Decision
    trials: int

    def to_dict(self) -> dict:
        data = asdict(self)
        data["decision"] = self.decision.to_dict()
        data["evidence"] = self.evidence.to_dict()
        return data


def probe_points(constant: Constant, value: float) -> list[float]:
    """value -/+ 10% of the search range (in log space for log ranges), inside the range."""
    points = []
    for sign in (-1, 1):
        if constant.log:
            ratio = (constant.high / constant.low) ** PROBE_FRACTION
            probe = value * ratio**sign
        else:
            probe = value + sign * PROBE_FRACTION * (constant.high - constant.low)
        probe = min(max(probe, constant.low), constant.high)
        if constant.is_int:
            probe = float(round(probe))
        if not math.isclose(probe, value):
            points.append(probe)
    return points


def find_cliff(constant: Constant, value: float, train: TrainScores) -> float | None:
    """The probed neighbour where mean nDCG@5 drops by CLIFF_DROP or more, if any."""
    here = train(value)
    drops = [(here - train(p), p) for p in probe_points(constant, value)]
    cliffs = [p for drop, p in sorted(drops, reverse=True) if drop >= CLIFF_DROP]
    return cliffs[0] if cliffs else None


def margin_candidates(constant: Constant, value: float, cliff: float) -> list[float]:
    """Values stepping away from the cliff, 10% of the range at a time, inside the range."""
    away = 1 if cliff < value else -1
    out, current = [], value
    for _ in range(MARGIN_STEPS):
        nxt = [p for p in probe_points(constant, current) if (p - current) * away > 0]
        if not nxt:
            break
        current = nxt[0]
        out.append(current)
    return out


def choose_proposal(
    done: list[optuna.trial.FrozenTrial], constant: Constant, train: TrainScores, top: int
) -> tuple[float, list[dict]]:
    """Re-score the top ``top`` distinct values on the whole train pool; best one wins."""
    ranked = sorted(done, key=lambda t: (-t.value, t.number))
    values: list[float] = []
    for trial in ranked:
        value = trial.params[constant.name]
        if value not in values:
            values.append(value)
        if len(values) == top:
            break
    candidates = [{"value": v, "train": train(v)} for v in values]
    best = max(candidates, key=lambda c: c["train"])
    return best["value"], candidates


def validate_study(
    study: optuna.Study,
    constant: Constant,
    *,
    bank: BankSpec | None = None,
    baseline: Mapping[Constant, float] | None = None,
    default: float | None = None,
    top: int = DEFAULT_TOP,
    min_improvement: float = DEFAULT_MIN_IMPROVEMENT,
) -> ValidationResult:
    """Validate a study's proposal against the default on held-out seeds, then gate it."""
    bank = bank or BankSpec()
    baseline = dict(baseline or {})
    default = baseline.get(constant, constant.default()) if default is None else default
    done = completed(study)
    train_pool, validation_pool = bank.pools(constant.family)
    if not done or is_collapsed(done):
        return _collapsed_result(constant, default, len(done), min_improvement)
    train = TrainScores(constant, train_pool, baseline)
    proposal, candidates = choose_proposal(done, constant, train, top)
    validate = ValidationRun(constant, validation_pool, baseline, default)
    comparison = validate(proposal)
    cliff, margin_from = find_cliff(constant, proposal, train), None
    if cliff is not None:
        shifted = _shift_from_cliff(constant, proposal, cliff, train, validate, default,
                                    min_improvement)
        if shifted is not None:
            margin_from, proposal, comparison, cliff = proposal, shifted[0], shifted[1], None
    evidence = GateEvidence(
        collapsed=False, train_delta=train(proposal) - train(default),
        validation_delta=comparison.mean, ci_low=comparison.ci_low, ci_high=comparison.ci_high,
        cliff_at=cliff, margin_from=margin_from,
    )
    return ValidationResult(
        constant=constant.name, default=default, proposal=proposal, collapsed=False,
        candidates=candidates, train_default=train(default), train_proposal=train(proposal),
        train_delta=evidence.train_delta, validation=comparison,
        cliff={"probes": {str(p): train(p) for p in probe_points(constant, proposal)},
               "cliff_at": cliff, "drop": CLIFF_DROP},
        margin_from=margin_from, evidence=evidence,
        decision=decide(evidence, min_improvement=min_improvement), trials=len(done),
    )


class ValidationRun:
    """Runs values against the default on the validation pool, evaluating each value once."""

    def __init__(self, constant: Constant, pool: Sequence[ScenarioSeed],
                 baseline: Mapping[Constant, float], default: float) -> None:
        self.scores = TrainScores(constant, pool, baseline)  # same cache, other pool
        self.default = default

    def __call__(self, value: float) -> PairedComparison:
        return paired_comparison(self.scores.evaluation(value),
                                 self.scores.evaluation(self.default))


def _shift_from_cliff(
    constant: Constant, proposal: float, cliff: float, train: TrainScores,
    validate: ValidationRun, default: float, min_improvement: float,
) -> tuple[float, PairedComparison] | None:
    """The nearest value away from the cliff that is cliff-safe and keeps the improvement."""
    for candidate in margin_candidates(constant, proposal, cliff):
        if find_cliff(constant, candidate, train) is not None:
            continue
        if not train(candidate) > train(default):
            continue
        comparison = validate(candidate)
        if comparison.mean >= min_improvement and comparison.ci_low > 0:
            return candidate, comparison
    return None


def _collapsed_result(constant: Constant, default: float, trials: int,
                      min_improvement: float) -> ValidationResult:
    evidence = GateEvidence(collapsed=True, train_delta=0.0, validation_delta=0.0,
                            ci_low=0.0, ci_high=0.0)
    return ValidationResult(
        constant=constant.name, default=default, proposal=None, collapsed=True, candidates=[],
        train_default=None, train_proposal=None, train_delta=0.0, validation=None,
        cliff={}, margin_from=None, evidence=evidence,
        decision=decide(evidence, min_improvement=min_improvement), trials=trials,
    )


def validation_note(result: ValidationResult) -> str:
    """The markdown note optuna-dashboard shows on the study."""
    r = result
    lines = [f"## Validation of `{r.constant}`", "",
             f"**Decision: {r.decision.label}** ({r.decision.reason.value}): {r.decision.detail}",
             "", "| | value |", "|---|---|", f"| default | {r.default} |",
             f"| proposal | {r.proposal if r.proposal is not None else '-'} |",
             f"| completed trials | {r.trials} |"]
    if r.collapsed:
        lines.append("| study | collapsed: no value changed any scenario's score |")
    else:
        v = r.validation
        assert v is not None
        lines += [
            f"| train Δ (whole train pool) | {r.train_delta:+.4f} |",
            f"| validation Δ ({v.n} held-out scenarios) | {v.mean:+.4f} "
            f"[{v.ci_low:+.4f}, {v.ci_high:+.4f}] (paired bootstrap 95% CI) |",
            f"| cliff (drop ≥ {CLIFF_DROP} at ±10% of range) | "
            f"{'at ' + format(r.cliff['cliff_at'], '.4g') if r.cliff.get('cliff_at') else 'none'}"
            " |",
        ]
        if r.margin_from is not None:
            lines.append(f"| margin | moved from {r.margin_from:.4g} away from a cliff |")
        lines += ["", "Candidates re-scored on the whole train pool:", ""]
        lines += [f"- {c['value']:.6g}: {c['train']:.4f}" for c in r.candidates]
    return "\n".join(lines) + "\n"


def record_validation(study: optuna.Study, result: ValidationResult) -> None:
    """Keep the result on the study (user attr) and as a note optuna-dashboard displays."""
    from optuna_dashboard import save_note

    study.set_user_attr("validation", result.to_dict())
    note = f"{validation_note(result)}\n\n{contract_text(study.user_attrs.get('contract'))}"
    save_note(study, note)
