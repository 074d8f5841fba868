"""Where the time goes, side by side in one run.

1. Per family, on the same train scenarios: **popoto-harness style** (as popoto's own sweep
   runs a scenario: a new model class, every record its own ``save()`` round trips, no template,
   every key deleted one by one) against **tuner's path** (a template written once per scenario,
   then ``RESTORE`` + the value-dependent part + one pipelined ``UNLINK``). The rankings and
   scores of both are asserted identical; the ratio is printed.
2. A ``decay_rate`` study at default settings: trial time, and Optuna's storage share of it.
3. ``tuner ratchet --tier 1`` wall time at default settings with 1 and N workers
   (``benchmarks/bench_ratchet.py``; ``--ratchet-tier none`` skips it).

Run: ``python benchmarks/bench_evaluation.py [--scenarios 20] [--trials 15]
[--ratchet-tier 1] [--workers 1,2] [--json]``. Asserts nothing but identical rankings.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import scenarios.runner as runner  # noqa: E402
from benchmarks.bench_ratchet import run_ratchet  # noqa: E402
from scenarios import evaluate_scenario  # noqa: E402
from scenarios.families import FAMILIES  # noqa: E402
from scenarios.restore import clear_templates  # noqa: E402
from tuner.catalog import load_catalog  # noqa: E402
from tuner.defaults import DEFAULT_RATCHET_TRIALS  # noqa: E402
from tuner.evaluation.engine import BankSpec  # noqa: E402
from tuner.infra.redis_server import redis_target  # noqa: E402
from tuner.studies.study import DEFAULT_BATCH, run_study  # noqa: E402


def delete_key_by_key(class_names, extra_patterns=()) -> int:
    """popoto's harness cleanup: one DEL round trip per key (kinder than ``instance.delete()``,
    which costs several per record)."""
    from popoto.redis_db import get_REDIS_DB

    client = get_REDIS_DB()
    keys = runner.namespace_keys(client, class_names, extra_patterns)
    for key in keys:
        client.delete(key)
    return len(keys)


@contextmanager
def popoto_harness_style() -> Iterator[None]:
    """Every ``save()`` runs on its own (no shared pipeline), cleanup is key by key."""
    from popoto import Model

    original_save, original_delete = Model.save, runner.delete_namespace

    def save_alone(self, *args, pipeline=None, **kwargs):
        return original_save(self, *args, **kwargs)

    Model.save = save_alone
    runner.delete_namespace = delete_key_by_key
    try:
        yield
    finally:
        Model.save = original_save
        runner.delete_namespace = original_delete


def outcome(result) -> tuple:
    return result.top, result.score, result.error


def family_row(family: str, count: int) -> dict:
    seeds = BankSpec(size=2 * count).pools(family)[0][:count]
    evaluate_scenario(seeds[0], restore=False)  # warm: scripts loaded, imports done
    with popoto_harness_style():
        harness = [evaluate_scenario(s, restore=False) for s in seeds]
    clear_templates()
    first = [evaluate_scenario(s, restore=True) for s in seeds]  # writes the templates
    steady = [evaluate_scenario(s, restore=True) for s in seeds]
    for a, b in zip(harness, steady, strict=True):
        assert outcome(a) == outcome(b), f"{a.label}: harness {outcome(a)} != tuner {outcome(b)}"
    harness_ms = float(np.median([r.seconds for r in harness]) * 1000)
    steady_ms = float(np.median([r.seconds for r in steady]) * 1000)
    return {
        "family": family,
        "scenarios": count,
        "records_mean": float(np.mean([s.record_count for s in seeds])),
        "harness_ms": round(harness_ms, 2),
        "tuner_first_ms": round(float(np.median([r.seconds for r in first]) * 1000), 2),
        "tuner_ms": round(steady_ms, 2),
        "ratio": round(harness_ms / steady_ms, 1),
        "identical": True,
    }


def storage_overhead(storage: str | None, trials: int) -> float:
    """Seconds per trial Optuna itself spends with this storage (trivial objective)."""
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.TPESampler(seed=0))
    started = time.perf_counter()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=trials)
    return (time.perf_counter() - started) / trials


def study_row(trials: int) -> dict:
    decay = load_catalog().resolve("decay_rate")
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        started = time.perf_counter()
        run_study(decay, trials=trials, storage=storage, seed=0, batch=DEFAULT_BATCH)
        per_trial = (time.perf_counter() - started) / trials
        sqlite = storage_overhead(f"sqlite:///{os.path.join(tmp, 'over.db')}", trials)
    return {
        "constant": "decay_rate",
        "trials": trials,
        "batch": DEFAULT_BATCH,
        "trial_s": round(per_trial, 4),
        "sqlite_per_trial_s": round(sqlite, 4),
        "memory_per_trial_s": round(storage_overhead(None, trials), 4),
        "storage_share": round(sqlite / per_trial, 4),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def print_tables(report: dict) -> None:
    print(f"\nPer scenario, same train seeds ({report['redis']}): popoto-harness style vs tuner")
    print(f"{'family':18} {'records':>7} {'harness ms':>11} {'tuner 1st ms':>13} "
          f"{'tuner ms':>9} {'ratio':>7}  rankings")
    for r in report["families"]:
        print(f"{r['family']:18} {r['records_mean']:7.0f} {r['harness_ms']:11.1f} "
              f"{r['tuner_first_ms']:13.1f} {r['tuner_ms']:9.1f} {r['ratio']:6.1f}x  identical")
    s = report["study"]
    print(f"\nStudy of {s['constant']}: {s['trials']} trials, batch {s['batch']} (default)")
    for label, key in (("trial time (s)", "trial_s"), ("Optuna + SQLite per trial (s)",
                       "sqlite_per_trial_s"), ("Optuna in-memory per trial (s)",
                       "memory_per_trial_s"), ("storage share of a trial", "storage_share"),
                       ("peak RSS of this process (MiB)", "peak_rss_mib")):
        print(f"{label:40} {s[key]:12}")
    if report["ratchet"]:
        base = report["ratchet"][0]["seconds"]
        print(f"\ntuner ratchet --tier {report['ratchet'][0]['tier']} (default settings)")
        print(f"{'workers':>8} {'wall s':>8} {'speed-up':>9} {'constants':>10} {'accepted':>9}")
        for r in report["ratchet"]:
            print(f"{r['workers']:>8} {r['seconds']:>8.1f} {base / r['seconds']:>8.2f}x "
                  f"{r['constants']:>10} {r['accepted']:>9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenarios", type=int, default=20)
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--ratchet-tier", default="1", help="'none' skips the ratchet timing")
    parser.add_argument("--ratchet-trials", type=int, default=DEFAULT_RATCHET_TRIALS)
    parser.add_argument("--workers", default=f"1,{os.cpu_count() or 2}")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ.setdefault("TUNER_RESULT_CACHE", "off")
    with redis_target(None) as target:
        report = {"redis": target.description,
                  "families": [family_row(f, args.scenarios) for f in sorted(FAMILIES)],
                  "study": study_row(args.trials)}
    report["ratchet"] = [] if args.ratchet_tier == "none" else [
        run_ratchet(args.ratchet_tier, int(n), args.ratchet_trials)
        for n in dict.fromkeys(args.workers.split(","))
    ]
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_tables(report)


if __name__ == "__main__":
    main()
