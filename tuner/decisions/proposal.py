"""The train side of a decision: from a finished study to one proposal, or a train refusal.

Everything that *chooses* happens on train seeds, so the held-out scenarios are never used to
pick a value:
1. Proposal: the top few trials (by their paired objective) are re-scored on the whole train
   pool of every reached family; the best of those is proposed.
2. Cliff safety: the proposal +/- 10% of the search range is probed on the first 20 train
   scenarios of each family (a drop of 0.15 stands out there); a drop of 0.15 or more on
   either side is a cliff. The nearest value further from the cliff that is itself cliff-free
   and still beats the incumbent on train is proposed instead ("margin").
3. Edges: when the best sits within 2% of a search edge, the best value inside the range that
   still beats the incumbent on train is proposed instead, and the edge is named (the range
   needs a look); only when there is none is the proposal refused "at bound".
4. Plateaus: when the winning region on train is a plateau (values 10% of the range away score
   within ``PLATEAU_TOLERANCE`` of the best and beat the incumbent), its ends are found on the
   whole train pool (walked in steps of 10% of the range, each end refined by bisection) and
   its middle is proposed instead of the value the study happened to find, often next to a
   step edge that our worlds' discrete levels put there ("plateau middle"). Robustness then
   tests the edge (``robustness.py``).
5. Train-side refusals (collapsed, train regression, at a search edge, cliff) end here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import optuna

from tuner.catalog import Constant
from tuner.decisions.comparison import FamilyScorer
from tuner.decisions.gate import EDGE_FRACTION, Decision, GateEvidence, train_refusal
from tuner.evaluation.engine import BankSpec
from tuner.studies.study import completed, is_collapsed

CLIFF_DROP = 0.15
PROBE_FRACTION = 0.10
MARGIN_STEPS = 3
CLIFF_SCENARIOS = 20  # per family: a drop of 0.15 stands out on 20 paired scenarios
# Values within this of the best on the whole train pool are as good as it: well below the
# smallest gain worth a patch (0.005), above what a step-like constant's ties differ by (0).
PLATEAU_TOLERANCE = 0.002
PLATEAU_REFINE = 3  # bisections per plateau end: its ends to 10% / 2**3 of the range

Progress = Callable[[str], None]


@dataclass
class Proposal:
    """What train says about one constant: the value to test on held-out seeds, or why not."""

    constant: Constant
    incumbent: dict[Constant, float]  # the whole incumbent (every comparison's baseline)
    default: float  # the constant's incumbent value
    value: float | None
    collapsed: bool
    trials: int
    candidates: list[dict] = field(default_factory=list)
    train_default: float | None = None
    train_proposal: float | None = None
    train_delta: float = 0.0
    cliff: dict = field(default_factory=dict)
    margin_from: float | None = None
    bound_from: float | None = None  # set when the study's best sat on a search edge
    train_family_deltas: dict[str, float] = field(default_factory=dict)
    evidence: GateEvidence | None = None
    refusal: Decision | None = None
    train: FamilyScorer | None = None
    plateau: dict = field(default_factory=dict)  # set when the plateau's middle was proposed

    @property
    def rule(self) -> str:
        """Which rule chose the value, for the decision's summary."""
        if self.margin_from is not None:
            return "margin from a cliff"
        if self.plateau:
            return "plateau middle"
        if self.bound_from is not None:
            return "best inside the search range"
        return "best on train"

    @property
    def families(self) -> list[str]:
        return list(self.constant.reached_families)

    @property
    def values(self) -> dict[Constant, float]:
        """The incumbent with the proposal in place of the constant's value."""
        assert self.value is not None
        return {**self.incumbent, self.constant: self.value}


def probe_points(constant: Constant, value: float) -> list[float]:
    """value -/+ 10% of the search range (in log space for log ranges), inside the range."""
    low, high = constant.search_low, constant.search_high
    points = []
    for sign in (-1, 1):
        if constant.log:
            probe = value * ((high / low) ** PROBE_FRACTION) ** sign
        else:
            probe = value + sign * PROBE_FRACTION * (high - low)
        probe = min(max(probe, low), high)
        if constant.is_int:
            probe = float(round(probe))
        if not math.isclose(probe, value):
            points.append(probe)
    return points


def score_together(scorer: FamilyScorer | Callable[[float], float],
                   values: list[float]) -> None:
    """Score ``values`` in one pool request before ``scorer`` reads them one by one (a plain
    function standing in for a scorer has nothing to fetch)."""
    fetch = getattr(scorer, "prefetch", None)
    if fetch is not None:
        fetch(values)


def find_cliff(constant: Constant, value: float, train: FamilyScorer) -> float | None:
    """The probed neighbour where mean nDCG@5 drops by CLIFF_DROP or more, if any."""
    here = train(value)
    drops = [(here - train(p), p) for p in probe_points(constant, value)]
    cliffs = [p for drop, p in sorted(drops, reverse=True) if drop >= CLIFF_DROP]
    return cliffs[0] if cliffs else None


