"""Where a study's time goes: scenario time per family, trial time, Optuna's storage share.

Run: ``python benchmarks/bench_evaluation.py [--scenarios 20] [--trials 15]``. Prints tables;
asserts nothing (speed targets live here, not in timed tests).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scenarios import default_bank, evaluate_scenario  # noqa: E402
from scenarios.families import FAMILIES  # noqa: E402
from tuner.catalog import load_catalog  # noqa: E402
from tuner.redis_server import redis_target  # noqa: E402
from tuner.study import DEFAULT_BATCH, run_study  # noqa: E402


def scenario_times(family: str, count: int) -> list[float]:
    seeds = default_bank(family)[:count]
    evaluate_scenario(seeds[0])  # warm: scripts loaded, imports done
    return [evaluate_scenario(s).seconds for s in seeds]


def family_table(count: int) -> None:
    print(f"\nScenario evaluation time ({count} seeds per family, fresh popoto scenario each)")
    print(f"{'family':20} {'median ms':>10} {'p90 ms':>8} {'records (mean)':>15}")
    for family in sorted(FAMILIES):
        times = np.array(scenario_times(family, count)) * 1000
        records = np.mean([s.record_count for s in default_bank(family)[:count]])
        print(f"{family:20} {np.median(times):10.1f} {np.percentile(times, 90):8.1f} "
              f"{records:15.0f}")


def storage_overhead(storage: str, trials: int) -> float:
    """Seconds per trial Optuna itself spends with this storage (trivial objective)."""
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.TPESampler(seed=0))
    started = time.perf_counter()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=trials)
    return (time.perf_counter() - started) / trials


def study_table(trials: int) -> None:
    decay = load_catalog().resolve("decay_rate")
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        started = time.perf_counter()
        run_study(decay, trials=trials, storage=storage, seed=0, batch=DEFAULT_BATCH)
        per_trial = (time.perf_counter() - started) / trials
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        sqlite = storage_overhead(f"sqlite:///{os.path.join(tmp, 'over.db')}", trials)
    memory = storage_overhead(None, trials)  # type: ignore[arg-type]
    print(f"\nStudy of decay_rate: {trials} trials, batch {DEFAULT_BATCH} (default settings)")
    print(f"{'measure':40} {'value':>12}")
    print(f"{'trial time (s)':40} {per_trial:12.3f}")
    print(f"{'Optuna + SQLite per trial (s)':40} {sqlite:12.4f}")
    print(f"{'Optuna in-memory per trial (s)':40} {memory:12.4f}")
    print(f"{'storage share of a trial':40} {sqlite / per_trial:12.1%}")
    print(f"{'projected default run, 40 trials (s)':40} {40 * per_trial:12.1f}")
    print(f"{'peak RSS of this process (MiB)':40} {peak:12.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenarios", type=int, default=20)
    parser.add_argument("--trials", type=int, default=15)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with redis_target(None) as target:
        print(f"redis: {target.description}")
        family_table(args.scenarios)
        study_table(args.trials)


if __name__ == "__main__":
    main()
