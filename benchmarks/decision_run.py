"""One simulated ratchet: the production stages on a synthetic world's delta streams.

What runs is the ratchet's own code: ``stages.run_screen`` for every constant's proposal,
``ratchet.confirm_survivors`` (Holm over the values that passed, on the confirmation bank) and
``ratchet.certify_and_gate`` (``finish`` and the gate for every constant, ``certificate_for``
for every one not accepted, corrected over the run). Only where those touch popoto, Optuna or
a storage do the hooks below stand in: the confirmation pool and its ``compare`` draw from the
synthetic streams, and the study notes are not written. The search (study, proposal, cliff
probes) is not simulated: each constant's proposal is given and train-positive.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

from decision_sim import PROPOSAL, Pools, Streams, SyntheticScorer, ValueSource, World, looked_at

from tuner.catalog import Constant
from tuner.decisions import confirmation, ratchet
from tuner.decisions.sequential import LookRecord, SeedPool, SequentialComparison
from tuner.decisions.stages import StageRules, efficacy_p, run_screen
from tuner.evaluation.engine import scenario_runs

CONFIRM_POOL = "confirmation (synthetic)"
SCREEN_POOL = "held-out (synthetic)"


@dataclass(frozen=True)
class SimSettings:
    """What the engine is run with: the production defaults unless a test shrinks the pools."""

    pools: Pools
    alpha: float
    screen_alpha: float
    min_improvement: float
    harm_margin: float
    confidence: float
    control: bool = False  # the positive control: the stages' test replaced by estimate_only

    def ratchet_settings(self) -> ratchet.RatchetSettings:
        rules = StageRules(min_improvement=self.min_improvement, harm_margin=self.harm_margin)
        return ratchet.RatchetSettings(storage="sqlite:///:memory:", alpha=self.alpha,
                                       screen_alpha=self.screen_alpha,
                                       min_improvement=self.min_improvement, rules=rules,
                                       confidence=self.confidence)


@dataclass
class RunOutcome:
    """What one simulated ratchet decided, judged against the world's true means."""

    run: int
    accepted: list[str]
    false_accepts: list[str]  # accepted, true equal-weight mean <= min_improvement
    harmful: list[str]  # accepted, some reached family's true mean < -harm_margin
    screened: int  # values that passed the screen (Holm's m)
    certified: int
    certified_values: int
    certificate_misses: list[tuple[str, float, float, float]]  # constant, value, true, bound
    scenarios: int  # deltas compared over every look (what the run would cost on popoto)
    seconds: float
    reasons: dict[str, str] = field(default_factory=dict)


def synthetic_proposal(constant: Constant, streams: Streams):
    """The given proposal (train-positive, mid-range, no cliff), or a collapsed study for a
    constant popoto never reads."""
    from tuner.decisions.gate import GateEvidence, train_refusal
    from tuner.decisions.proposal import Proposal

    incumbent, proposal, values = looked_at(constant)
    scorer = SyntheticScorer(streams, constant, values, incumbent)  # never popoto
    if not constant.reachable:
        evidence = GateEvidence(collapsed=True, train_delta=0.0, validated=False)
        return Proposal(constant, {}, incumbent, None, True, 11, evidence=evidence,
                        refusal=train_refusal(evidence), train=scorer)  # type: ignore[arg-type]
    evidence = GateEvidence(collapsed=False, train_delta=0.01, validated=False,
                            edge_distance=constant.edge_distance(proposal))
    return Proposal(constant, {}, incumbent, proposal, False, 11, train_delta=0.01,
                    evidence=evidence, refusal=train_refusal(evidence),
                    train=scorer)  # type: ignore[arg-type]


def estimate_only(look: LookRecord, rules: StageRules, design_level: float) -> float:
    """The positive control's stand-in for ``stages.efficacy_p``: "significant" whenever the
    estimate clears min_improvement (p 0), never otherwise (p 1). Injected through the stages'
    own ``efficacy`` parameter; every other rule (harm, errors, futility, Holm, gate) runs."""
    return 0.0 if look.comparison.mean >= rules.min_improvement else 1.0


