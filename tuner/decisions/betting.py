"""Anytime-valid tests and confidence bounds for the mean of bounded observations, by betting.

Why betting: a paired delta of two scores in [0, 1] lies in [-1, 1], and that is all we may
assume. The sign-flip test's null is "deltas symmetric about 0": a value that gains +0.01 on
98% of scenarios and loses 0.5 on 2% (true mean below 0) passes it. A test of the *mean* has to
allow for losses it has not seen yet, and the only thing that bounds them is the range.

The construction is Waudby-Smith & Ramdas (JRSS-B 2024), "Estimating means of bounded random
variables by betting". To test H0: mean <= m, bet a predictable fraction of a capital on each
new observation x_i:

    K_t(m) = prod_{i <= t} (1 + b_i * (x_i - m) / (1 + m)),    0 <= b_i <= B_MAX < 1

Each factor is >= 1 - B_MAX > 0 because x_i >= -1, and under H0 its conditional mean is <= 1, so
K is a non-negative supermartingale and, by Ville's inequality, P(sup_t K_t >= 1/a) <= a for
*every* distribution on [-1, 1] with mean <= m — skewed, sparse, heavy-tailed alike — and at
any stopping time: looks can be taken as often as wanted, stop early for efficacy or futility,
and nothing is spent on looks. The anytime p-value is 1 / max_{s <= t} K_s.

The bets b_i are the predictable plug-in of the paper (eq. 26: sized by the running variance
for a design level), capped at B_MAX (B_MAX_EARLY over the first rounds). They do not depend
on m, and every factor falls as m rises, so K_t(m) is decreasing in m and the confidence bound
is found by bisection. Upper bounds are lower bounds of the negated observations.

Observations arrive as *rounds* (``rounds``): round i is the weighted mean over families of each
family's i-th delta, so the test is of the weighted (by default equal-weight) mean over
families, and each round is still in [-1, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

LOW, HIGH = -1.0, 1.0  # a paired delta of two scores in [0, 1]
# The largest fraction bet on one observation (the paper's truncation c; it suggests 1/2 or
# 3/4). Any c < 1 keeps every factor >= 1 - c > 0, so validity does not depend on it; power
# does. Late in a test the cap binds where the rounds vary little (a multi-family mean, a
# quiet family), and a capital can then grow by at most ~c * (mean - m) per round; early, the
# plug-in bets hit the cap whatever the data (t log(1 + t) is small and the variance estimate
# rests on a few rounds), so there a larger cap only adds swings. Hence 3/4 for the first
# EARLY_ROUNDS rounds and 0.9 after. benchmarks/bench_bet_cap.py (1,000 seeded draws; against
# 3/4 throughout): +0.016 over 7 families at SD 0.10 is confirmed at alpha/9 after 633 rounds
# on average against 744 (0.9 throughout: 625); +0.03 in one family at SD 0.19 as often
# (0.923 against 0.924; 0.9 throughout: 0.917); no harm shown for a quiet family at 203
# scenarios against 230, for N(0, 0.19) as often (0.904 against 0.903).
B_MAX = 0.9
B_MAX_EARLY = 0.75
EARLY_ROUNDS = 50
PRIOR_MEAN, PRIOR_VARIANCE = 0.0, 0.25  # the plug-in's start, before any observation
BISECTION_STEPS = 28  # 2 * 2 ** -28 of the range (7e-9): far below any printed digit
HORIZON = 800.0  # the plug-in stops shrinking its bets past i*log(1+i) = HORIZON (i ~ 150)


def bets(x: np.ndarray, *, design_level: float) -> np.ndarray:
    """Predictable plug-in bet fractions b_i, each from x_1..x_{i-1} only.

    b_i = sqrt(2 log(1/a) / (sigma^2_{i-1} * min(i * log(1 + i), HORIZON))) (Waudby-Smith &
    Ramdas, eq. 26, with the time term capped: our pools end at a few hundred to a few thousand
    scenarios, and bets that keep shrinking past that cost power: +0.03 at SD 0.19 is found at
    a = 0.005 with 800 observations 78% of the time instead of 54%), capped at B_MAX_EARLY
    for the first EARLY_ROUNDS rounds and at B_MAX after.
    ``design_level`` and HORIZON only tune power; validity holds for any predictable bets.
    """
    n = x.size
    if n == 0:
        return np.zeros(0)
    index = np.arange(1, n + 1, dtype=float)
    running_mean = (PRIOR_MEAN + np.cumsum(x)) / (index + 1)
    previous_mean = np.concatenate(([PRIOR_MEAN], running_mean[:-1]))
    squares = np.cumsum((x - previous_mean) ** 2)
    variance = (PRIOR_VARIANCE + squares) / (index + 1)
    variance_before = np.concatenate(([PRIOR_VARIANCE], variance[:-1]))
    raw = np.sqrt(2.0 * math.log(1.0 / design_level)
                  / (variance_before * np.minimum(index * np.log1p(index), HORIZON)))
    return np.minimum(raw, np.where(index <= EARLY_ROUNDS, B_MAX_EARLY, B_MAX))


def log_capital(x: np.ndarray, m: float | np.ndarray, b: np.ndarray) -> np.ndarray:
    """log K_t(m) for t = 1..n (rows: values of m when ``m`` is an array)."""
    m_arr = np.asarray(m, dtype=float)
    scaled = (x[None, :] - m_arr.reshape(-1, 1)) / (1.0 + m_arr.reshape(-1, 1))
    factors = np.log1p(b[None, :] * scaled)
    out = np.cumsum(factors, axis=1)
    return out[0] if np.ndim(m) == 0 else out


def p_value(x: Sequence[float] | np.ndarray, m: float, *, design_level: float) -> float:
    """Anytime-valid p-value of H0: mean <= m (H1: mean > m), 1 / max_s K_s(m), at most 1."""
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return 1.0
    peak = float(np.max(log_capital(x, m, bets(x, design_level=design_level))))
    return float(min(1.0, math.exp(-peak))) if peak > 0 else 1.0


def lower_bound(x: Sequence[float] | np.ndarray, *, level: float,
                design_level: float | None = None) -> float:
    """Anytime-valid (1 - level) lower confidence bound of the mean of ``x`` (in [-1, 1]).

    The smallest m that the running test has not rejected at ``level``: the true mean lies
    above it with probability >= 1 - level, at any stopping time. With no observation: -1.
    """
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return LOW
    b = bets(x, design_level=design_level or level)
    threshold = math.log(1.0 / level)

    def rejected(m: float) -> bool:
        return float(np.max(log_capital(x, m, b))) >= threshold

    lo, hi = LOW, float(np.max(x))
    if not rejected(lo + 1e-12):
        return LOW
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        if rejected(mid):
            lo = mid
        else:
            hi = mid
    return lo


def upper_bound(x: Sequence[float] | np.ndarray, *, level: float,
                design_level: float | None = None) -> float:
    """Anytime-valid (1 - level) upper confidence bound of the mean (never below the data's
    smallest value, and never 0 when nothing was observed to change: the range still counts)."""
    return -lower_bound(-np.asarray(x, dtype=float), level=level, design_level=design_level)


def rounds(deltas: Mapping[str, Sequence[float]],
           weights: Mapping[str, float] | None = None) -> np.ndarray:
    """Round i = sum_f w_f * delta_{f,i} / sum_f w_f over the families (equal weights by default).

    Every family contributes its first n deltas, n the smallest family's count: the rounds are
    independent draws whose mean is the weighted mean of the families' means. A family with
    weight 0 does not enter.
    """
    used = {f: np.asarray(v, dtype=float) for f, v in deltas.items()
            if (weights is None or weights.get(f, 1.0) > 0)}
    if not used:
        return np.zeros(0)
    n = min(v.size for v in used.values())
    w = np.array([1.0 if weights is None else float(weights.get(f, 1.0)) for f in used])
    stacked = np.vstack([v[:n] for v in used.values()])
    return (w / w.sum()) @ stacked
