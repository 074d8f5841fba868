"""Restore equals fresh: a scenario restored from a template scores exactly as a re-seeded one.

The template of every scenario is written once at popoto's defaults, as a study writes it on its
first evaluation; then every constant that reaches the family, and every one its setup reads
(``setup_reads``), runs at its search range's ends, restored and fresh, on 10 train seeds. A
constant the setup reads gets its own template per value (the template key holds it): its first
restored run writes that template, and only the second one restores it, so the second is the one
compared with a fresh run. Every restored run is checked to run no setup: the restore path is
really the one exercised. A value the setup reads but the family does not declare in
``setup_reads``, or a template key that ignores ``setup_reads``, restores the wrong template and
fails here.
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


def constants_to_try(family):
    """The constants that reach the family and those its setup reads (INITIAL_CYCLE_AMPLITUDE is
    written by cyclic's setup though it does not move the family's ranking)."""
    names = {c.name for c in reaching(family)} | set(FAMILIES[family].setup_reads)
    return [CATALOG.resolve(name) for name in sorted(names)]


def outcome(result):
    assert result.error is None, result.error
    return result.top, result.score, round(result.spearman, 9)


def count_setups(monkeypatch, family_cls) -> list:
    """A list that gains an item each time ``family_cls`` runs its setup."""
    calls = []
    original = family_cls.setup
    monkeypatch.setattr(family_cls, "setup", lambda *a, **k: calls.append(1) or original(*a, **k))
    return calls


def test_every_family_but_policy_cache_restores():
    assert set(FAMILIES) - set(PHASED) == {"policy_cache"}  # its whole run reads the values


def test_every_setup_read_is_a_catalog_constant():
    for family in PHASED:
        for name in FAMILIES[family].setup_reads:
            assert CATALOG.resolve(name).name == name, (family, name)


@pytest.mark.usefixtures("popoto_redis")
@pytest.mark.parametrize("family", PHASED)
def test_restored_scenarios_equal_fresh_ones(family, monkeypatch):
    seeds = BankSpec(size=2 * SEEDS).pools(family)[0][:SEEDS]
    clear_templates()
    defaults = {seed: evaluate_scenario(seed, restore=True) for seed in seeds}
    assert template_count() == len(seeds)
    for seed in seeds:
        assert outcome(evaluate_scenario(seed, restore=True)) == outcome(defaults[seed])
        assert outcome(evaluate_scenario(seed, restore=False)) == outcome(defaults[seed])
    assert reaching(family), f"no catalog constant reaches {family}"
    setups = count_setups(monkeypatch, FAMILIES[family])
    for constant in constants_to_try(family):
        for value in (constant.search_low, constant.search_high):
            with applied_constants({constant: value}) as arguments:
                for seed in seeds:
                    assert_restored_equals_fresh(family, seed, constant, value, arguments, setups)


def assert_restored_equals_fresh(family, seed, constant, value, arguments, setups):
    """Fresh, then (for a setup read) the run that writes the value's template, then a restore."""
    where = f"{family} {seed.label}: {constant.name}={value}"
    setups.clear()
    fresh = evaluate_scenario(seed, arguments=arguments, restore=False)
    if constant.name in FAMILIES[family].setup_reads:
        written = evaluate_scenario(seed, arguments=arguments, restore=True)
        assert len(setups) == 2, f"{where}: a template of another value was restored"
        assert outcome(written) == outcome(fresh), f"{where}: writing run != fresh"
    setups.clear()
    restored = evaluate_scenario(seed, arguments=arguments, restore=True)
    assert setups == [], f"{where}: the restored run re-ran the setup"
    assert outcome(restored) == outcome(fresh), f"{where}: restored != fresh"


@pytest.mark.usefixtures("popoto_redis")
def test_a_setup_value_gets_its_own_template_and_restores_it(monkeypatch):
    """Fast: a run at another initial confidence writes its own template (setup runs), the next
    run at that value restores it (setup does not) and equals a fresh run."""
    constant = CATALOG.resolve("initial_confidence")
    seed = BankSpec(size=4).pools("confidence")[0][0]
    evaluate_scenario(seed, restore=True)  # the default's template
    setups = count_setups(monkeypatch, FAMILIES["confidence"])
    with applied_constants({constant: constant.search_high}) as arguments:
        fresh = evaluate_scenario(seed, arguments=arguments, restore=False)
        written = evaluate_scenario(seed, arguments=arguments, restore=True)
        assert (len(setups), template_count()) == (2, 2)
        restored = evaluate_scenario(seed, arguments=arguments, restore=True)
        assert len(setups) == 2
    assert outcome(restored) == outcome(written) == outcome(fresh)


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