@contextmanager
def synthetic_banks(streams: Streams, sources: list[ValueSource],
                    efficacy=efficacy_p) -> Iterator[None]:
    """Point the ratchet's confirmation pool and study notes at the synthetic world for the
    duration of one run, and its confirmation at ``efficacy`` (restored in ``finally``)."""
    latest: dict[str, ValueSource] = {}

    def confirmation_pool(constant: Constant, bank: object) -> SeedPool:
        source = latest[constant.name] = ValueSource(streams, constant, PROPOSAL, "confirm")
        sources.append(source)
        return SeedPool(tuple(constant.reached_families), streams.pools.confirm, source.prefix,
                        name=CONFIRM_POOL)

    def held_out_test(proposal, pool: SeedPool) -> SequentialComparison:
        return SequentialComparison(pool, latest[proposal.constant.name], level=1.0)

    hooks = {"confirmation_pool": confirmation_pool, "held_out_test": held_out_test,
             "open_study": lambda *a, **k: None, "record_validation": lambda *a, **k: None}
    if efficacy is not efficacy_p:
        hooks["confirm"] = partial(confirmation.confirm, efficacy=efficacy)
    saved = {}
    try:
        for name, hook in hooks.items():
            saved[name] = getattr(ratchet, name)  # AttributeError: the engine moved; adapt
            setattr(ratchet, name, hook)
        yield
    finally:
        for name, original in saved.items():
            setattr(ratchet, name, original)


def simulate(world: World, settings: SimSettings, *, seed: int, run: int) -> RunOutcome:
    """Screen every constant's proposal, confirm the survivors, gate and certify: one ratchet."""
    started, runs_before = time.perf_counter(), scenario_runs()
    streams = Streams(world, settings.pools, seed=seed, run=run)
    s = settings.ratchet_settings()
    efficacy = estimate_only if settings.control else efficacy_p
    sources: list[ValueSource] = []
    screened = {}
    for constant in world.constants:
        proposal = synthetic_proposal(constant, streams)
        item = ratchet.Screened(proposal, f"sim:{constant.name}")
        if proposal.refusal is None:
            source = ValueSource(streams, constant, PROPOSAL, "screen")
            sources.append(source)
            item.test = SequentialComparison(
                SeedPool(tuple(constant.reached_families), settings.pools.screen,
                         source.prefix, name=SCREEN_POOL), source, level=1.0)
            item.screen = run_screen(item.test, alpha=s.screen_alpha, rules=s.rules,
                                     efficacy=efficacy)
        screened[constant.name] = item
    with synthetic_banks(streams, sources, efficacy):
        confirmed = ratchet.confirm_survivors(screened, s, lambda _m: None)
        results = ratchet.certify_and_gate(screened, confirmed, s, lambda _m: None)
    if scenario_runs() != runs_before:
        raise RuntimeError("the simulation ran popoto scenarios: an engine path is not hooked "
                           "to the synthetic streams (decision_run.synthetic_banks)")
    return judge(world, settings, run, screened, confirmed, results, sources,
                 time.perf_counter() - started)


def judge(world: World, settings: SimSettings, run: int, screened: dict, confirmed: dict,
          results: dict, sources: list[ValueSource], seconds: float) -> RunOutcome:
    """Count what the run decided against the world's true means."""
    by_name = {c.name: c for c in world.constants}
    accepted = [n for n, r in results.items() if r.decision.accept]
    false_accepts = [n for n in accepted
                     if world.true_mean(by_name[n]) <= settings.min_improvement]
    harmful = [n for n in accepted
               if min(world.family_means(by_name[n]).values()) < -settings.harm_margin]
    misses, certified, values = [], 0, 0
    for name, result in results.items():
        certificate = result.certificate
        if certificate is None:
            continue
        certified += 1
        truth = world.true_mean(by_name[name])  # every value looked at shares the spec
        for bound in certificate.values:
            values += 1
            if truth > bound.bound:
                misses.append((name, bound.value, truth, bound.bound))
    return RunOutcome(
        run=run, accepted=sorted(accepted), false_accepts=sorted(false_accepts),
        harmful=sorted(harmful), screened=len(confirmed), certified=certified,
        certified_values=values, certificate_misses=misses,
        scenarios=sum(max(s.looks, default=0) for s in sources), seconds=seconds,
        reasons={n: why(r) for n, r in results.items()})


def why(result) -> str:
    """The gate's reason, with the stage outcome behind it when that says more."""
    reason = result.decision.reason.value
    stage = result.confirmation or result.screen
    if result.decision.accept or stage is None or stage.outcome in (reason, "passed"):
        return reason
    return f"{reason} ({stage.stage}: {stage.outcome})"


__all__ = ["SimSettings", "RunOutcome", "simulate", "looked_at"]
