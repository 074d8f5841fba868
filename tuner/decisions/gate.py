"""The ratchet gate: one pure function from evidence to a decision with a reason.

It keeps only what beats the incumbent: a value from a study that showed any signal, inside the
search space rather than pressed against its edge, cliff-safe on train, that passed the screen
on the decision bank's held-out scenarios and was then confirmed on its own on a bank no search
or screen has touched, harming no family beyond the no-harm margin. Reasons are a closed set,
so reports and tests can rely on them. ``significant`` is the one p-value comparison every
stage makes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum

from tuner.defaults import DEFAULT_MIN_IMPROVEMENT, DEFAULT_SCREEN_ALPHA

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
    TEST_FLOOR = "test floor"  # the old sign-flip design only; kept to read old ledgers
    NOT_CONFIRMED = "not confirmed"
    HARM_NOT_RULED_OUT = "harm not ruled out"
    SCENARIO_ERRORS = "scenario errors"


def significant(p_value: float, level: float) -> bool:
    """Strictly below the level: the comparison every look of every stage makes."""
    return p_value < level


@dataclass(frozen=True)
class GateEvidence:
    """Everything the gate may look at, nothing else.

    ``validated`` is False when a train-side check already refuses: the held-out scenarios are
    then never looked at, so it costs no look. The screen's figures are those of its deciding
    look (``p_value`` against ``alpha``, that look's share of the screen level); the
    confirmation's likewise (``confirm_p`` against ``confirm_level``, its Holm share).
    """

    collapsed: bool
    train_delta: float
    validation_delta: float = 0.0
    ci_low: float = 0.0
    ci_high: float = 0.0
    p_value: float = 1.0
    alpha: float = DEFAULT_SCREEN_ALPHA
    validated: bool = True
    cliff_at: float | None = None  # the probed value where a cliff was found, if any
    margin_from: float | None = None  # set when the proposal was moved away from a cliff
    bound_from: float | None = None  # set when the study's best sat on a search edge
    edge_distance: float = 0.5  # distance to the nearer search edge, fraction of the width
    bound: str = ""  # which edge, for the message
    regressions: dict[str, float] = field(default_factory=dict)  # family -> mean delta
    screen: str = "passed"  # the screen's outcome
    floor: float = 0.0  # the smallest p-value the deciding test could reach
    confirmation: str | None = None  # None: not reached; else the confirmation's outcome
    confirm_delta: float | None = None
    confirm_p: float | None = None
    confirm_level: float | None = None
    confirm_regressions: dict[str, float] = field(default_factory=dict)
    unproven: dict[str, float] = field(default_factory=dict)  # screen: no harm not shown
    errors: dict = field(default_factory=dict)  # screen: one-sided scenario errors
    confirm_lower_bound: float | None = None  # the claim: the mean gain is at least this
    confirm_latest: dict = field(default_factory=dict)  # the last confirmation look
    confirm_unproven: dict[str, float] = field(default_factory=dict)
    confirm_errors: dict = field(default_factory=dict)

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
    """The refusals that need no held-out data (so the held-out pool is not even looked at)."""
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


def _regression(regressions: dict[str, float], where: str) -> Decision:
    worst = min(regressions, key=lambda f: regressions[f])
    named = ", ".join(f"{f} {d:+.4f}" for f, d in sorted(regressions.items()))
    return Decision(False, Reason.FAMILY_REGRESSION,
                    f"family {worst} loses beyond the no-harm margin on {where} ({named})")


def decide(evidence: GateEvidence, *, min_improvement: float = DEFAULT_MIN_IMPROVEMENT) -> Decision:
    """ACCEPT only a sensitive, train-positive, in-range, cliff-safe value that passed the
    screen and was confirmed on its own, harming no reached family beyond the margin."""
    e = evidence
    refused = train_refusal(e)
    if refused is not None:
        return refused
    if e.errors:
        return _errors(e.errors, "the held-out scenarios")
    if e.regressions:
        return _regression(e.regressions, "the held-out scenarios")
    if e.screen == Reason.HARM_NOT_RULED_OUT.value:
        return _unproven(e.unproven, "the held-out scenarios")
    if e.screen == "passed":  # a filter: what it lets through is judged by the confirmation
        return _confirmation(e, min_improvement)
    if e.screen in ("no validation improvement", "futile") \
            or not e.validation_delta >= min_improvement:
        return Decision(False, Reason.NO_VALIDATION_IMPROVEMENT,
                        f"screen: Δ {e.validation_delta:+.4f} on the held-out scenarios; its "
                        f"upper bound is below the required {min_improvement:+.4f}")
    if e.screen == "test floor" or e.floor >= e.alpha:
        return Decision(False, Reason.TEST_FLOOR,
                        f"the test cannot reach its level {e.alpha:.4g}: its smallest p-value "
                        f"is {e.floor:.4g}; more changed scenarios are needed")
    return Decision(False, Reason.NOT_SIGNIFICANT,
                    f"screen ({e.screen}): p = {e.p_value:.4g} (H0: mean gain ≤ "
                    f"{min_improvement:g}) is not below {e.alpha:.4g} (95% CI "
                    f"[{e.ci_low:+.4f}, {e.ci_high:+.4f}])")


def _errors(errors: dict, where: str) -> Decision:
    mine, theirs = errors.get("candidate", {}), errors.get("incumbent", {})
    first = next(iter({**mine, **theirs}.items()), ("?", "?"))
    return Decision(False, Reason.SCENARIO_ERRORS,
                    f"on {where}, {len(mine)} scenarios raised under the value and "
                    f"{len(theirs)} under the incumbent only (a crash scores 0 and fakes a "
                    f"difference); first: {first[0]}: {first[1]}")


def _unproven(unproven: dict[str, float], where: str) -> Decision:
    named = ", ".join(f"{f} {d:+.4f}" for f, d in sorted(unproven.items()))
    return Decision(False, Reason.HARM_NOT_RULED_OUT,
                    f"no loss beyond the no-harm margin is not yet shown absent on {where} "
                    f"in {named}: more scenarios are needed")


def _confirmation(e: GateEvidence, min_improvement: float) -> Decision:
    if e.confirm_errors:
        return _errors(e.confirm_errors, "the confirmation bank")
    if e.confirm_regressions:
        return _regression(e.confirm_regressions, "the confirmation bank")
    if e.confirmation == Reason.HARM_NOT_RULED_OUT.value:
        return _unproven(e.confirm_unproven, "the confirmation bank")
    if e.confirmation is None or e.confirm_p is None or e.confirm_level is None:
        return Decision(False, Reason.NOT_CONFIRMED, "passed the screen; not yet confirmed")
    if e.confirmation == "test floor":
        return Decision(False, Reason.TEST_FLOOR,
                        "confirmation: too few changed scenarios to reach the Holm level")
    if e.confirmation != "confirmed" or not significant(e.confirm_p, e.confirm_level) \
            or (e.confirm_delta or 0.0) < min_improvement:
        return Decision(False, Reason.NOT_CONFIRMED,
                        f"confirmation ({e.confirmation}): Δ {e.confirm_delta or 0.0:+.4f}, "
                        f"p = {e.confirm_p:.4g} vs Holm level {e.confirm_level:.4g}")
    detail = (f"confirmed on its own: Δ {e.confirm_delta:+.4f}, p {e.confirm_p:.3g} < "
              f"{e.confirm_level:.3g} (H0: mean gain ≤ {min_improvement:g})")
    if e.confirm_lower_bound is not None:
        detail += f", mean gain ≥ {e.confirm_lower_bound:+.4f} (anytime bound at that level)"
    latest = e.confirm_latest
    if latest and latest.get("look") is not None and latest.get("n") is not None:
        detail += f"; last look {latest['look']}: Δ {latest['mean']:+.4f} over {latest['n']}"
    if e.margin_from is not None:
        detail += f"; margin: moved from {e.margin_from:.4g} away from a cliff"
    if e.bound_from is not None:
        detail += (f"; the study's best, {e.bound_from:.4g}, sat on the {e.bound or 'search'} "
                   "bound: the range needs a look")
    return Decision(True, Reason.ACCEPTED, detail)
