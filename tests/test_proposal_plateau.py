"""Plateaus, not step edges: when the winning region on train is flat, its middle is proposed.

Fake scorers (no popoto): a step-like response such as AUTO_DISCHARGE_CONFIDENCE_THRESHOLD's on
an unused bank (flat at the default, a step up at 0.2-0.25, another between 0.30 and 0.31, flat
from 0.31 to the search edge at 0.5), where the study found 0.327, 0.02 above a step edge.
"""

from __future__ import annotations

import pytest

from tuner.catalog import Constant
from tuner.decisions.proposal import PLATEAU_TOLERANCE, Proposal, find_plateau

THRESHOLD = Constant(name="threshold", tier=3, family="cyclic", low=0.01, high=0.5, mode="A")


class Counting:
    """A scorer that remembers every value it was asked about."""

    def __init__(self, curve):
        self.curve, self.asked = curve, []

    def __call__(self, value: float) -> float:
        self.asked.append(value)
        return self.curve(value)


def steps(value: float) -> float:
    if value < 0.2:
        return 0.60
    if value < 0.305:
        return 0.63
    return 0.65


def test_a_step_plateau_proposes_its_middle_not_the_value_next_to_the_edge():
    plateau = find_plateau(THRESHOLD, 0.327, steps, steps, 0.1)
    assert plateau["from"] == 0.327
    assert 0.30 <= plateau["low"] <= 0.312  # the step edge, to 10% / 2**3 of the range
    assert plateau["high"] == 0.5  # flat to the search edge
    assert plateau["middle"] == pytest.approx((plateau["low"] + 0.5) / 2)
    assert 0.40 <= plateau["middle"] <= 0.41
    assert steps(plateau["middle"]) == steps(0.327)


def test_values_within_the_tolerance_of_the_best_are_on_the_plateau():
    def nearly_flat(value):  # a shallow slope: 0.001 over the whole plateau
        return 0.65 + 0.001 * (value - 0.31) / 0.19 if value >= 0.31 else 0.60

    plateau = find_plateau(THRESHOLD, 0.327, nearly_flat, nearly_flat, 0.1)
    assert plateau and plateau["high"] == 0.5
    assert 0.5 - 0.327 > 0  # and the tolerance is what the decision records
    assert plateau["tolerance"] == PLATEAU_TOLERANCE


def test_a_peaked_response_keeps_the_best_and_walks_nothing():
    def peak(value):
        return 0.65 - 2.0 * (value - 0.327) ** 2

    train = Counting(peak)
    assert find_plateau(THRESHOLD, 0.327, train, peak, 0.1) == {}
    assert train.asked == []  # the cheap probes decided: nothing scored on the whole pool


def test_the_walk_runs_on_the_probe_pool_and_only_the_middle_is_checked_on_train():
    """Walking the ends on the whole train pool cost more than a study; the probe pool walks,
    the whole pool checks the value that will be proposed."""
    train, probe = Counting(steps), Counting(steps)
    plateau = find_plateau(THRESHOLD, 0.327, train, probe, 0.1)
    assert plateau and len(probe.asked) > 6
    assert set(train.asked) == {0.327, 0.1, plateau["middle"]}


def test_a_flat_region_that_does_not_beat_the_incumbent_is_no_winning_plateau():
    def flat(value):
        return 0.6

    assert find_plateau(THRESHOLD, 0.327, flat, flat, 0.1) == {}


def test_the_decision_names_the_rule_that_chose_the_value():
    proposal = Proposal(THRESHOLD, {}, 0.1, 0.405, False, 11,
                        plateau={"from": 0.327, "low": 0.31, "high": 0.5, "middle": 0.405})
    assert proposal.rule == "plateau middle"
    assert Proposal(THRESHOLD, {}, 0.1, 0.327, False, 11).rule == "best on train"


def test_log_scale_plateaus_take_the_geometric_middle():
    rate = Constant(name="rate", tier=1, family="decay", low=0.01, high=2.0, mode="K", log=True)

    def flat_above(value):
        return 0.7 if value >= 0.2 else 0.6

    plateau = find_plateau(rate, 0.25, flat_above, flat_above, 0.1)
    assert plateau["high"] == 2.0
    assert plateau["middle"] == pytest.approx((plateau["low"] * 2.0) ** 0.5)
