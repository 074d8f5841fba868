"""The LoCoMo replay families as an outside check: a ``decay_rate`` sweep and the current accepts.

LoCoMo (Maharana et al., ACL 2024; CC BY-NC 4.0) is read at run time from ``--locomo PATH``
(default: ``$TUNER_LOCOMO``, else the shared skeleton beside the checkout); nothing of it is in
this repository. Every value runs the same scenarios as its reference (paired) through the
evaluation engine (``evaluate_values``), on a bank of ``--size`` scenarios per family
(``tuner.evaluation.outside.OUTSIDE_BASE_SEED``); each 95% CI resamples whole conversations
(scenarios cluster within the data's few conversations), seeded.

1. ``decay_rate`` on popoto's grid (0.1 .. 1.0) in every LoCoMo family that reads it, each value
   against popoto's default 0.1.
2. The accepted values of the current ratchet (issue 24), each against popoto's default, in the
   LoCoMo families that read it; the others are named as not judged here.
3. The Spearman sanity figure of each family at popoto's defaults.

Run: ``.venv/bin/python benchmarks/bench_locomo.py [--locomo PATH] [--size 40] [--json]``.
Asserts nothing; prints a table (or JSON). Single process, the embedded Redis.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SKELETON = ROOT.parent / "shared" / "data" / "locomo10-skeleton.json"
DECAY_GRID = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)  # popoto's 2026-04-20 sweep grid
ACCEPTED = {  # the full ratchet's accepts on main 25071dc (issue 24)
    "DISMISSED_CYCLE_WEAKEN_FACTOR": 0.512, "CONTRADICTED_CYCLE_WEAKEN_FACTOR": 0.913,
    "delta": 0.104, "decay_per_hop": 0.838, "DEFAULT_SURFACING_THRESHOLD": 0.081,
    "WILSON_CI_THRESHOLD": 0.375, "AUTO_DISCHARGE_CONFIDENCE_THRESHOLD": 0.327,
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locomo", default=os.environ.get("TUNER_LOCOMO") or str(SKELETON))
    parser.add_argument("--size", type=int, default=40, help="scenarios per family")
    parser.add_argument("--draws", type=int, default=2000, help="bootstrap draws")
    parser.add_argument("--seed", type=int, default=0, help="seeds the bootstrap")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    from scenarios.locomo_data import ENV_VAR, LocomoDataError, load_locomo

    try:
        data = load_locomo(args.locomo)
    except LocomoDataError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    os.environ[ENV_VAR] = data.path
    from scenarios.outside import refresh_outside

    refresh_outside()
    started = time.perf_counter()
    report = run(args, data.digest)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2) if args.json else text(report))
    return 0


def run(args: argparse.Namespace, digest: str) -> dict:
    from tuner.catalog import load_catalog
    from tuner.evaluation.engine import BankSpec, evaluate_values, scenario_runs
    from tuner.evaluation.outside import OUTSIDE_BASE_SEED, paired_line
    from tuner.infra.redis_server import redis_target

    catalog = load_catalog()
    options = {"size": args.size, "draws": args.draws, "seed": args.seed}
    decay = catalog.resolve("decay_rate")
    report: dict = {"data_digest": digest, "size": args.size, "base_seed": OUTSIDE_BASE_SEED,
                    "sweep": [], "accepted": [], "sanity": []}
    with redis_target(None):
        for family in sorted({f for c in catalog for f in c.outside_families}):
            seeds = BankSpec(size=args.size, base_seed=OUTSIDE_BASE_SEED).bank(family)
            at_default = evaluate_values({}, seeds)
            report["sanity"].append({"family": family, "mean_score": at_default.mean_score,
                                     "mean_spearman": at_default.mean_spearman,
                                     "errors": len(at_default.errors)})
        for family in decay.outside_families:
            for value in DECAY_GRID[1:]:
                line = paired_line(family, {decay: value}, {}, **options)
                report["sweep"].append({"value": value, **line.to_dict()})
        for name, value in ACCEPTED.items():
            constant = catalog.resolve(name)
            if not constant.outside_families:
                report["accepted"].append({"constant": name, "value": value,
                                           "default": constant.default(),
                                           "verdict": "not read by a LoCoMo family"})
            for family in constant.outside_families:
                line = paired_line(family, {constant: value}, {}, **options)
                report["accepted"].append({"constant": name, "value": value,
                                           "default": constant.default(), **line.to_dict()})
        report["scenario_runs"] = scenario_runs()
    return report


def text(report: dict) -> str:
    lines = [f"LoCoMo replay (data sha256 {report['data_digest']}), {report['size']} scenarios "
             f"per family, base seed {report['base_seed']}; paired gains vs popoto's default, "
             "95% CI bootstrapped by conversation", "",
             "Sanity at popoto's defaults", f"{'family':22} {'score':>7} {'spearman':>9}"]
    lines += [f"{r['family']:22} {r['mean_score']:7.3f} {r['mean_spearman']:+9.3f}"
              + (f"  ({r['errors']} failed)" if r["errors"] else "") for r in report["sanity"]]
    lines += ["", "decay_rate sweep (popoto's grid) vs 0.1",
              f"{'family':22} {'value':>5} {'gain':>8} {'95% CI':>20}  verdict"]
    lines += [f"{r['family']:22} {r['value']:5.1f} {r['estimate']:+8.4f} "
              f"{'[' + format(r['ci_low'], '+.4f') + ', ' + format(r['ci_high'], '+.4f') + ']':>20}"
              f"  {r['verdict']}" for r in report["sweep"]]
    lines += ["", "Current accepts vs popoto's default",
              f"{'constant':36} {'value':>6} {'family':22} {'gain':>8} {'95% CI':>20}  verdict"]
    for r in report["accepted"]:
        if "family" not in r:
            lines.append(f"{r['constant']:36} {r['value']:6.3g} {'-':22} {'':>8} {'':>20}  "
                         f"{r['verdict']}")
            continue
        ci = f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]"
        lines.append(f"{r['constant']:36} {r['value']:6.3g} {r['family']:22} "
                     f"{r['estimate']:+8.4f} {ci:>20}  {r['verdict']}")
    lines.append(f"\n{report['scenario_runs']} scenario runs, {report.get('seconds', 0)} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
