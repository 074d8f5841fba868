"""How much evidence a decision needs: look schedules and pool sizes by power.

A decision tests the weighted mean delta over the families a constant reaches. Its standard
error with ``n_f`` scenarios and a per-scenario delta SD ``sigma_f`` in family ``f`` of ``F``
is

    SE = sqrt(sum_f sigma_f**2 / n_f) / F

and the normal-theory minimum detectable effect at level ``a`` with power ``1 - beta`` is
``(z_a + z_beta) * SE``. The anytime betting tests (``betting.py``) pay for validity under any
bounded distribution and any stopping: at the sizes used they need about 1.3-1.5 times the
scenarios of this normal figure, so pools are sized by simulating the betting test itself
(``tests/test_power.py``, ``benchmarks/bench_decisions.py``); this arithmetic stays the
first estimate.

Looks: nested prefixes of a fixed pool (50, 62, 78, ... scenarios per family), any number of
them: an anytime test spends nothing on a look.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from scipy.stats import norm

FIRST_LOOK = 50  # scenarios per family at the first look
LOOK_GROWTH = 1.25  # each look this many times the last: anytime tests make looks free
DEFAULT_POWER = 0.8


def z_of(level: float) -> float:
    """The one-sided standard normal quantile: P(Z > z) = level."""
    return float(norm.isf(level))


def look_sizes(pool_size: int, *, first: int = FIRST_LOOK, growth: float = 2.0) -> list[int]:
    """Nested look sizes per family: first, growth*first, ... ending at the pool size."""
    if pool_size <= first:
        return [max(1, pool_size)]
    sizes, n = [], float(first)
    while round(n) < pool_size:
        sizes.append(int(round(n)))
        n *= growth
    sizes.append(pool_size)
    return sizes


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
