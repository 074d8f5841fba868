"""The gate is a pure function: one test per reason, and the order they are checked in."""

import pytest

from tuner.gate import Decision, GateEvidence, Reason, decide

GOOD = dict(collapsed=False, train_delta=0.05, validation_delta=0.04, ci_low=0.01, ci_high=0.07)


def evidence(**changes):
    return GateEvidence(**{**GOOD, **changes})


def test_accepts_a_validated_significant_cliff_safe_improvement():
    decision = decide(evidence())
    assert decision == Decision(True, Reason.ACCEPTED, "validated improvement")
    assert decision.to_dict() == {"decision": "ACCEPT", "reason": "accepted",
                                  "detail": "validated improvement"}


@pytest.mark.parametrize("changes,reason,detail", [
    ({"collapsed": True}, Reason.NO_SENSITIVITY,
     "the study collapsed: no value changed any scenario's score"),
    ({"train_delta": 0.0}, Reason.TRAIN_REGRESSION, "train delta +0.0000 is not above 0"),
    ({"train_delta": -0.02}, Reason.TRAIN_REGRESSION, "train delta -0.0200 is not above 0"),
    ({"validation_delta": 0.009}, Reason.NO_VALIDATION_IMPROVEMENT,
     "validation delta +0.0090 < required +0.0100"),
    ({"validation_delta": -0.01}, Reason.NO_VALIDATION_IMPROVEMENT,
     "validation delta -0.0100 < required +0.0100"),
    ({"ci_low": 0.0}, Reason.NOT_SIGNIFICANT, "95% CI [+0.0000, +0.0700] includes 0"),
    ({"ci_low": -0.01}, Reason.NOT_SIGNIFICANT, "95% CI [-0.0100, +0.0700] includes 0"),
    ({"cliff_at": 0.35}, Reason.CLIFF, "too close to cliff at 0.35"),
])
def test_every_reject_reason(changes, reason, detail):
    decision = decide(evidence(**changes))
    assert (decision.accept, decision.reason, decision.detail) == (False, reason, detail)
    assert decision.label == "REJECT"


def test_collapse_wins_over_everything_else():
    assert decide(evidence(collapsed=True, cliff_at=1.0, train_delta=-1)).reason == \
        Reason.NO_SENSITIVITY


def test_min_improvement_is_configurable():
    assert decide(evidence(validation_delta=0.04), min_improvement=0.05).reason == \
        Reason.NO_VALIDATION_IMPROVEMENT


def test_margin_is_reported():
    decision = decide(evidence(margin_from=0.5))
    assert decision.accept and "margin: moved from 0.5 away from a cliff" in decision.detail


def test_reasons_are_a_closed_set():
    assert {r.value for r in Reason} == {"accepted", "no sensitivity",
                                         "no validation improvement", "not significant",
                                         "train regression", "cliff"}
