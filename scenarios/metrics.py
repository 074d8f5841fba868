"""Ranking metrics. ``*_score`` means higher is better (scikit-learn's convention).

Both metrics take the latent relevance of the *whole intended* record set, so a record the
write filter dropped still counts in the ideal ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy.stats import spearmanr

NO_SIGNAL_RHO = -1.0


def ndcg_score(ranking: Sequence[str], relevance: Mapping[str, float], k: int = 5) -> float:
    """nDCG@k with linear graded gain and a log2 discount.

    ``ranking`` is what the system returned, best first (unknown or duplicate keys gain 0);
    the ideal DCG is computed over every record in ``relevance``. A world with no relevant
    record has no ideal and scores 0.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    seen: set[str] = set()
    gains = []
    for key in list(ranking)[:k]:
        gains.append(0.0 if key in seen else float(relevance.get(key, 0.0)))
        seen.add(key)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = float(np.dot(gains, discounts[: len(gains)]))
    ideal = np.sort(np.fromiter(relevance.values(), dtype=float))[::-1][:k]
    idcg = float(np.dot(ideal, discounts[: len(ideal)]))
    return dcg / idcg if idcg > 0 else 0.0


def spearman_score(scores: Mapping[str, float], relevance: Mapping[str, float]) -> float:
    """Spearman rho between the system's scores for all records and the latent relevance.

    Records the system did not score (dropped, never returned) get the lowest score. Constant
    scores carry no ranking signal and score -1.0, the worst value, never NaN.
    """
    keys = list(relevance)
    floor = min(scores.values(), default=0.0) - 1.0
    system = np.array([scores.get(key, floor) for key in keys], dtype=float)
    truth = np.array([relevance[key] for key in keys], dtype=float)
    if len(keys) < 2 or np.ptp(system) == 0.0 or np.ptp(truth) == 0.0:
        return NO_SIGNAL_RHO
    rho = spearmanr(system, truth).statistic
    return float(rho) if np.isfinite(rho) else NO_SIGNAL_RHO


METRICS: dict[str, Callable[..., float]] = {"ndcg": ndcg_score, "spearman": spearman_score}
