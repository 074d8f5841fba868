"""The decision engine's rules on synthetic deltas: each test fails without the rule it pins.

Sequential looks stop when the answer is clear; Neyman allocation feeds noisy families; the
floor rule refuses a level the sign-flip test cannot reach; the no-harm rule is a
non-inferiority test that does not grow stricter with pool size; Holm over confirmations
recycles alpha and ignores catalog order.
"""

import numpy as np
import pytest
from decision_fakes import Landscape

from tuner.decisions.comparison import FamilyComparison, PairedComparison
from tuner.decisions.confirmation import Candidate, confirm
from tuner.decisions.sequential import LookRecord
from tuner.decisions.stages import StageRules, run_screen
from tuner.decisions.stats import paired_test

RULES = StageRules(min_improvement=0.005, harm_margin=0.02)


def test_a_clear_effect_stops_at_the_first_look():
    result = run_screen(Landscape({"f": 0.05}, 0.05).test(800), alpha=0.1, rules=RULES)
    assert result.passed and result.accepted_at == 1 and result.n == 50
    assert len(result.looks) == 1 and result.planned_looks == 5


def test_a_value_that_loses_stops_for_futility_before_the_pool_is_spent():
    result = run_screen(Landscape({"f": -0.02}, 0.1, seed=3).test(800), alpha=0.1, rules=RULES)
    assert not result.passed and result.outcome == "futile"
    assert len(result.looks) < result.planned_looks


def test_new_scenarios_go_where_the_value_changes_something():
    """Neyman allocation: a family with no changed scenario gets no more; a noisy one does."""
    test = Landscape({"still": 0.0, "noisy": 0.0}, {"still": 0.0, "noisy": 0.1}).test(800)
    test.next_look()
    second = test.next_look()
    assert second.sizes["still"] == 50 and second.sizes["noisy"] == 150  # 2 x 100 in all


def test_a_gain_in_one_family_of_seven_is_not_drowned_by_noisy_neutral_ones():
    effects = {"gain": 0.05, **{f"neutral{i}": 0.0 for i in range(6)}}
    screen = run_screen(Landscape(effects, 0.1, seed=1).test(800), alpha=0.1, rules=RULES)
    assert screen.passed, screen
    confirmed = confirm({"x": Candidate(None, 0.0, Landscape(effects, 0.1, seed=2).test(800))},
                        alpha=0.05, rules=RULES)["x"]
    assert confirmed.passed and confirmed.mean > 0
    assert max(confirmed.families, key=confirmed.families.get) == "gain"


