"""The ratchet gate: one pure function from evidence to a decision with a reason.

It keeps only what beats the baseline: a significant, validated, cliff-safe improvement on
held-out scenarios from a study that showed any signal at all. Reasons are a closed set, so
reports and tests can rely on them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

DEFAULT_MIN_IMPROVEMENT = 0.01


class Reason(StrEnum):
    """Why the gate decided as it did."""

    ACCEPTED = "accepted"
    NO_SENSITIVITY = "no sensitivity"
    NO_VALIDATION_IMPROVEMENT = "no validation improvement"
    NOT_SIGNIFICANT = "not significant"
    TRAIN_REGRESSION = "train regression"
    CLIFF = "cliff"


@dataclass(frozen=True)
class GateEvidence:
    """Everything the gate may look at, nothing else."""

    collapsed: bool
    train_delta: float
    validation_delta: float
    ci_low: float
    ci_high: float
    cliff_at: float | None = None  # the probed value where a cliff was found, if any
    margin_from: float | None = None  # set when the proposal was moved away from a cliff

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    accept: bool
    reason: Reason
    detail: str

    @property
    def label(self) -> str:
        return "ACCEPT" if self.accept else "REJECT"

    def to_dict(self) -> dict:
        return {"decision": self.label, "reason": self.reason.value, "detail": self.detail}


def decide(evidence: GateEvidence, *, min_improvement: float = DEFAULT_MIN_IMPROVEMENT) -> Decision:
    """ACCEPT only a non-collapsed, train-positive, validated, significant, cliff-safe change."""
    e = evidence
    if e.collapsed:
        return Decision(False, Reason.NO_SENSITIVITY,
                        "the study collapsed: no value changed any scenario's score")
    if not e.train_delta > 0:
        return Decision(False, Reason.TRAIN_REGRESSION,
                        f"train delta {e.train_delta:+.4f} is not above 0")
    if not e.validation_delta >= min_improvement:
        return Decision(False, Reason.NO_VALIDATION_IMPROVEMENT,
                        f"validation delta {e.validation_delta:+.4f} < required "
                        f"{min_improvement:+.4f}")
    if not e.ci_low > 0:
        return Decision(False, Reason.NOT_SIGNIFICANT,
                        f"95% CI [{e.ci_low:+.4f}, {e.ci_high:+.4f}] includes 0")
    if e.cliff_at is not None:
        return Decision(False, Reason.CLIFF, f"too close to cliff at {e.cliff_at:.4g}")
    detail = "validated improvement"
    if e.margin_from is not None:
        detail += f"; margin: moved from {e.margin_from:.4g} away from a cliff"
    return Decision(True, Reason.ACCEPTED, detail)