def margin_candidates(constant: Constant, value: float, cliff: float) -> list[float]:
    """Values stepping away from the cliff, 10% of the range at a time, inside the range."""
    away = 1 if cliff < value else -1
    out, current = [], value
    for _ in range(MARGIN_STEPS):
        nxt = [p for p in probe_points(constant, current) if (p - current) * away > 0]
        if not nxt:
            break
        current = nxt[0]
        out.append(current)
    return out


def shift_from_cliff(constant: Constant, proposal: float, cliff: float, train: FamilyScorer,
                     default: float) -> float | None:
    """The nearest value away from the cliff that is cliff-free and beats the default on train.

    Chosen on train only, so moving away from a cliff never costs a validation look.
    """
    for candidate in margin_candidates(constant, proposal, cliff):
        if find_cliff(constant, candidate, train) is None and train(candidate) > train(default):
            return candidate
    return None


def choose_proposal(
    done: list[optuna.trial.FrozenTrial], constant: Constant, train: FamilyScorer, top: int
) -> tuple[float, list[dict]]:
    """Re-score the top ``top`` distinct values on the whole train pool; best one wins."""
    ranked = sorted(done, key=lambda t: (-t.value, t.number))
    values: list[float] = []
    for trial in ranked:
        value = trial.params[constant.name]
        if value not in values:
            values.append(value)
        if len(values) == top:
            break
    score_together(train, values)
    candidates = [{"value": v, "train": train(v)} for v in values]
    best = max(candidates, key=lambda c: c["train"])
    return best["value"], candidates


def nearest_bound(constant: Constant, value: float) -> str:
    low, high = constant.search_low, constant.search_high
    return "lower" if abs(value - low) <= abs(high - value) else "upper"


def propose(study: optuna.Study, constant: Constant, *, bank: BankSpec,
            incumbent: Mapping[Constant, float], top: int,
            progress: Progress | None = None) -> Proposal:
    """Choose the value to test on held-out seeds, on train only; refuse what train refuses."""
    say = progress or (lambda _message: None)
    incumbent = dict(incumbent)
    default = incumbent.get(constant, constant.default())
    done = completed(study)
    if not done or is_collapsed(done):
        evidence = GateEvidence(collapsed=True, train_delta=0.0, validated=False)
        return Proposal(constant, incumbent, default, None, True, len(done), evidence=evidence,
                        refusal=train_refusal(evidence))
    unbeaten = incumbent_unbeaten(done, constant, incumbent, default)
    if unbeaten is not None:
        return unbeaten
    families = list(constant.reached_families)
    train = FamilyScorer(constant, {f: bank.pools(f)[0] for f in families}, incumbent)
    say(f"re-scoring the top {top} values on the train pools of {len(families)} families")
    value, candidates = choose_proposal(done, constant, train, top)
    bound_from = None
    if constant.edge_distance(value) < EDGE_FRACTION:
        inside = choose_inside(done, constant, train, top, default)
        if inside is not None:
            bound_from, value = value, inside
            candidates.append({"value": inside, "train": train(inside), "inside": True})
    probe = FamilyScorer(constant, {f: pool[:CLIFF_SCENARIOS] for f, pool in train.pools.items()},
                         incumbent)
    plateau = find_plateau(constant, value, train, probe, default)
    if plateau:
        say(f"plateau on train [{plateau['low']:.4g}, {plateau['high']:.4g}]: its middle")
        value = plateau["middle"]
        candidates.append({"value": value, "train": train(value), "plateau": True})
    say("probing for cliffs on train")
    cliff, margin_from = find_cliff(constant, value, probe), None
    if cliff is not None:
        shifted = shift_from_cliff(constant, value, cliff, probe, default)
        if shifted is not None:
            margin_from, value, cliff = value, shifted, None
    train_delta = train(value) - train(default)
    evidence = GateEvidence(
        collapsed=False, train_delta=train_delta, validated=False, cliff_at=cliff,
        margin_from=margin_from, bound_from=bound_from,
        edge_distance=constant.edge_distance(value),
        bound=nearest_bound(constant, bound_from if bound_from is not None else value))
    by_value, by_default = train.per_family(value), train.per_family(default)
    return Proposal(
        constant, incumbent, default, value, False, len(done), candidates=candidates,
        train_default=train(default), train_proposal=train(value), train_delta=train_delta,
        cliff={"probes": {str(p): probe(p) for p in probe_points(constant, value)},
               "here": probe(value), "cliff_at": cliff, "drop": CLIFF_DROP,
               "scenarios": CLIFF_SCENARIOS},
        margin_from=margin_from, bound_from=bound_from,
        train_family_deltas={f: by_value[f] - by_default[f] for f in families},
        evidence=evidence, refusal=train_refusal(evidence), train=train, plateau=plateau)


def incumbent_unbeaten(done: list[optuna.trial.FrozenTrial], constant: Constant,
                       incumbent: dict[Constant, float], default: float) -> Proposal | None:
    """A train regression straight from the study, when no trial scored above the incumbent's
    own trial (scored on the whole train pool): re-scoring, plateaus and cliff probes could only
    look for a winner the study never saw, at the cost of a few hundred scenario runs."""
    own = _incumbent_trial(done, constant, default)
    if own is None:
        return None
    best = max(done, key=lambda t: (t.value, -t.number))
    if best.value > own.value:
        return None
    value = best.params[constant.name]
    evidence = GateEvidence(collapsed=False, train_delta=best.value - own.value,
                            validated=False, edge_distance=constant.edge_distance(value))
    return Proposal(constant, incumbent, default, value, False, len(done),
                    train_default=own.value, train_proposal=best.value,
                    train_delta=best.value - own.value, evidence=evidence,
                    refusal=train_refusal(evidence))


