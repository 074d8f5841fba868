"""Restore equals fresh: a scenario restored from a template scores exactly as a re-seeded one.

The template of every scenario is written once at popoto's defaults, as a study writes it on its
first evaluation; then every constant that reaches the family runs at its search range's ends,
restored from that template and fresh, on 10 train seeds. A value the setup reads but the family
does not declare in ``setup_reads`` would be restored from the default's template and differ.
"""

import pytest

from scenarios import evaluate_scenario
from scenarios.families import FAMILIES
from scenarios.families.base import PhasedFamily
from scenarios.restore import clear_templates, template_count
from tuner.catalog import load_catalog
from tuner.evaluation.engine import BankSpec
from tuner.evaluation.overrides import applied_constants

CATALOG = load_catalog()
SEEDS = 10
PHASED = sorted(name for name, cls in FAMILIES.items() if issubclass(cls, PhasedFamily))


def reaching(family):
    return [c for c in CATALOG if c.reachable and family in c.reached_families]


def outcome(result):
    assert result.error is None, result.error
    return result.top, result.score, round(result.spearman, 9)


def test_every_family_but_policy_cache_restores():
    assert set(FAMILIES) - set(PHASED) == {"policy_cache"}  # its whole run reads the values


@pytest.mark.usefixtures("popoto_redis")
@pytest.mark.parametrize("family", PHASED)
def test_restored_scenarios_equal_fresh_ones(family):
    seeds = BankSpec(size=2 * SEEDS).pools(family)[0][:SEEDS]
    clear_templates()
    defaults = {seed: evaluate_scenario(seed, restore=True) for seed in seeds}
    assert template_count() == len(seeds)
    for seed in seeds:
        assert outcome(evaluate_scenario(seed, restore=True)) == outcome(defaults[seed])
        assert outcome(evaluate_scenario(seed, restore=False)) == outcome(defaults[seed])
    constants = reaching(family)
    assert constants, f"no catalog constant reaches {family}"
    for constant in constants:
        for value in (constant.search_low, constant.search_high):
            with applied_constants({constant: value}) as arguments:
                for seed in seeds:
                    fresh = evaluate_scenario(seed, arguments=arguments, restore=False)
                    restored = evaluate_scenario(seed, arguments=arguments, restore=True)
                    assert outcome(restored) == outcome(fresh), \
                        f"{family} {seed.label}: {constant.name}={value} restored != fresh"


@pytest.mark.usefixtures("popoto_redis")
def test_a_restore_runs_no_setup(monkeypatch):
    family_cls = FAMILIES["decay"]
    seed = BankSpec(size=4).pools("decay")[0][0]
    clear_templates()
    evaluate_scenario(seed, restore=True)
    calls = []
    original = family_cls.setup
    monkeypatch.setattr(family_cls, "setup", lambda *a, **k: calls.append(1) or original(*a, **k))
    evaluate_scenario(seed, restore=True)
    assert calls == []
    evaluate_scenario(seed, restore=False)
    assert calls == [1]


@pytest.mark.usefixtures("popoto_redis")
def test_an_undeclared_setup_read_is_caught(monkeypatch):
    """The proof can fail: hide initial_confidence (written by every save) from the template
    key, and a scenario restored from the default's template differs from a fresh one."""
    family_cls = FAMILIES["confidence"]
    monkeypatch.setattr(family_cls, "setup_reads", frozenset())
    constant = CATALOG.resolve("initial_confidence")
    seeds = BankSpec(size=2 * SEEDS).pools("confidence")[0][:SEEDS]
    for seed in seeds:
        evaluate_scenario(seed, restore=True)
    differ = 0
    with applied_constants({constant: constant.search_high}) as arguments:
        for seed in seeds:
            fresh = evaluate_scenario(seed, arguments=arguments, restore=False)
            restored = evaluate_scenario(seed, arguments=arguments, restore=True)
            differ += outcome(restored) != outcome(fresh)
    assert differ > 0


def test_the_scenario_clock_ticks_from_now_and_is_put_back():
    import sys
    import time

    from scenarios.clock import TICK_SECONDS, frozen_clock

    with frozen_clock(1000.0):
        import time as inside  # a function-local import, as popoto's query path does

        first, second = inside.time(), inside.time()
    assert (first, second) == (1000.0 + TICK_SECONDS, 1000.0 + 2 * TICK_SECONDS)
    assert sys.modules["time"] is time
    assert abs(time.time() - 1000.0) > 1e6


def test_a_popoto_module_first_imported_under_the_scenario_clock_gets_the_real_one_back():
    import sys
    import time

    from scenarios.clock import frozen_clock

    name = "popoto.recipes.memory_telemetry"  # imports time at its top; nothing else loads it
    sys.modules.pop(name, None)
    with frozen_clock(1000.0):
        import importlib

        module = importlib.import_module(name)
        assert module.time.time() < 2000.0
    assert module.time is time
