"""The validator on synthetic landscapes (no Redis): proposal choice, tests, cliffs, margin."""

import math

import optuna
import pytest
from optuna.distributions import FloatDistribution

from scenarios.runner import ScenarioResult
from tuner.catalog import Constant
from tuner.decisions import comparison
from tuner.decisions.comparison import compare_evaluations
from tuner.decisions.gate import Reason
from tuner.decisions.proposal import probe_points
from tuner.decisions.validation import validate_study
from tuner.evaluation.engine import BankSpec, Evaluation
from tuner.studies.objective import grid_values

X = Constant(name="x", tier=1, family="decay", low=0.0, high=1.0, mode="C", attr="DECAY_RATE")
# 10 train and 10 held-out scenarios per family in the bank, 60 held out in all; a confirmation
# bank of 60 (looks at 50 and 60).
BANK = BankSpec(size=20, held_out=60)
CONFIRM = BankSpec(size=60, base_seed=7)


def validate(study, constant=X):
    return validate_study(study, constant, bank=BANK, confirmation=CONFIRM)


def install_landscape(monkeypatch, curve):
    """Every scenario scores ``curve(x)`` plus a per-scenario offset that x cannot change."""
    calls = []

    def fake_evaluate(values, seeds):
        x = next(v for c, v in values.items() if c.name == "x") if values else 0.1
        calls.append(x)
        return Evaluation(tuple(
            ScenarioResult(label=s.label, ndcg=curve(x) + 0.001 * (s.seed_id % 7), spearman=0.0,
                           top=(), seconds=0.0) for s in seeds))

    monkeypatch.setattr(comparison, "evaluate_values", fake_evaluate)
    monkeypatch.setattr(comparison, "prefetch", lambda requests: None)  # faked above
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
    result = validate(study)
    assert result.decision.reason == Reason.ACCEPTED
    # the screen stops at its first look (50 held-out scenarios): the answer is clear
    assert result.proposal == 0.6 and result.validation.n == 50
    assert result.screen.passed and result.screen.accepted_at == 1
    assert result.confirmation.passed and list(result.confirmation.families) == ["decay"]
    assert result.train_delta == pytest.approx(smooth_peak(0.6) - smooth_peak(0.1))
    assert result.cliff["cliff_at"] is None and result.certificate is None


def test_a_lucky_sample_does_not_win(monkeypatch):
    """Trial values came from different samples; the whole-pool re-score decides."""
    install_landscape(monkeypatch, smooth_peak)
    study = study_with([(0.1, 0.55), (0.95, 0.99), (0.6, 0.7)])
    result = validate(study)
    assert result.proposal == 0.6
    assert {c["value"] for c in result.candidates} == {0.95, 0.6}  # the best two, re-scored


def cliff_edge(x):
    return 0.5 + 0.4 * x if x <= 0.7 else 0.1


def test_cliff_moves_the_proposal_away_by_a_margin(monkeypatch):
    install_landscape(monkeypatch, cliff_edge)
    study = study_with([(0.1, 0.5), (0.69, 0.8), (0.4, 0.6)])
    result = validate(study)
    assert result.decision.reason == Reason.ACCEPTED
    assert result.margin_from == 0.69
    assert result.proposal == pytest.approx(0.59)
    assert "margin: moved from 0.69" in result.decision.detail


def narrow_spike(x):
    return 0.9 if 0.65 <= x <= 0.7 else (0.5 if x < 0.65 else 0.1)


def test_cliff_without_a_safe_margin_is_rejected(monkeypatch):
    install_landscape(monkeypatch, narrow_spike)
    study = study_with([(0.1, 0.5), (0.68, 0.9), (0.3, 0.5)])
    result = validate(study)
    assert result.decision.reason == Reason.CLIFF
    assert result.decision.detail == "too close to cliff at 0.78"


def test_default_as_best_is_a_train_regression_not_an_accept(monkeypatch):
    install_landscape(monkeypatch, lambda x: 0.9 - abs(x - 0.1))
    result = validate(study_with([(0.1, 0.9), (0.5, 0.5)]))
    assert result.proposal == 0.1 and result.decision.reason == Reason.TRAIN_REGRESSION


