"""Running scenarios on popoto: determinism, isolation, zero leaked keys, failures score 0."""

import pytest

from scenarios.families import FAMILIES, Family, Ranking
from scenarios.runner import evaluate_scenario
from scenarios.seeds import draw_seed
from scenarios.world import World
from tuner.catalog import load_catalog
from tuner.evaluation.engine import BankSpec, evaluate_values

pytestmark = pytest.mark.usefixtures("popoto_redis")


def dbsize():
    from popoto.redis_db import get_REDIS_DB

    return get_REDIS_DB().dbsize()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_same_seed_twice_gives_identical_results_and_leaves_no_keys(family):
    for seed in BankSpec(size=10).pools(family)[0][:3]:
        before = dbsize()
        first, second = evaluate_scenario(seed), evaluate_scenario(seed)
        assert first.error is None, first.error
        assert (first.top, first.ndcg, first.spearman) == \
            (second.top, second.ndcg, second.spearman), seed.label
        assert dbsize() == before, seed.label


def test_scenarios_of_one_seed_use_disjoint_namespaces():
    from popoto.redis_db import get_REDIS_DB

    from scenarios.families import RunContext, get_family
    from scenarios.runner import build_world, delete_namespace

    seed = draw_seed("decay", 1)
    family = get_family("decay")
    ctx_a, ctx_b = RunContext(family="decay"), RunContext(family="decay")
    try:
        family.run(build_world(seed), ctx_a)
        keys_a = set(get_REDIS_DB().scan_iter(match=f"*{ctx_a.class_names[0]}*"))
        family.run(build_world(seed), ctx_b)
        keys_b = set(get_REDIS_DB().scan_iter(match=f"*{ctx_b.class_names[0]}*"))
        assert keys_a and keys_b and not keys_a & keys_b
    finally:
        delete_namespace(ctx_a.class_names + ctx_b.class_names)
    assert not set(get_REDIS_DB().scan_iter(match="*Decay*"))


class ExplodingFamily(Family):
    """A family that fails mid-run after writing keys: must score 0, keep the error, clean up."""

    name = "exploding_test_family"

    def build_world(self, seed):
        return FAMILIES["decay"]().build_world(seed)

    def run(self, world: World, ctx) -> Ranking:
        from popoto import FloatField, UniqueKeyField

        model = ctx.model("Boom", {"key": UniqueKeyField(), "importance": FloatField()})
        model(key="k", importance=1.0).save()
        raise RuntimeError("popoto said no")


FAMILIES.pop(ExplodingFamily.name)  # registered only inside the test that uses it


def test_a_failing_scenario_scores_zero_keeps_its_error_and_counts_in_the_mean(monkeypatch):
    import dataclasses

    monkeypatch.setitem(FAMILIES, ExplodingFamily.name, ExplodingFamily)
    good = draw_seed("decay", 2)
    bad = dataclasses.replace(good, family="exploding_test_family")
    before = dbsize()
    result = evaluate_scenario(bad)
    assert result.ndcg == 0.0 and result.error == "RuntimeError: popoto said no"
    assert dbsize() == before
    evaluation = evaluate_values({}, [good, bad])
    assert len(evaluation.results) == 2
    assert evaluation.mean_score == pytest.approx(evaluation.results[0].score / 2)
    assert evaluation.errors == {bad.label: "RuntimeError: popoto said no"}


def test_overrides_are_restored_after_an_evaluation():
    from popoto.fields.constants import Defaults

    decay = load_catalog().resolve("decay_rate")
    evaluate_values({decay: 0.9}, [draw_seed("decay", 3)])
    assert Defaults.DECAY_RATE == 0.1


def test_a_lost_server_is_an_outage_not_a_zero_score(monkeypatch):
    """A ConnectionError must fail the trial, never be averaged in as nDCG 0."""
    import redis

    from scenarios.families.decay import DecayFamily

    def unplugged(self, world, ctx, model):
        raise redis.exceptions.ConnectionError("Connection refused")

    monkeypatch.setattr(DecayFamily, "setup", unplugged)
    with pytest.raises(redis.exceptions.ConnectionError):
        evaluate_scenario(draw_seed("decay", 1))
