"""Named synthetic worlds and the acceptance lines of issue 22, for ``bench_decisions.py``.

Worlds (``--mix``), each on top of ``--null`` for every constant they do not name:

- ``skewed-nulls``: every (constant, family) a skewed delta with mean <= 0 (most scenarios gain
  a little, a few lose a lot: the shape of a permissive threshold), six shapes in turn;
- ``recovery``: two targets — ``WILSON_CI_THRESHOLD`` (one family) at normal(+0.03, 0.19), the
  noisiest SD measured on popoto, and ``decay_rate`` (7 families) at normal(+0.015, 0.10) in
  each — beside ``BACKGROUND``, 8 other constants carrying real effects, so Holm's m is
  realistic (the real ratchet screened 9 values through);
- ``harm``: ``decay_rate`` gains +0.02 on the equal-weight mean but its own family truly loses
  0.03 (normal, SD 0.10), beside the same background.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from decision_sim import SKEWED_NULLS, Spec, World, build_world, parse_spec

from tuner.catalog import Constant, load_catalog

CATALOG = Path(__file__).resolve().parents[1] / "studies" / "popoto.toml"

# 8 constants with real, detectable effects (fixed before any run): they pass the screen and
# reach the confirmation beside a target, as accepted values do in a real ratchet.
BACKGROUND = (
    ("initial_confidence", "normal:0.03,0.10"), ("CONTRADICTED_CONFIDENCE_SIGNAL",
                                                 "normal:0.02,0.10"),
    ("_wf_min_threshold", "normal:0.05,0.15"), ("ACTED_CYCLE_STRENGTHEN_FACTOR",
                                                "normal:0.04,0.12"),
    ("decay_per_hop", "normal:0.05,0.15"), ("DEFAULT_SURFACING_THRESHOLD", "normal:0.03,0.10"),
    ("TD_ALPHA", "normal:0.04,0.15"), ("PL_CONFIDENCE_LOW_SIGNAL", "normal:0.02,0.08"),
)
# (constant, per-scenario SD, effects swept by --recovery); index 2 is the acceptance's effect
RECOVERY_SWEEP = (
    ("WILSON_CI_THRESHOLD", 0.19, (0.01, 0.02, 0.03, 0.04, 0.05)),
    ("decay_rate", 0.10, (0.005, 0.01, 0.015, 0.02, 0.025)),
)
ACCEPTANCE_POINT = 2
HARMED_FAMILY, HARM_LOSS, HARM_MEAN, HARM_SD = "decay", -0.03, 0.02, 0.10
MIXES = ("skewed-nulls", "recovery", "harm")


def catalog_constants(path: Path | None = None) -> list[Constant]:
    """The catalog's constants in order, each with the families it really reaches."""
    return list(load_catalog(path or CATALOG))


def make_world(constants: Sequence[Constant], mix: str | None, *, null: Spec,
               alts: Sequence[tuple[str, str | None, Spec]] = (),
               sweep: int = ACCEPTANCE_POINT) -> World:
    """The named world (or the plain null), then ``alts`` in order."""
    assignments: list[tuple[str, str | None, Spec]] = []
    note = f"null {null.text}"
    if mix in ("recovery", "harm"):
        assignments += [(name, None, parse_spec(spec)) for name, spec in BACKGROUND]
    if mix == "recovery":
        for name, sd, effects in RECOVERY_SWEEP:
            assignments.append((name, None, Spec("normal", (effects[sweep], sd))))
        note += "; recovery: " + ", ".join(f"{n} normal:{e[sweep]:g},{sd:g}"
                                           for n, sd, e in RECOVERY_SWEEP)
    if mix == "harm":
        decay = next(c for c in constants if c.name == "decay_rate")
        others = [f for f in decay.reached_families if f != HARMED_FAMILY]
        gain = (HARM_MEAN * len(decay.reached_families) - HARM_LOSS) / len(others)
        assignments += [("decay_rate", f, Spec("normal", (gain, HARM_SD))) for f in others]
        assignments.append(("decay_rate", HARMED_FAMILY, Spec("normal", (HARM_LOSS, HARM_SD))))
        note += (f"; harm: decay_rate +{HARM_MEAN:g} on the mean, {HARMED_FAMILY} "
                 f"{HARM_LOSS:+g} (SD {HARM_SD:g})")
    if mix in ("recovery", "harm"):
        note += f"; {len(BACKGROUND)} background effects"
    if mix == "skewed-nulls":
        note = f"skewed nulls (mean <= 0) in every family, {len(SKEWED_NULLS)} shapes in turn"
    assignments += list(alts)
    if alts:
        note += "; " + ", ".join(f"{n}{'@' + f if f else ''}={s.text}" for n, f, s in alts)
    return build_world(constants, null=null, assignments=assignments, mix=mix, note=note)