def floor_landscape(capacity_changed: int) -> Landscape:
    """A threshold-like value: a big gain on the few scenarios where it binds, 0 elsewhere."""
    landscape = Landscape({"f": 0.0}, 0.0)
    deltas = np.zeros(landscape.size)
    deltas[np.arange(0, 50, 50 // 9)[:9]] = 0.3  # 9 of the first 50
    deltas[50:][::5] = 0.3  # then one in five
    landscape.deltas["f"] = deltas
    return landscape


def test_a_level_below_the_tests_floor_is_reported_not_silently_failed():
    """9 changed scenarios: the exact test's smallest p is 2**-9 = 0.00195 > 0.0019."""
    result = run_screen(floor_landscape(9).test(50), alpha=0.0019, rules=RULES)
    assert result.outcome == "test floor" and "cannot go below 0.00195" in result.detail


def test_more_changed_scenarios_lift_the_floor():
    result = run_screen(floor_landscape(9).test(400), alpha=0.0019, rules=RULES)
    assert result.passed


def test_monte_carlo_is_sized_to_the_level_it_is_judged_at():
    deltas = np.full(40, 0.01)
    assert paired_test([deltas], level=1e-5).p_value < 1e-5
    assert paired_test([deltas]).p_value > 1e-5  # 20,000 draws cannot go below 5e-5


def family(deltas) -> FamilyComparison:
    deltas = np.asarray(deltas, dtype=float)
    test = paired_test([deltas])
    return FamilyComparison("f", test.mean, test.p_value, test.p_harm, test.ci_low,
                            test.ci_high, test.n, {f"f:{i}": d for i, d in enumerate(deltas)})


@pytest.mark.parametrize("n", [50, 2000])
def test_a_loss_within_the_margin_never_blocks_however_large_the_pool(n):
    loss = family(-0.01 + 0.05 * np.random.default_rng(0).standard_normal(n))
    assert loss.mean < 0 and not loss.harms(margin=0.02, alpha=0.05)


def test_a_loss_beyond_the_margin_blocks_once_the_data_show_it():
    rng = np.random.default_rng(1)
    assert family(-0.05 + 0.05 * rng.standard_normal(200)).harms(margin=0.02, alpha=0.05)
    assert not family(-0.05 + 0.05 * rng.standard_normal(3)).harms(margin=0.02, alpha=0.05)


def look(p_value: float, mean: float = 0.03, index: int = 1, weight: float = 1.0) -> LookRecord:
    deltas = family(np.full(60, mean))
    comparison = PairedComparison(mean, mean - 0.01, mean + 0.01, 60, p_value,
                                  {"f": deltas}, 60)
    return LookRecord(index, {"f": 60}, comparison, weight)


class Scripted:
    """A sequential test whose looks are given: for Holm's bookkeeping alone."""

    def __init__(self, *looks: LookRecord) -> None:
        self.script, self.records, self.planned = list(looks), [], len(looks)

    @property
    def done(self) -> bool:
        return len(self.records) == len(self.script)

    @property
    def last(self):
        return self.records[-1] if self.records else None

    def next_look(self) -> LookRecord:
        self.records.append(self.script[len(self.records)])
        return self.records[-1]

    def looks_summary(self) -> list[dict]:
        return [r.to_dict() for r in self.records]


def holm(order: list[str], scripts: dict) -> dict:
    candidates = {name: Candidate(None, 0.0, Scripted(*scripts[name])) for name in order}
    return {name: r.passed for name, r in confirm(candidates, alpha=0.05, rules=RULES).items()}


def test_holm_recycles_alpha_and_ignores_order():
    """B's p = 0.03 clears alpha / 1 but not alpha / 2: it is confirmed only because A was."""
    scripts = {"A": [look(0.001)], "B": [look(0.03)]}
    assert holm(["A", "B"], scripts) == {"A": True, "B": True}
    assert holm(["B", "A"], scripts) == {"B": True, "A": True}
    assert holm(["B"], {"B": [look(0.03)]}) == {"B": True}  # alone: alpha / 1
    assert holm(["A", "B"], {"A": [look(0.2)], "B": [look(0.03)]}) == {"A": False, "B": False}


def test_each_look_is_judged_at_its_share_of_the_level():
    early, late = look(0.02, index=1, weight=0.2), look(0.3, index=2, weight=0.8)
    assert holm(["A"], {"A": [early, late]}) == {"A": False}  # 0.02 > 0.2 * 0.05
    assert holm(["A"], {"A": [look(0.009, weight=0.2), late]}) == {"A": True}


def test_a_value_harmful_beyond_the_margin_is_never_confirmed():
    harmful = look(1e-6)
    bad = family(np.full(60, -0.05))
    harmful.comparison.families["g"] = bad
    assert holm(["A"], {"A": [harmful]}) == {"A": False}


def test_looks_carry_their_fixed_share_of_the_level():
    """Look k of a pool walked 50, 100, ... 800 is judged at n_k / 1550 of the level."""
    test = Landscape({"f": 0.0}, 0.1).test(800)
    weights = [test.next_look().weight for _ in range(3)]
    assert weights == pytest.approx([50 / 1550, 100 / 1550, 200 / 1550])
    assert sum(test.weights) == pytest.approx(1.0)
