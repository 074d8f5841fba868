"""How much evidence a decision needs: look schedules, alpha per look, pool sizes by power.

A decision is a one-sided paired test of the equal-weight mean delta over the families a
constant reaches. Its standard error with ``n_f`` scenarios and a per-scenario delta SD
``sigma_f`` in family ``f`` of ``F`` is

    SE = sqrt(sum_f sigma_f**2 / n_f) / F

so the smallest true effect it detects with power ``1 - beta`` at level ``a`` (the minimum
detectable effect) is ``(z_a + z_beta) * SE``. Neyman allocation, ``n_f`` proportional to
``sigma_f``, minimises SE for a given total, which is how noisy families get more scenarios
instead of drowning a clear effect elsewhere.

Sequential looks: a test looks at nested prefixes of a fixed held-out pool (50, 100, 200, ...
scenarios per family). Look ``k`` is judged at ``pi_k * a``, with ``pi_k`` proportional to its
size and the weights summing to 1 (Bonferroni over looks), so the decision's level stays ``a``
whatever the data made us do between looks, and every look may use the exact sign-flip test.
Looks that never happen (stopped early) simply never reject.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from scipy.stats import norm

FIRST_LOOK = 50  # scenarios per family at the first look
DEFAULT_POWER = 0.8


def z_of(level: float) -> float:
    """The one-sided standard normal quantile: P(Z > z) = level."""
    return float(norm.isf(level))


def look_sizes(pool_size: int, *, first: int = FIRST_LOOK) -> list[int]:
    """Nested look sizes per family: first, 2*first, 4*first, ... ending at the pool size."""
    if pool_size <= first:
        return [max(1, pool_size)]
    sizes, n = [], first
    while n < pool_size:
        sizes.append(n)
        n *= 2
    sizes.append(pool_size)
    return sizes


def look_weights(sizes: Sequence[int]) -> list[float]:
    """alpha share of each look, proportional to its size, summing to 1 (fixed in advance)."""
    total = float(sum(sizes))
    return [n / total for n in sizes]


def standard_error(sd_by_family: Mapping[str, float], n_by_family: Mapping[str, int]) -> float:
    """SE of the equal-weight mean over families of per-family mean deltas."""
    families = list(sd_by_family)
    if not families:
        return math.inf
    variance = sum(sd_by_family[f] ** 2 / max(1, n_by_family[f]) for f in families)
    return math.sqrt(variance) / len(families)


def minimum_detectable_effect(
    sd_by_family: Mapping[str, float], n_by_family: Mapping[str, int], *, level: float,
    power: float = DEFAULT_POWER,
) -> float:
    """The smallest true equal-weight mean delta detected with ``power`` at ``level``."""
    return (z_of(level) + z_of(1.0 - power)) * standard_error(sd_by_family, n_by_family)


def sizes_for_effect(
    sd_by_family: Mapping[str, float], effect: float, *, level: float,
    power: float = DEFAULT_POWER, floor: int = FIRST_LOOK,
) -> dict[str, int]:
    """Per-family sizes (Neyman allocation) that detect ``effect`` with ``power`` at ``level``.

    With n_f = N * sigma_f / S (S = sum of sigmas), SE = S / (F * sqrt(N)), so the total is
    N = ((z_a + z_b) * S / (F * effect)) ** 2.
    """
    families = list(sd_by_family)
    spread = sum(sd_by_family.values())
    if not families or spread == 0:
        return {f: floor for f in families}
    total = ((z_of(level) + z_of(1.0 - power)) * spread / (len(families) * effect)) ** 2
    return {f: max(floor, math.ceil(total * sd_by_family[f] / spread)) for f in families}


def attainable(level: float, n_nonzero: int, *, exact_limit: int) -> bool:
    """Can a sign-flip test on ``n_nonzero`` changed scenarios reach ``level`` at all?

    The exact test's smallest p-value is 2 ** -k; with more deltas the Monte Carlo test is
    sized to the level (stats.resamples_for), so only the exact range has a floor.
    """
    if n_nonzero <= exact_limit:
        return 2.0 ** -n_nonzero < level
    return True
