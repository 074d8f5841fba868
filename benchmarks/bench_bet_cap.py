"""How the betting tests' caps on a bet move their power: a seeded simulation.

A cap is given as ``LATE`` or ``LATE/EARLY``: bets are capped at ``EARLY`` for the first
``betting.EARLY_ROUNDS`` rounds and at ``LATE`` after (``betting.B_MAX_EARLY`` and ``B_MAX``;
``EARLY`` defaults to the early cap in force, never above ``LATE``). ``0.75/0.75`` is the
paper's 3/4 throughout.

The cap never touches validity (any cap below 1 keeps every factor of the capital positive, and
Ville's inequality does the rest); it bounds how fast a capital can grow where the rounds vary
little, which is where the confirmation spends most of its scenarios (a 7-family constant's
rounds are means of 7 deltas). Two questions, each over the same seeded draws for every cap:

- **confirmation**: rounds of ``families`` per-family deltas N(gain, sd) clipped to [-1, 1],
  looked at on the confirmation schedule (50, 62, 78, ... 1,200 per family); the first look where
  the anytime p-value of "mean <= 0.005" is below ``alpha / 9`` (a Holm level of a ratchet with
  9 candidates left). Reported: the share confirmed within 1,200 and the mean stopping size.
- **no harm**: one family's deltas with mean >= 0 (normal, sparse) and one with a loss beyond
  the margin; the first look where "mean <= -0.02" is rejected at 0.05 (the no-harm rule).
  The losing world must never pass, whatever the cap.

Run: ``python benchmarks/bench_bet_cap.py [--caps 0.75/0.75,0.9/0.9,0.9] [--reps 200] [--seed 0]
[--json]``.
Prints a table, or JSON with ``--json``; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuner.decisions import betting  # noqa: E402
from tuner.decisions.power import LOOK_GROWTH, look_sizes  # noqa: E402
from tuner.defaults import CONFIRMATION_SIZE, DEFAULT_HARM_MARGIN  # noqa: E402

BAR = 0.005
HOLM_LEVEL = 0.05 / 9
HARM_LEVEL = 0.05
CONFIRMATIONS = (  # name, gain, per-family SD, families
    ("7 families +0.016 SD 0.10", 0.016, 0.10, 7),
    ("7 families +0.015 SD 0.10", 0.015, 0.10, 7),
    ("4 families +0.014 SD 0.10", 0.014, 0.10, 4),
    ("2 families +0.02 SD 0.15", 0.02, 0.15, 2),
    ("1 family +0.03 SD 0.19", 0.03, 0.19, 1),
)
Draw = Callable[[np.random.Generator, int], np.ndarray]
HARM_WORLDS: tuple[tuple[str, Draw], ...] = (
    ("N(0, 0.19)", lambda rng, n: np.clip(rng.normal(0.0, 0.19, n), -1, 1)),
    ("N(0, 0.05)", lambda rng, n: np.clip(rng.normal(0.0, 0.05, n), -1, 1)),
    ("3% +-0.5, rest 0", lambda rng, n: np.where(rng.random(n) < 0.03,
                                                  rng.choice([-0.5, 0.5], n), 0.0)),
    ("1% -0.5, rest 0", lambda rng, n: np.where(rng.random(n) < 0.01, -0.5, 0.0)),
    ("10% -0.3 (loses 0.03)", lambda rng, n: np.where(rng.random(n) < 0.10, -0.3, 0.0)),
)


def first_rejection(x: np.ndarray, m: float, level: float, sizes: list[int]) -> int | None:
    return next((n for n in sizes if betting.p_value(x[:n], m, design_level=level) < level),
                None)


def summary(stops: list[int | None]) -> dict:
    found = [s for s in stops if s is not None]
    return {"rate": round(len(found) / len(stops), 3),
            "mean_n": round(float(np.mean(found)), 1) if found else None}


def confirmation_rows(cap: str, reps: int, seed: int, sizes: list[int]) -> list[dict]:
    rows = []
    for name, gain, sd, families in CONFIRMATIONS:
        rng = np.random.default_rng(seed)
        stops = []
        for _ in range(reps):
            deltas = np.clip(rng.normal(gain, sd, size=(families, sizes[-1])), -1, 1)
            stops.append(first_rejection(deltas.mean(axis=0), BAR, HOLM_LEVEL, sizes))
        rows.append({"world": name, "cap": cap, **summary(stops)})
    return rows


def harm_rows(cap: str, reps: int, seed: int, sizes: list[int]) -> list[dict]:
    rows = []
    for name, draw in HARM_WORLDS:
        rng = np.random.default_rng(seed)
        stops = [first_rejection(draw(rng, sizes[-1]), -DEFAULT_HARM_MARGIN, HARM_LEVEL, sizes)
                 for _ in range(reps)]
        rows.append({"world": name, "cap": cap, **summary(stops)})
    return rows


def parse_cap(spec: str, early_in_force: float) -> tuple[float, float]:
    """``LATE`` or ``LATE/EARLY`` -> (late, early), each in (0, 1)."""
    late, _, early = spec.partition("/")
    caps = (float(late), min(float(late), float(early) if early else early_in_force))
    if not all(0 < c < 1 for c in caps):
        raise SystemExit(f"a cap must lie in (0, 1) (validity needs every factor > 0); "
                         f"got {spec!r}")
    return caps


def simulate(caps: list[str], reps: int, seed: int) -> dict:
    sizes = look_sizes(CONFIRMATION_SIZE, growth=LOOK_GROWTH)
    saved = betting.B_MAX, betting.B_MAX_EARLY
    out: dict = {"caps": caps, "reps": reps, "seed": seed,
                 "in_force": f"{saved[0]}/{saved[1]}", "early_rounds": betting.EARLY_ROUNDS,
                 "confirmation": [], "no_harm": []}
    try:
        for spec in caps:
            betting.B_MAX, betting.B_MAX_EARLY = parse_cap(spec, saved[1])
            out["confirmation"] += confirmation_rows(spec, reps, seed, sizes)
            out["no_harm"] += harm_rows(spec, reps, seed, sizes)
    finally:
        betting.B_MAX, betting.B_MAX_EARLY = saved
    return out


def print_table(title: str, rows: list[dict], caps: list[str], rate: str) -> None:
    print(f"\n{title}")
    print(f"{'world':>28} " + " ".join(f"{'cap ' + c:>20}" for c in caps))
    for world in dict.fromkeys(r["world"] for r in rows):
        cells = []
        for cap in caps:
            r = next(r for r in rows if r["world"] == world and r["cap"] == cap)
            mean_n = "-" if r["mean_n"] is None else f"{r['mean_n']:.0f}"
            cells.append(f"{r['rate']:>8.3f} n {mean_n:>8}")
        print(f"{world:>28} " + " ".join(f"{c:>20}" for c in cells))
    print(f"({rate}; n: mean scenarios per family where it did)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--caps", default="0.75/0.75,0.9/0.9,0.9",
                        help="Comma-separated LATE or LATE/EARLY caps.")
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    caps = args.caps.split(",")
    report = simulate(caps, args.reps, args.seed)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"betting cap simulation: {args.reps} draws per world, seed {args.seed}, "
          f"cap in force {report['in_force']} (late/early; early = the first "
          f"{report['early_rounds']} rounds)")
    print_table(f"confirmation (H0 mean <= {BAR} at alpha/9 = {HOLM_LEVEL:.4f})",
                report["confirmation"], caps, "share confirmed within the pool")
    print_table(f"no harm (H0 mean <= -{DEFAULT_HARM_MARGIN} at {HARM_LEVEL})",
                report["no_harm"], caps, "share shown harmless; the losing world must be 0")


if __name__ == "__main__":
    main()
