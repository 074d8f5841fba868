"""The per-family Spearman sanity check: what it measures, and that every family passes it or
says why not (measured on the train seeds at popoto's defaults)."""

from __future__ import annotations

import pytest
from family_helpers import train_seeds

from scenarios.families import FAMILIES
from scenarios.sanity import MIN_SANITY_RHO, family_sanity

SANITY_SEEDS = 12
REAL_FAMILIES = sorted(name for name in FAMILIES if not name.startswith("planted"))


@pytest.mark.parametrize("family", REAL_FAMILIES)
def test_every_family_ranks_with_signal_or_says_why(popoto_redis, family):
    sanity = family_sanity(family, train_seeds(family, SANITY_SEEDS))
    assert sanity.errors == 0
    assert sanity.scenarios == SANITY_SEEDS
    assert sanity.metric == FAMILIES[family].metric
    assert sanity.explained, (
        f"{family}: mean Spearman {sanity.mean_spearman:.3f} < {MIN_SANITY_RHO} at the defaults "
        "and no sanity_note says why"
    )


def test_constant_scores_fail_the_check(popoto_redis, planted, monkeypatch):
    """A family whose scores carry no ranking signal scores rho -1 and is not explained."""
    from planted import PlantedDecayFamily

    from scenarios.families import Ranking

    monkeypatch.setattr(
        PlantedDecayFamily,
        "finish",
        lambda self, world, ctx, model, prepared: Ranking(
            top=[r.key for r in world.records[:3]], scores={r.key: 1.0 for r in world.records}
        ),
    )
    sanity = family_sanity(PlantedDecayFamily.name, train_seeds(PlantedDecayFamily.name, 3))
    assert sanity.mean_spearman == -1.0 and sanity.short_share == 1.0
    assert not sanity.carries_signal and not sanity.explained


def test_seeds_of_another_family_are_refused():
    with pytest.raises(ValueError, match="must belong"):
        family_sanity("decay", train_seeds("write_filter", 1))
    with pytest.raises(ValueError, match="no seeds"):
        family_sanity("decay", [])