def _incumbent_trial(done: list[optuna.trial.FrozenTrial], constant: Constant,
                     default: float) -> optuna.trial.FrozenTrial | None:
    return next((t for t in sorted(done, key=lambda t: t.number)
                 if t.params.get(constant.name) == default), None)


def _to_axis(constant: Constant, value: float) -> float:
    return math.log(value) if constant.log else value


def _from_axis(constant: Constant, x: float) -> float:
    value = math.exp(x) if constant.log else x
    value = min(max(value, constant.search_low), constant.search_high)
    return float(round(value)) if constant.is_int else value


def _walk(constant: Constant, value: float, point: float, on: Callable[[float], bool],
          probes: dict) -> tuple[float, float | None]:
    """From ``value`` through ``point`` outward, 10% of the range a step, while on the plateau:
    (the last value on it, the first off it, or None at the search edge)."""
    side, inside, current = (1 if point > value else -1), value, point
    while on(current):
        probes[current] = True
        inside = current
        nxt = [p for p in probe_points(constant, current) if (p - current) * side > 0]
        if not nxt:
            return inside, None
        current = nxt[0]
    return inside, current


def find_plateau(constant: Constant, value: float, train: FamilyScorer, probe: FamilyScorer,
                 default: float) -> dict:
    """The plateau around ``value`` and its middle, or {} when the winning region is no plateau.

    A value is on the plateau when it scores within ``PLATEAU_TOLERANCE`` of ``value`` and
    beats the incumbent, on the probe pool (the first 20 train scenarios per family) while the
    ends are walked and refined, and on the whole train pool for the middle that is proposed.
    Cheap first: unless a cliff probe (10% of the range away) is within the tolerance of the
    value, there is no plateau and nothing more is scored, so a peaked response costs only the
    cliff probes it needs anyway. Otherwise a flat side is walked outward and both ends are
    refined. (Walking on the whole pool cost ~2,300 scenario runs for a 4-family constant,
    more than its whole study.)
    """
    score_together(probe, [value, *probe_points(constant, value)])  # find_cliff's too
    here = probe(value)
    sides = [(p, abs(here - probe(p)) <= PLATEAU_TOLERANCE)
             for p in probe_points(constant, value)]
    if not any(flat for _, flat in sides):
        return {}
    best, base = train(value), train(default)
    probe_base = probe(default)

    def on(v: float) -> bool:
        """On the plateau as the probe pool sees it: the walk and the refinement run there
        (20 scenarios per family, 40% of the whole pool's cost); the middle it picks is then
        checked on the whole train pool (``on_train``) before it is proposed."""
        score = probe(v)
        return here - score <= PLATEAU_TOLERANCE and score > probe_base

    def on_train(v: float) -> bool:
        score = train(v)
        return best - score <= PLATEAU_TOLERANCE and score > base
    ends, probes = [], {}
    for point, flat in sides:
        inside, outside = _walk(constant, value, point, on, probes) if flat else (value, point)
        if outside is not None:
            for _ in range(PLATEAU_REFINE):
                mid = _from_axis(constant, 0.5 * (_to_axis(constant, inside)
                                                  + _to_axis(constant, outside)))
                if mid in (inside, outside):
                    break
                inside, outside = (mid, outside) if on(mid) else (inside, mid)
        ends.append(inside)
    low, high = min([value, *ends]), max([value, *ends])
    if low == high:
        return {}
    middle = _from_axis(constant, 0.5 * (_to_axis(constant, low) + _to_axis(constant, high)))
    if middle == value or not on_train(middle):
        return {}
    return {"from": value, "low": low, "high": high, "middle": middle,
            "tolerance": PLATEAU_TOLERANCE, "train_best": best, "train_middle": train(middle),
            "walked": sorted(probes)}


def choose_inside(done: list[optuna.trial.FrozenTrial], constant: Constant,
                  train: FamilyScorer, top: int, default: float) -> float | None:
    """The best value away from the search edges, when the study's best sits on one.

    An optimum pressed against the edge says the range needs a look; it does not make every
    value inside the range worthless. The best ``top`` trials at least 2% from both edges are
    re-scored on the whole train pool (grid values are already), and the best of them is
    proposed if it beats the incumbent on train; the decision then names the edge.
    """
    inside = [t for t in sorted(done, key=lambda t: (-t.value, t.number))
              if constant.edge_distance(t.params[constant.name]) >= EDGE_FRACTION]
    values: list[float] = []
    for trial in inside:
        value = trial.params[constant.name]
        if value not in values and value != default:
            values.append(value)
        if len(values) == top:
            break
    best = max(values, key=train, default=None)
    return best if best is not None and train(best) > train(default) else None
