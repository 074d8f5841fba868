"""The policy_cache family's latent log: situations and what the agent did in them.

Built by ``policy_cache.py`` (the latent world) and replayed into popoto by
``policy_cache_run.py`` (the run phase); kept apart so that neither imports the other back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Situation:
    """A recurring task situation: its actions (record indices) and weekly rhythm."""

    records: tuple[int, ...]
    peak_day: int  # weekday 0=Mon..6; -1 = no rhythm
    peak_share: float  # share of sessions on the peak day (rhythmic situations only)
    rate: float  # relative frequency of sessions


@dataclass(frozen=True)
class PolicyLog:
    """Family-specific structure kept in ``World.extras['policy']``."""

    situation_of: tuple[int, ...]
    situations: tuple[Situation, ...]
    successor: tuple[int, ...]  # per record: successor situation, -1 = terminal
    events: tuple[tuple[int, bool, float], ...]  # (record index, success, ts), log order
    uses: tuple[tuple[int, ...], ...]  # per situation: uses in each TD round
    rewards: tuple[tuple[int, ...], ...]  # per record: reward sequence for its uses
    now: float
