"""Ranking metrics. ``*_score`` means higher is better (scikit-learn's convention).

Every metric takes the latent relevance of the *whole intended* record set, so a record the
write filter dropped still counts in the ideal ranking. Relevance is a grade: positive for a
useful record, 0 for an indifferent one and negative for a *harmful* one (a bad policy, a wrong
record: surfacing it costs more than surfacing nothing). Plain nDCG cannot see harm (a harmful
item gains 0, like an empty slot); ``signed_ndcg_score`` can, and a family whose guard constants
only keep harmful items out uses it (``Family.metric``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

NO_SIGNAL_RHO = -1.0


def _discounts(k: int) -> np.ndarray:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return 1.0 / np.log2(np.arange(2, k + 2))


def _top_gains(ranking: Sequence[str], relevance: Mapping[str, float], k: int) -> np.ndarray:
    """Gains of the first ``k`` returned keys; unknown or repeated keys gain 0."""
    seen: set[str] = set()
    gains = []
    for key in list(ranking)[:k]:
        gains.append(0.0 if key in seen else float(relevance.get(key, 0.0)))
        seen.add(key)
    return np.array(gains, dtype=float)


def _best_dcg(gains: np.ndarray, discounts: np.ndarray) -> float:
    """The largest DCG any top-k drawn from ``gains`` (all >= 0) can reach."""
    best = np.sort(gains)[::-1][: len(discounts)]
    return float(np.dot(best, discounts[: len(best)]))


def ndcg_score(ranking: Sequence[str], relevance: Mapping[str, float], k: int = 5) -> float:
    """nDCG@k with linear graded gain and a log2 discount.

    ``ranking`` is what the system returned, best first (unknown or duplicate keys gain 0);
    the ideal DCG is computed over every record in ``relevance``. Negative (harmful) grades
    gain 0 here, exactly like an empty slot: plain nDCG only counts useful gain. A world with
    no relevant record has no ideal and scores 0.
    """
    discounts = _discounts(k)
    gains = np.maximum(_top_gains(ranking, relevance, k), 0.0)
    dcg = float(np.dot(gains, discounts[: len(gains)]))
    truth = np.fromiter(relevance.values(), dtype=float)
    idcg = _best_dcg(np.maximum(truth, 0.0), discounts)
    return dcg / idcg if idcg > 0 else 0.0


def signed_ndcg_score(ranking: Sequence[str], relevance: Mapping[str, float], k: int = 5) -> float:
    """nDCG@k where a harmful record (negative grade) in the top k *costs* its grade.

    DCG sums every gain, negative ones included, with the log2 discount. It is normalised
    between the worst top-k the world allows (its most harmful records first) and the ideal:
    ``(DCG - worst) / (ideal - worst)``, so the ideal scores 1, the most harmful list 0, and an
    empty list sits in between (saying nothing beats surfacing harm). A failed scenario's 0 is
    therefore never better than a real ranking. Without harmful records it equals
    ``ndcg_score``. A world whose ideal equals its worst scores 0.
    """
    discounts = _discounts(k)
    gains = _top_gains(ranking, relevance, k)
    dcg = float(np.dot(gains, discounts[: len(gains)]))
    truth = np.fromiter(relevance.values(), dtype=float)
    ideal = _best_dcg(np.maximum(truth, 0.0), discounts)
    worst = -_best_dcg(np.maximum(-truth, 0.0), discounts)
    if ideal <= worst:
        return 0.0
    return float(np.clip((dcg - worst) / (ideal - worst), 0.0, 1.0))


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
    rho = float(np.corrcoef(average_ranks(system), average_ranks(truth))[0, 1])
    return float(rho) if np.isfinite(rho) else NO_SIGNAL_RHO


METRICS: dict[str, Callable[..., float]] = {
    "ndcg": ndcg_score,
    "signed_ndcg": signed_ndcg_score,
    "spearman": spearman_score,
}
RANKING_METRICS = ("ndcg", "signed_ndcg")
"""The metrics a family may score its top-k with (``Family.metric``); Spearman is the sanity
check over every record, not an objective."""


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties sharing their average rank (what Spearman's rho correlates).

    numpy only: importing scipy.stats costs over a second, more than every command but a
    study needs (``tuner --help`` must start fast).
    """
    _unique, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse]