def test_collapsed_study_is_rejected_without_evaluating(monkeypatch):
    calls = install_landscape(monkeypatch, smooth_peak)
    study = optuna.create_study(direction="maximize")
    for x in (0.1, 0.5, 0.9):
        study.add_trial(optuna.trial.create_trial(
            params={"x": x}, distributions={"x": FloatDistribution(0.0, 1.0)}, value=0.5,
            user_attrs={"ndcg": {"decay:1": 0.5}}))
    result = validate(study)
    assert result.collapsed and result.decision.reason == Reason.NO_SENSITIVITY
    # nothing held out is looked at; the certificate bounds the fixed grid on the train pool
    # (which a real study has scored already: memoised), never 0
    assert set(calls) <= set(grid_values(X)) | {0.1}
    assert result.certificate.collapsed and result.certificate.bound > 0


def ev(scores):
    return Evaluation(tuple(ScenarioResult(label=k, ndcg=v, spearman=0, top=(), seconds=0)
                            for k, v in scores.items()))


def test_comparison_is_seeded_and_pairs_by_scenario():
    a = {"s": ev({"s:1": 0.9, "s:2": 0.5, "s:3": 0.7, "s:4": 0.6, "s:5": 0.2})}
    b = {"s": ev({"s:5": 0.3, "s:4": 0.4, "s:3": 0.8, "s:2": 0.3, "s:1": 0.6})}
    first, second = compare_evaluations(a, b), compare_evaluations(a, b)
    assert first == second
    assert first.deltas["s:1"] == pytest.approx(0.3) and first.n == 5
    assert first.ci_low < first.mean < first.ci_high
    assert first.p_value > 0.05  # mixed deltas: not significant
    same = compare_evaluations(a, a)
    assert (same.mean, same.p_value) == (0.0, 1.0)


def test_families_weigh_equally_and_each_is_judged():
    """A big family cannot hide a small one's loss: means are per family, then averaged."""
    big = {f"a:{i}": 0.6 for i in range(40)}
    small = {f"b:{i}": 0.5 for i in range(4)}
    candidate = {"a": ev({k: v + 0.05 for k, v in big.items()}),
                 "b": ev({k: v - 0.04 for k, v in small.items()})}
    result = compare_evaluations(candidate, {"a": ev(big), "b": ev(small)})
    assert result.mean == pytest.approx((0.05 - 0.04) / 2)
    assert result.families["b"].mean == pytest.approx(-0.04)
    assert result.losses() == {"b": pytest.approx(-0.04)}


def test_a_loss_in_a_reached_family_is_a_family_regression(monkeypatch):
    """The proposal wins on its own family but loses where popoto also reads it."""
    def fake_evaluate(values, seeds):
        x = next(v for c, v in values.items() if c.name == "xy") if values else 0.1
        return Evaluation(tuple(ScenarioResult(
            label=s.label, ndcg=(smooth_peak(x) if s.family == "decay" else 0.7 - 0.3 * x)
            + 0.001 * (s.seed_id % 7), spearman=0.0, top=(), seconds=0.0) for s in seeds))

    monkeypatch.setattr(comparison, "evaluate_values", fake_evaluate)
    monkeypatch.setattr(comparison, "prefetch", lambda requests: None)  # faked above
    xy = Constant(name="xy", tier=1, family="decay", families=("decay", "confidence"), low=0.0,
                  high=1.0, mode="C", attr="DECAY_RATE")
    study = optuna.create_study(direction="maximize")
    for i, (x, value) in enumerate([(0.1, 0.55), (0.6, 0.8), (0.9, 0.6)]):
        study.add_trial(optuna.trial.create_trial(
            params={"xy": x}, distributions={"xy": FloatDistribution(0.0, 1.0)}, value=value,
            user_attrs={"deltas": {f"decay:{i}": value - 0.55}}))
    result = validate(study, xy)
    assert result.validation.mean > 0.01
    assert result.screen.outcome == "family regression"
    assert result.decision.reason == Reason.FAMILY_REGRESSION
    assert "confidence" in result.decision.detail
    assert set(result.screen.families) == {"decay", "confidence"}
    assert result.screen.regressions == {"confidence": pytest.approx(-0.15, abs=1e-9)}
    assert result.certificate is not None


def test_a_proposal_at_the_search_edge_is_not_accepted(monkeypatch):
    """The best value pressed against the range says the range needs a look, not "accept";
    with no value inside the range that beats the incumbent, nothing is tested."""
    install_landscape(monkeypatch, lambda x: 0.5 + 0.3 * x)
    study = study_with([(0.1, 0.53), (0.995, 0.8), (0.05, 0.51)])
    result = validate(study)
    assert result.decision.reason == Reason.AT_BOUND and "upper bound" in result.decision.detail
    assert result.validation is None  # refused on train: validation never looked at
    assert result.screen is None and result.confirmation is None


