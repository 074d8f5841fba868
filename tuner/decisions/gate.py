"""The ratchet gate: one pure function from evidence to a decision with a reason.

It keeps only what beats the baseline: a significant, validated, cliff-safe improvement on
held-out scenarios of every family the constant reaches, from a study that showed any signal,
at a value inside the search space rather than pressed against its edge. Reasons are a closed
set, so reports and tests can rely on them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum

from tuner.defaults import DEFAULT_MIN_IMPROVEMENT

EDGE_FRACTION = 0.02  # a proposal this close to a search edge says "the range needs a look"


class Reason(StrEnum):
    """Why the gate decided as it did."""

    ACCEPTED = "accepted"
    NO_SENSITIVITY = "no sensitivity"
    TRAIN_REGRESSION = "train regression"
    AT_BOUND = "at bound"
    CLIFF = "cliff"
    NO_VALIDATION_IMPROVEMENT = "no validation improvement"
    NOT_SIGNIFICANT = "not significant"
    FAMILY_REGRESSION = "family regression"


@dataclass(frozen=True)
class GateEvidence:
    """Everything the gate may look at, nothing else.

    ``validated`` is False when a train-side check already refuses: validation is then never
    looked at, so it costs no look and no correction.
    """

    collapsed: bool
    train_delta: float
    validation_delta: float
    ci_low: float
    ci_high: float
    p_value: float = 1.0
    alpha: float = 0.05
    validated: bool = True
    cliff_at: float | None = None  # the probed value where a cliff was found, if any
    margin_from: float | None = None  # set when the proposal was moved away from a cliff
    edge_distance: float = 0.5  # distance to the nearer search edge, fraction of the width
    bound: str = ""  # which edge, for the message
    regressions: dict[str, float] = field(default_factory=dict)  # family -> mean delta

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


def train_refusal(evidence: GateEvidence) -> Decision | None:
    """The refusals that need no validation data (so validation is not even looked at)."""
    e = evidence
    if e.collapsed:
        return Decision(False, Reason.NO_SENSITIVITY,
                        "the study collapsed: no value changed any scenario's score")
    if not e.train_delta > 0:
        return Decision(False, Reason.TRAIN_REGRESSION,
                        f"train delta {e.train_delta:+.4f} is not above 0")
    if e.edge_distance < EDGE_FRACTION:
        return Decision(False, Reason.AT_BOUND,
                        f"the optimum is at the {e.bound or 'search'} bound (within "
                        f"{EDGE_FRACTION:.0%} of the edge): the range needs a look")
    if e.cliff_at is not None:
        return Decision(False, Reason.CLIFF, f"too close to cliff at {e.cliff_at:.4g}")
    return None


def decide(evidence: GateEvidence, *, min_improvement: float = DEFAULT_MIN_IMPROVEMENT) -> Decision:
    """ACCEPT only a sensitive, train-positive, in-range, cliff-safe, validated, significant
    change that makes no reached family worse."""
    e = evidence
    refused = train_refusal(e)
    if refused is not None:
        return refused
    if not e.validation_delta >= min_improvement:
        return Decision(False, Reason.NO_VALIDATION_IMPROVEMENT,
                        f"validation delta {e.validation_delta:+.4f} < required "
                        f"{min_improvement:+.4f}")
    if not e.p_value < e.alpha:
        return Decision(False, Reason.NOT_SIGNIFICANT,
                        f"sign-flip p = {e.p_value:.4g} is not below alpha {e.alpha:.4g} "
                        f"(95% CI [{e.ci_low:+.4f}, {e.ci_high:+.4f}])")
    if e.regressions:
        worst = min(e.regressions, key=lambda f: e.regressions[f])
        named = ", ".join(f"{f} {d:+.4f}" for f, d in sorted(e.regressions.items()))
        return Decision(False, Reason.FAMILY_REGRESSION,
                        f"family {worst} gets worse ({named})")
    detail = "validated improvement"
    if e.margin_from is not None:
        detail += f"; margin: moved from {e.margin_from:.4g} away from a cliff"
    return Decision(True, Reason.ACCEPTED, detail)
