"""Replication looks at 50, 62, 78, ... and may stop early only on anytime-valid evidence.

Synthetic deltas (``decision_fakes.Landscape``), no popoto: the replication's scorer is replaced
by the landscape, everything else (looks, early rules, the final judgement) is the real code.
"""

from __future__ import annotations

import pytest
from decision_fakes import Landscape

from tuner.decisions import replication
from tuner.decisions.stages import StageResult, StageRules

RULES = StageRules(min_improvement=0.005, harm_margin=0.02)


class Bank:
    """The replication bank's interface, with labels the landscape understands."""

    tag, base_seed, size = "b1n600", 1, 600

    def prefix(self, family: str, n: int) -> list[str]:
        return [f"{family}:{i}" for i in range(n)]


def accepted_at(n: int) -> StageResult:
    return StageResult(stage="confirmation", passed=True, outcome="confirmed", level=0.01,
                       looks=[{"look": 1, "sizes": {"f": n}}], accepted_at=1)


def replicate(monkeypatch, landscape: Landscape, n: int = 50) -> dict:
    monkeypatch.setattr(replication, "compare_values",
                        lambda values, incumbent, seeds: landscape.compare(seeds, 1.0))
    return replication.replicate(None, 0.5, {}, accepted_at(n), Bank(), rules=RULES)


def test_a_clear_gain_replicates_at_the_first_look(monkeypatch):
    record = replicate(monkeypatch, Landscape({"f": 0.2}, 0.05))
    assert record["replicated"] and record["early"] and record["n"] == 50
    assert record["planned"] == {"f": replication.REPLICATION_FLOOR}


def test_a_proven_loss_stops_the_replication_early_and_fails_it(monkeypatch):
    record = replicate(monkeypatch, Landscape({"f": -0.2}, 0.05))
    assert not record["replicated"] and record["early"] and record["n"] == 50
    assert "not above 0" in record["reason"]


@pytest.mark.parametrize("seed", range(12))
def test_a_value_with_no_gain_never_replicates_early(monkeypatch, seed):
    """Stopping when the estimate first turns positive would pass a null more than half the
    time; an early stop needs the gain shown, so a null walks to the planned size."""
    record = replicate(monkeypatch, Landscape({"f": 0.0}, 0.1, seed=seed))
    assert not record["early"] and record["n"] == replication.REPLICATION_FLOOR
