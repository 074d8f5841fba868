"""The fixed evaluation harness: generated worlds, their execution on popoto, and metrics.

Nothing in this package imports ``tuner``: the optimiser may not change what is measured.
"""

from scenarios.metrics import ndcg_score, spearman_score
from scenarios.runner import ScenarioResult, evaluate_scenario
from scenarios.seeds import ScenarioSeed, default_bank, split_bank

__all__ = [
    "ScenarioResult",
    "ScenarioSeed",
    "default_bank",
    "evaluate_scenario",
    "ndcg_score",
    "spearman_score",
    "split_bank",
]
