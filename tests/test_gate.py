"""The gate is a pure function: one test per reason, and the order they are checked in."""

import pytest

from tuner.decisions.gate import Decision, GateEvidence, Reason, decide, significant

GOOD = dict(collapsed=False, train_delta=0.05, validation_delta=0.04, ci_low=0.01, ci_high=0.07,
            p_value=0.001, alpha=0.05, screen="passed", floor=1e-5, confirmation="confirmed",
            confirm_delta=0.03, confirm_p=0.0004, confirm_level=0.01)


def evidence(**changes):
    return GateEvidence(**{**GOOD, **changes})


def test_accepts_a_screened_and_confirmed_cliff_safe_improvement():
    decision = decide(evidence())
    assert decision == Decision(True, Reason.ACCEPTED,
                                "confirmed on its own: Δ +0.0300, p 0.0004 < 0.01 "
                                "(H0: mean gain ≤ 0.005)")
    assert decision.to_dict()["decision"] == "ACCEPT"


@pytest.mark.parametrize("changes,reason,detail", [
    ({"collapsed": True}, Reason.NO_SENSITIVITY,
     "the study collapsed: no value changed any scenario's score"),
    ({"train_delta": 0.0}, Reason.TRAIN_REGRESSION, "train delta +0.0000 is not above 0"),
    ({"validation_delta": 0.004, "screen": "futile"}, Reason.NO_VALIDATION_IMPROVEMENT,
     "screen: Δ +0.0040 on the held-out scenarios; its upper bound is below the required "
     "+0.0050"),
    ({"p_value": 0.05, "screen": "not significant"}, Reason.NOT_SIGNIFICANT,
     "screen (not significant): p = 0.05 (H0: mean gain ≤ 0.005) is not below 0.05 "
     "(95% CI [+0.0100, +0.0700])"),
    ({"screen": "harm not ruled out", "unproven": {"decay": -0.001}},
     Reason.HARM_NOT_RULED_OUT, "no loss beyond the no-harm margin is not yet shown absent on "
     "the held-out scenarios in decay -0.0010: more scenarios are needed"),
    ({"confirm_errors": {"candidate": {"decay:3": "ValueError: x"}, "incumbent": {}}},
     Reason.SCENARIO_ERRORS, "on the confirmation bank, 1 scenarios raised under the value "
     "and 0 under the incumbent only (a crash scores 0 and fakes a difference); first: "
     "decay:3: ValueError: x"),
    ({"cliff_at": 0.35}, Reason.CLIFF, "too close to cliff at 0.35"),
    ({"edge_distance": 0.019, "bound": "lower"}, Reason.AT_BOUND,
     "the optimum is at the lower bound (within 2% of the edge): the range needs a look"),
    ({"regressions": {"confidence": -0.03, "cyclic": -0.025}}, Reason.FAMILY_REGRESSION,
     "family confidence loses beyond the no-harm margin on the held-out scenarios "
     "(confidence -0.0300, cyclic -0.0250)"),
    ({"confirm_regressions": {"cyclic": -0.04}}, Reason.FAMILY_REGRESSION,
     "family cyclic loses beyond the no-harm margin on the confirmation bank (cyclic -0.0400)"),
    ({"screen": "test floor", "floor": 0.00195, "alpha": 0.0019}, Reason.TEST_FLOOR,
     "the test cannot reach its level 0.0019: its smallest p-value is 0.00195; more changed "
     "scenarios are needed"),
    ({"confirmation": None, "confirm_p": None, "confirm_level": None}, Reason.NOT_CONFIRMED,
     "passed the screen; not yet confirmed"),
    ({"confirmation": "not confirmed", "confirm_p": 0.02}, Reason.NOT_CONFIRMED,
     "confirmation (not confirmed): Δ +0.0300, p = 0.02 vs Holm level 0.01"),
])
def test_every_reject_reason(changes, reason, detail):
    decision = decide(evidence(**changes))
    assert (decision.accept, decision.reason, decision.detail) == (False, reason, detail)
    assert decision.label == "REJECT"


def test_the_gate_checks_every_p_value_against_its_level_itself():
    """A confirmation that said "confirmed" with a p-value above its level is refused: the
    significance check is the gate's, not only the stage's."""
    assert decide(evidence(confirm_p=0.01)).reason == Reason.NOT_CONFIRMED
    assert decide(evidence(confirm_p=0.0099)).accept
    assert significant(0.0099, 0.01) and not significant(0.01, 0.01)


def test_a_confirmed_value_too_small_to_matter_is_not_accepted():
    assert decide(evidence(confirm_delta=0.004)).reason == Reason.NOT_CONFIRMED


def test_collapse_wins_over_everything_else():
    assert decide(evidence(collapsed=True, cliff_at=1.0, train_delta=-1)).reason == \
        Reason.NO_SENSITIVITY


def test_min_improvement_is_configurable():
    assert decide(evidence(confirm_delta=0.04), min_improvement=0.05).reason == \
        Reason.NOT_CONFIRMED
    assert decide(evidence(validation_delta=0.04, screen="futile"),
                  min_improvement=0.05).reason == Reason.NO_VALIDATION_IMPROVEMENT


def test_margin_is_reported():
    decision = decide(evidence(margin_from=0.5))
    assert decision.accept and "margin: moved from 0.5 away from a cliff" in decision.detail


def test_the_screen_is_a_filter_its_figures_neither_accept_nor_refuse():
    """A passed screen hands the value to the confirmation, whatever its one look showed; only
    the confirmation's test (and the harm and error checks) can accept."""
    assert decide(evidence(validation_delta=-0.01, ci_low=-0.3, p_value=0.9)).accept
    assert not decide(evidence(validation_delta=0.2, p_value=1e-6, confirmation="futile",
                               confirm_p=0.5)).accept


def test_train_side_refusals_need_no_held_out_data():
    unvalidated = dict(validated=False, validation_delta=0.0, p_value=1.0, screen="")
    assert decide(evidence(edge_distance=0.0, **unvalidated)).reason == Reason.AT_BOUND
    assert decide(evidence(cliff_at=0.2, **unvalidated)).reason == Reason.CLIFF


def test_a_family_regression_refuses_even_a_large_overall_gain():
    decision = decide(evidence(validation_delta=0.2, p_value=1e-6,
                               regressions={"write_filter": -0.031}))
    assert decision.reason == Reason.FAMILY_REGRESSION and "write_filter" in decision.detail


def test_reasons_are_a_closed_set():
    assert {r.value for r in Reason} == {"accepted", "no sensitivity",
                                         "no validation improvement", "not significant",
                                         "train regression", "cliff", "at bound",
                                         "family regression", "test floor", "not confirmed",
                                         "harm not ruled out", "scenario errors"}


def test_an_accept_states_its_lower_bound_and_the_last_look():
    decision = decide(evidence(confirm_lower_bound=0.011,
                               confirm_latest={"look": 3, "mean": 0.025, "n": 112}))
    assert decision.accept
    assert "mean gain ≥ +0.0110" in decision.detail
    assert "last look 3: Δ +0.0250 over 112" in decision.detail