def test_the_meaning_interval_and_hard_limits_narrow_the_search(catalog):
    signal = Constant(name="s", tier=1, family="decay", low=0.01, high=0.9, mode="A",
                      attr="COMPETITIVE_SUPPRESSION_SIGNAL", meaning_high=0.5, meaning="x")
    assert (signal.search_low, signal.search_high) == (0.01, 0.5)
    assert signal.edge_distance(0.495) < 0.02
    weight = catalog.resolve("initial_weight")
    assert weight.search_high <= weight.hard_limits()["CO_OCCURRENCE_WEIGHT_CAP"]
    assert weight.edge_distance(weight.hard_limits()["CO_OCCURRENCE_WEIGHT_CAP"]) == 0.0
    hop = catalog.resolve("decay_per_hop")
    assert hop.search_high * 1.0 < 1.0  # CAP * value < 1


def test_probes_are_ten_percent_of_the_range_and_stay_inside():
    assert probe_points(X, 0.5) == pytest.approx([0.4, 0.6])
    assert probe_points(X, 0.0) == pytest.approx([0.1])
    log = Constant(name="r", tier=1, family="decay", low=0.01, high=1.0, mode="C",
                   attr="DECAY_RATE", log=True)
    assert probe_points(log, 0.1) == pytest.approx([0.1 / 100**0.1, 0.1 * 100**0.1])


@pytest.mark.parametrize("name,side", [
    ("COMPETITIVE_SUPPRESSION_SIGNAL", "below"), ("CONTRADICTED_CONFIDENCE_SIGNAL", "below"),
    ("ACTED_CONFIDENCE_SIGNAL", "above"), ("initial_weight", "cap"), ("decay_per_hop", "cap"),
])
def test_studies_never_sample_outside_meaning_or_popotos_limits(catalog, name, side):
    """A suppression signal above 0.5 would corroborate: no trial may even try it."""
    from tuner.studies.objective import suggest_value

    constant = catalog.resolve(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    values = [suggest_value(study.ask(), constant) for _ in range(200)]
    if side == "below":
        assert max(values) <= 0.5 < constant.high
    elif side == "above":
        assert min(values) >= 0.5 > constant.low
    else:
        limit = min(constant.hard_limits().values())
        assert max(values) <= limit


def test_a_best_value_on_the_edge_gives_way_to_the_best_one_inside(monkeypatch):
    """The edge wins on train, but a value inside the range also beats the incumbent: that one
    is tested (and accepted here), and the decision names the edge."""
    install_landscape(monkeypatch, lambda x: 0.5 + 0.3 * x)
    study = study_with([(0.1, 0.53), (0.995, 0.8), (0.5, 0.65), (0.8, 0.74)])
    result = validate(study)
    assert result.proposal == 0.8 and result.decision.reason == Reason.ACCEPTED
    assert "0.995, sat on the upper bound: the range needs a look" in result.decision.detail
    assert result.evidence.bound_from == 0.995


def test_each_validation_confirms_on_a_fresh_bank_kept_on_the_study(monkeypatch):
    """Issue 22: every validate claims its own confirmation bank from the storage; a bank the
    storage spent is refused when asked for, unless reused."""
    from tuner.decisions.validation import record_validation
    from tuner.studies.banks import BankSpentError, fresh_seed
    from tuner.views.formatting import validation_text

    install_landscape(monkeypatch, smooth_peak)
    study = study_with([(0.1, 0.55), (0.6, 0.8), (0.9, 0.6), (0.3, 0.6)])
    first = validate_study(study, X, bank=BANK, confirm_size=60)
    second = validate_study(study, X, bank=BANK, confirm_size=60)
    assert first.decision.accept and second.decision.accept
    assert [r.banks["confirmation"]["base_seed"] for r in (first, second)] == [
        fresh_seed(0), fresh_seed(1)]
    assert second.banks["confirmation"]["tag"] == f"b{fresh_seed(1)}n60"
    record_validation(study, second)
    assert study.user_attrs["banks"]["confirmation"]["base_seed"] == fresh_seed(1)
    assert f"bank       {fresh_seed(1)} (fresh claim #1)" in validation_text(second)
    spent = BankSpec(size=60, base_seed=fresh_seed(0))
    with pytest.raises(BankSpentError, match=f"bank {fresh_seed(0)} is already spent"):
        validate_study(study, X, bank=BANK, confirmation=spent)
    reused = validate_study(study, X, bank=BANK, confirmation=spent, reuse_bank=True)
    assert reused.banks["confirmation"]["reused"] is True
    assert "REUSED" in validation_text(reused)
