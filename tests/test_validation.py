"""The validator on synthetic landscapes (no Redis): proposal choice, CI, cliffs, margin."""

import math

import optuna
import pytest
from optuna.distributions import FloatDistribution

from scenarios.runner import ScenarioResult
from tuner import validation
from tuner.catalog import Constant
from tuner.evaluation import BankSpec, Evaluation
from tuner.gate import Reason
from tuner.validation import paired_comparison, probe_points, validate_study

X = Constant(name="x", tier=1, family="decay", low=0.0, high=1.0, mode="C", attr="DECAY_RATE")


def install_landscape(monkeypatch, curve):
    """Every scenario scores ``curve(x)`` plus a per-scenario offset that x cannot change."""
    calls = []

    def fake_evaluate(values, seeds):
        x = next(v for c, v in values.items() if c.name == "x") if values else 0.1
        calls.append(x)
        return Evaluation(tuple(
            ScenarioResult(label=s.label, ndcg=curve(x) + 0.001 * (s.seed_id % 7), spearman=0.0,
                           top=(), seconds=0.0) for s in seeds))

    monkeypatch.setattr(validation, "evaluate_values", fake_evaluate)
    return calls


def study_with(points):
    study = optuna.create_study(direction="maximize")
    for i, (x, value) in enumerate(points):
        study.add_trial(optuna.trial.create_trial(
            params={"x": x}, distributions={"x": FloatDistribution(0.0, 1.0)}, value=value,
            user_attrs={"ndcg": {f"decay:{i}": value}, "sampled_seeds": [i]}))
    return study


def smooth_peak(x):
    return 0.5 + 0.3 * math.exp(-(((x - 0.6) / 0.2) ** 2))


def test_smooth_improvement_is_accepted(monkeypatch):
    install_landscape(monkeypatch, smooth_peak)
    study = study_with([(0.1, 0.55), (0.6, 0.8), (0.9, 0.6), (0.3, 0.6)])
    result = validate_study(study, X, bank=BankSpec(size=20))
    assert result.decision.reason == Reason.ACCEPTED
    assert result.proposal == 0.6 and result.validation.n == 6
    assert result.train_delta == pytest.approx(smooth_peak(0.6) - smooth_peak(0.1))
    assert result.cliff["cliff_at"] is None


def test_a_lucky_sample_does_not_win(monkeypatch):
    """Trial values came from different samples; the whole-pool re-score decides."""
    install_landscape(monkeypatch, smooth_peak)
    study = study_with([(0.1, 0.55), (0.95, 0.99), (0.6, 0.7)])
    result = validate_study(study, X, bank=BankSpec(size=20))
    assert result.proposal == 0.6
    assert {c["value"] for c in result.candidates} == {0.1, 0.95, 0.6}


def cliff_edge(x):
    return 0.5 + 0.4 * x if x <= 0.7 else 0.1


def test_cliff_moves_the_proposal_away_by_a_margin(monkeypatch):
    install_landscape(monkeypatch, cliff_edge)
    study = study_with([(0.1, 0.5), (0.69, 0.8), (0.4, 0.6)])
    result = validate_study(study, X, bank=BankSpec(size=20))
    assert result.decision.reason == Reason.ACCEPTED
    assert result.margin_from == 0.69
    assert result.proposal == pytest.approx(0.59)
    assert "margin: moved from 0.69" in result.decision.detail


def narrow_spike(x):
    return 0.9 if 0.65 <= x <= 0.7 else (0.5 if x < 0.65 else 0.1)


def test_cliff_without_a_safe_margin_is_rejected(monkeypatch):
    install_landscape(monkeypatch, narrow_spike)
    study = study_with([(0.1, 0.5), (0.68, 0.9), (0.3, 0.5)])
    result = validate_study(study, X, bank=BankSpec(size=20))
    assert result.decision.reason == Reason.CLIFF
    assert result.decision.detail == "too close to cliff at 0.78"


def test_default_as_best_is_a_train_regression_not_an_accept(monkeypatch):
    install_landscape(monkeypatch, lambda x: 0.9 - abs(x - 0.1))
    result = validate_study(study_with([(0.1, 0.9), (0.5, 0.5)]), X, bank=BankSpec(size=20))
    assert result.proposal == 0.1 and result.decision.reason == Reason.TRAIN_REGRESSION


def test_collapsed_study_is_rejected_without_evaluating(monkeypatch):
    calls = install_landscape(monkeypatch, smooth_peak)
    study = optuna.create_study(direction="maximize")
    for x in (0.1, 0.5, 0.9):
        study.add_trial(optuna.trial.create_trial(
            params={"x": x}, distributions={"x": FloatDistribution(0.0, 1.0)}, value=0.5,
            user_attrs={"ndcg": {"decay:1": 0.5}}))
    result = validate_study(study, X, bank=BankSpec(size=20))
    assert result.collapsed and result.decision.reason == Reason.NO_SENSITIVITY
    assert calls == []


def test_paired_bootstrap_is_seeded_and_pairs_by_scenario():
    def ev(scores):
        return Evaluation(tuple(ScenarioResult(label=k, ndcg=v, spearman=0, top=(), seconds=0)
                                for k, v in scores.items()))

    a = ev({"s:1": 0.9, "s:2": 0.5, "s:3": 0.7, "s:4": 0.6, "s:5": 0.2})
    b = ev({"s:5": 0.3, "s:4": 0.4, "s:3": 0.8, "s:2": 0.3, "s:1": 0.6})
    first, second = paired_comparison(a, b), paired_comparison(a, b)
    assert first == second
    assert first.deltas["s:1"] == pytest.approx(0.3) and first.n == 5
    assert first.ci_low < first.mean < first.ci_high
    assert first.ci_low < 0  # mixed deltas: not significant
    same = paired_comparison(a, a)
    assert (same.mean, same.ci_low, same.ci_high) == (0.0, 0.0, 0.0)


def test_probes_are_ten_percent_of_the_range_and_stay_inside():
    assert probe_points(X, 0.5) == pytest.approx([0.4, 0.6])
    assert probe_points(X, 0.0) == pytest.approx([0.1])
    log = Constant(name="r", tier=1, family="decay", low=0.01, high=1.0, mode="C",
                   attr="DECAY_RATE", log=True)
    assert probe_points(log, 0.1) == pytest.approx([0.1 / 100**0.1, 0.1 * 100**0.1])