@dataclass(frozen=True)
class Check:
    """One pass/fail criterion on a world's summary."""

    criterion: str
    value: Callable[[dict], float]
    passes: Callable[[float], bool]

    def judge(self, summary: dict) -> dict:
        value = self.value(summary)
        return {"criterion": self.criterion, "value": value,
                "passed": bool(not math.isnan(value) and self.passes(value))}


FALSE_ACCEPTS = Check("false accepts: CP95 upper <= 0.05", lambda s: s["false_accept_upper"],
                      lambda v: v <= 0.05)
HARM = Check("harmful accepts: rate <= 0.05", lambda s: s["harm_rate"], lambda v: v <= 0.05)
COVERAGE = Check("certificate coverage >= 0.95", lambda s: s["certificate_coverage"],
                 lambda v: v >= 0.95)
CONTROL = Check("control must fail: CP95 lower > 0.05", lambda s: s["false_accept_lower"],
                lambda v: v > 0.05)


def recovered(name: str) -> Check:
    return Check(f"recovery {name} >= 0.80",
                 lambda s: s["recovery"].get(name, {}).get("rate", math.nan),
                 lambda v: v >= 0.80)


@dataclass(frozen=True)
class Line:
    """One acceptance line: a world, run ``--runs`` times, and its criteria."""

    name: str
    null: str
    world: str | None = None
    control: bool = False
    checks: tuple[Check, ...] = field(default_factory=tuple)


NULLS = (
    Line("null: zero", "zero", checks=(FALSE_ACCEPTS,)),
    Line("null: skew:0.02,0.5,0.01", "skew:0.02,0.5,0.01", checks=(FALSE_ACCEPTS,)),
    Line("null: skewed-nulls mix (mean <= 0)", "zero", "skewed-nulls", checks=(FALSE_ACCEPTS,)),
    Line("null: normal:0,0.10 (symmetric noise)", "normal:0,0.10", checks=(FALSE_ACCEPTS,)),
)
HARMS = (Line("harm: decay_rate +0.02 mean, decay family -0.03", "zero", "harm",
              checks=(HARM,)),)
CERTIFICATES = (
    Line("certificates: sparse:0.01,0.5", "sparse:0.01,0.5", checks=(COVERAGE,)),
    Line("certificates: sparse:0.03,0.5", "sparse:0.03,0.5", checks=(COVERAGE,)),
)
RECOVERIES = (Line("recovery: 2 targets + 8 background effects", "zero", "recovery",
                   checks=tuple(recovered(n) for n, _, _ in RECOVERY_SWEEP)),)
CONTROLS = (Line("positive control: skew:0.02,0.5,0.01", "skew:0.02,0.5,0.01", control=True,
                 checks=(CONTROL,)),)
PRESETS = {
    "acceptance": NULLS + HARMS + CERTIFICATES + RECOVERIES + CONTROLS,
    "nulls": NULLS, "harm": HARMS, "certificates": CERTIFICATES, "recovery": RECOVERIES,
    "control": CONTROLS,
}
