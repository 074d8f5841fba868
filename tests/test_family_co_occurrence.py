"""The co_occurrence family: constant-free truth, and real reach.

Determinism and zero leaked keys are checked for every family in ``tests/test_runner.py``.
Reach is a behaviour change (ranking, nDCG or Spearman of the same scenario differs between the
catalog's low and high), never a check that an attribute changed.
"""

from __future__ import annotations

import functools

import pytest
from family_helpers import assert_world_ignores, evaluate_at, seeds_it_reaches, train_seeds

from scenarios.families import get_family
from scenarios.families.co_occurrence import strengthen_default_delta
from scenarios.runner import evaluate_scenario
from tuner.evaluation.overrides import applied_constants

FAMILY = "co_occurrence"
CONSTANTS = ("initial_weight", "decay_per_hop", "decay_factor", "delta")


def results_differ(a, b) -> bool:
    return a.top != b.top or abs(a.ndcg - b.ndcg) > 1e-9 or abs(a.spearman - b.spearman) > 1e-9


def test_catalog_assigns_the_four_constants_to_this_family(catalog):
    owned = {c.name for c in catalog if c.family == FAMILY}
    assert owned == set(CONSTANTS)
    assert all(catalog.resolve(name).reachable for name in CONSTANTS)


def test_delta_default_is_read_from_popotos_signature(catalog):
    assert strengthen_default_delta() == catalog.resolve("delta").default() == 0.05


@pytest.mark.parametrize("name", CONSTANTS)
def test_world_is_deterministic_and_independent_of_the_constants(catalog, name):
    seeds, parts = train_seeds(FAMILY, 3), ("records", "relevance", "extras")
    assert_world_ignores(FAMILY, catalog.resolve(name), seeds, *parts)


def test_worlds_exercise_link_strengthen_and_weaken():
    """The history has repeats (strengthen), old edges (weaken_all) and cue links (propagate)."""
    family = get_family(FAMILY)
    worlds = [family.build_world(seed) for seed in train_seeds(FAMILY, 10)]
    pairs = [p for w in worlds for p in w.extras["pairs"]]
    assert any(p.old > 1 or p.recent > 1 for p in pairs)
    assert any(p.old for p in pairs) and any(p.recent for p in pairs)
    for world in worlds:
        cue = {c.key for c in world.extras["cue"]}
        assert cue.isdisjoint(world.relevance)
        assert any(p.a in cue or p.b in cue for p in world.extras["pairs"])
        assert world.extras["old_gap_passes"] >= 2
        assert 0.3 <= world.extras["relevance_weight"] <= 1.0
    assert any("drifted" in w.extras["roles"].values() for w in worlds)


def test_cue_records_are_never_returned(popoto_redis):
    family = get_family(FAMILY)
    for seed in train_seeds(FAMILY, 3):
        cue = {c.key for c in family.build_world(seed).extras["cue"]}
        result = evaluate_scenario(seed)
        assert result.top and cue.isdisjoint(result.top)


@pytest.mark.parametrize("name", CONSTANTS)
def test_each_constant_reaches_the_ranking(popoto_redis, catalog, name):
    differing = seeds_it_reaches(catalog.resolve(name), train_seeds(FAMILY, 5), results_differ)
    assert differing, f"{name}: low and high gave identical results on every seed"


@pytest.mark.parametrize("name", ["initial_weight", "decay_per_hop", "delta"])
def test_scale_constants_change_the_top_five(popoto_redis, catalog, name):
    constant = catalog.resolve(name)
    seeds = train_seeds(FAMILY, 1)
    tops = [evaluate_at(constant, value, seeds)[0].top for value in (constant.low, constant.high)]
    assert tops[0] != tops[1]


def test_delta_and_decay_factor_reach_popotos_calls(popoto_redis, catalog, monkeypatch):
    """strengthen() gets the trial's delta; weaken_all() decays by the field's decay_factor."""
    from popoto.fields.co_occurrence_field import CoOccurrenceField

    seen: dict[str, list[float]] = {"delta": [], "factor": [], "decay_factor": []}
    strengthen, weaken_all = CoOccurrenceField.strengthen, CoOccurrenceField.weaken_all

    @functools.wraps(strengthen)
    def spy_strengthen(self, *args, **kwargs):
        seen["delta"].append(kwargs["delta"])
        return strengthen(self, *args, **kwargs)

    @functools.wraps(weaken_all)
    def spy_weaken_all(self, *args, **kwargs):
        seen["factor"].append(kwargs["factor"])
        seen["decay_factor"].append(self.decay_factor)
        return weaken_all(self, *args, **kwargs)

    monkeypatch.setattr(CoOccurrenceField, "strengthen", spy_strengthen)
    monkeypatch.setattr(CoOccurrenceField, "weaken_all", spy_weaken_all)
    seed = train_seeds(FAMILY, 1)[0]
    gap = get_family(FAMILY).build_world(seed).extras["old_gap_passes"]
    values = {catalog.resolve("delta"): 0.2, catalog.resolve("decay_factor"): 0.6}
    with applied_constants(values) as arguments:
        assert evaluate_scenario(seed, arguments=arguments).error is None
    assert seen["delta"] and set(seen["delta"]) == {0.2}
    assert seen["factor"] and set(seen["decay_factor"]) == {0.6}
    assert seen["factor"] == pytest.approx([0.6**gap] * len(seen["factor"]))


def test_worlds_hold_wrong_links():
    """What the link constants guard against is in the worlds: a useful record (cue or current
    topic) co-used with an unrelated, useless background record."""
    family, found = get_family(FAMILY), 0
    for seed in train_seeds(FAMILY, 10):
        world = family.build_world(seed)
        roles, cue = world.extras["roles"], {c.key for c in world.extras["cue"]}
        useful = cue | {k for k, role in roles.items() if role == "current"}
        grades = world.relevance
        for key in world.extras["guarded"]:
            assert roles[key] == "background" and grades[key] == 0
            partners = {
                p.a if p.b == key else p.b for p in world.extras["pairs"] if key in (p.a, p.b)
            }
            assert partners & useful
            found += 1
    assert found
