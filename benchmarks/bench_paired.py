"""How much sample luck the paired objective removes: SD over trials, paired vs raw.

For one constant, 20 trials at each fixed value draw their own train samples (as a study
does); the table compares the SD of the paired objective (baseline whole-pool mean + mean
paired delta) with the SD of the raw sample mean. Pairing removes how hard each sample was;
the scenario-by-value interaction it cannot remove grows with the distance from the baseline.

Run: ``python benchmarks/bench_paired.py [--constant decay_rate] [--values 0.105,0.11,0.15,0.3]
[--trials 20] [--batch 20] [--all-families] [--json]``. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tuner.catalog import load_catalog  # noqa: E402
from tuner.evaluation.engine import BankSpec  # noqa: E402
from tuner.infra.redis_server import redis_target  # noqa: E402
from tuner.studies.objective import ConstantObjective  # noqa: E402


def measure(constant_name: str, values: list[float], *, trials: int, batch: int,
            all_families: bool) -> list[dict]:
    constant = load_catalog().resolve(constant_name)
    families = constant.reached_families if all_families else (constant.family,)
    pools = {f: BankSpec().pools(f)[0] for f in families}
    rows = []
    for value in values:
        objective = ConstantObjective(constant=constant, train_pools=pools, study_seed=0,
                                      batch=batch)
        started = time.perf_counter()
        scores = [objective.score(value, n) for n in range(trials)]
        paired = float(np.std([s.value for s in scores]))
        raw = float(np.std([s.raw_mean for s in scores]))
        rows.append({"constant": constant.name, "value": value, "families": list(families),
                     "trials": trials, "batch": batch, "paired_sd": round(paired, 5),
                     "raw_sd": round(raw, 5),
                     "ratio": round(raw / paired, 2) if paired > 0 else None,
                     "seconds": round(time.perf_counter() - started, 1)})
    return rows


def print_table(rows: list[dict]) -> None:
    first = rows[0]
    print(f"\nPaired vs raw objective: {first['constant']} on {', '.join(first['families'])}, "
          f"{first['trials']} trials, batch {first['batch']}")
    print(f"{'value':>8} {'paired SD':>10} {'raw SD':>8} {'raw / paired':>13} {'s':>6}")
    for r in rows:
        ratio = "inf" if r["ratio"] is None else f"{r['ratio']:.1f}x"
        print(f"{r['value']:>8g} {r['paired_sd']:>10.4f} {r['raw_sd']:>8.4f} {ratio:>13} "
              f"{r['seconds']:>6.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--constant", default="decay_rate")
    parser.add_argument("--values", default="0.105,0.11,0.12,0.15,0.3")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--all-families", action="store_true",
                        help="Every family the constant reaches (default: its own family).")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    values = [float(v) for v in args.values.split(",")]
    with redis_target(None):
        rows = measure(args.constant, values, trials=args.trials, batch=args.batch,
                       all_families=args.all_families)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)


if __name__ == "__main__":
    main()
