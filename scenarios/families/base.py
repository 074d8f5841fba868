"""The scenario-family contract: build a latent world from a seed, then run it on popoto.

A family is one popoto primitive's evaluation. Adding one is adding one module in this package
with a ``Family`` subclass; ``__init_subclass__`` registers it under its ``name``.
"""

from __future__ import annotations

import itertools
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from scenarios.knobs import Knob, declare, find_knob
from scenarios.seeds import ScenarioSeed
from scenarios.world import World

FAMILIES: dict[str, type[Family]] = {}
_CLASS_COUNTER = itertools.count()


@dataclass(frozen=True)
class Ranking:
    """What popoto returned: ``top`` record keys best first, ``scores`` for every record scored."""

    top: list[str]
    scores: dict[str, float]


@dataclass
class RunContext:
    """Per-run namespace and the explicit argument values of this evaluation.

    ``arguments`` carries values popoto froze into default arguments (read mode D) or that have
    no ``Defaults`` attribute at all: a family passes them explicitly at the call site.
    """

    family: str
    arguments: Mapping[str, float] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    extra_cleanup_patterns: list[str] = field(default_factory=list)
    now: float = field(default_factory=time.time)
    """The scenario's wall-clock "now": ages are written relative to it. A restored scenario
    uses its template's, so its stored clocks and its model agree."""
    reuse_names: list[str] = field(default_factory=list)
    """Class names to reuse, in order, instead of new ones: a restored scenario's keys carry its
    template's class name, so the model built for this evaluation must have it too."""

    def model(self, role: str, fields: dict[str, Any], bases: tuple[type, ...] = ()) -> type:
        """Build a popoto model class with a process-unique name, *now*.

        Building at run time is what makes constructor-captured constants (read mode K) see
        the values applied for this evaluation.
        """
        from popoto import Model

        if self.reuse_names:
            name = self.reuse_names.pop(0)
        else:
            name = f"Tn{role}{os.getpid()}x{next(_CLASS_COUNTER):07d}Z"
        attrs = {"__module__": __name__, **fields}
        cls = type(name, (*bases, Model), attrs)
        self.class_names.append(name)
        return cls

    def argument(self, name: str, default: float) -> float:
        return float(self.arguments.get(name, default))


class Family(ABC):
    """One scenario family. Subclasses set ``name`` and implement the two phases."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    metric: ClassVar[str] = "ndcg"
    """The ``scenarios.metrics.RANKING_METRICS`` entry a scenario's ``score`` is: ``"ndcg"``
    unless plain nDCG@k cannot see what the family's guard constants keep out (harmful items
    only ever fill slots that would otherwise stay empty), then ``"signed_ndcg"``."""
    sanity_note: ClassVar[str] = ""
    """Why the family's mean Spearman at popoto's defaults is low (below
    ``scenarios.sanity.MIN_SANITY_RHO``), when it is; empty when it is not."""
    knobs: ClassVar[tuple[Knob, ...]] = ()
    """The world's declared shape constants (``scenarios/knobs.py``): what defines the latent
    truth or the cost of an error, each with today's value as its default and a plausible range
    (docs/fair-worlds.md). Read them with ``self.knob(seed, name)``, never as literals."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "name", None):  # a concrete family (or a subclass); not PhasedFamily
            cls.knobs = declare(cls.name, cls.knobs)
            FAMILIES[cls.name] = cls

    def knob(self, seed: ScenarioSeed, name: str) -> float:
        """The world's value of declared knob ``name``: the seed's, else the declared default.

        An undeclared name is an error (``UnknownKnobError``), so a typo cannot silently read
        a default that no profile or robustness design can ever move.
        """
        declared = find_knob(self.knobs, name, family=self.name)
        value = seed.knob(name, declared.default)
        return float(round(value)) if declared.integer else value

    @abstractmethod
    def build_world(self, seed: ScenarioSeed) -> World:
        """Generate the latent world from the seed alone (pure, deterministic)."""

    @abstractmethod
    def run(self, world: World, ctx: RunContext) -> Ranking:
        """Write the world into popoto, apply its outcomes, query, and return the ranking."""


@dataclass
class Prepared:
    """What a phased family's setup wrote: the instances it saved and family state (key maps).

    A restored scenario's ``finish`` gets a copy rebound to the evaluation's own model class.
    """

    instances: list = field(default_factory=list)
    state: dict = field(default_factory=dict)


class PhasedFamily(Family):
    """A family whose run splits into a part no tuned value can change and a part it can.

    ``setup`` writes what cannot depend on the values under test except those named in
    ``setup_reads`` (catalog constant names); ``finish`` applies outcomes, queries and ranks.
    The runner writes a setup once per (scenario, values of ``setup_reads``) into a template
    and restores it per evaluation instead of re-seeding (``scenarios/restore.py``).
    ``tests/test_restore.py`` proves a restored run equals a fresh one for every constant that
    reaches the family, so a read missing from ``setup_reads`` fails there.
    """

    setup_reads: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def build_model(self, world: World, ctx: RunContext) -> type:
        """The model class, built now so constructor-captured values are this evaluation's."""

    @abstractmethod
    def setup(self, world: World, ctx: RunContext, model: type) -> Prepared:
        """Write the records (and whatever else only ``setup_reads`` can change)."""

    @abstractmethod
    def finish(self, world: World, ctx: RunContext, model: type, prepared: Prepared) -> Ranking:
        """Apply what the values under test change (outcomes, links, the query); rank."""

    def run(self, world: World, ctx: RunContext) -> Ranking:
        model = self.build_model(world, ctx)
        return self.finish(world, ctx, model, self.setup(world, ctx, model))


def composite_ranking(
    query: Any, model: type, *, record_count: int, k: int = 5, **kwargs: Any
) -> Ranking:
    """Run ``composite_score`` once and capture every record's composite score.

    The post-filter sees all members in rank order; it keeps only the top ``k`` for hydration,
    so one call yields both the top-k and the full score vector for Spearman.
    """
    prefix = f"{model.__name__}:"
    order: list[str] = []
    scores: dict[str, float] = {}

    def capture(member: str, score: float) -> bool:
        key = member[len(prefix) :] if member.startswith(prefix) else member
        scores[key] = float(score)
        order.append(key)
        return len(order) <= k

    query.composite_score(limit=max(k, record_count), post_filter=capture, **kwargs)
    return Ranking(top=order[:k], scores=scores)
