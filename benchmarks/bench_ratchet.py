"""Wall time of a ratchet at default settings with 1 and N worker processes, and whether its
accepted values hold on a bank no decision saw.

Each configuration runs in a fresh subprocess (`tuner ratchet`) on its own temporary storage
with the on-disk result cache off, so every run starts cold and the figures are comparable.
With ``--check-bank`` every ACCEPT is then re-scored against the incumbent on a bank with
another base seed (``--check-size`` scenarios per family of every family it reaches): its
equal-weight gain and its worst family's delta. Prints a table, or JSON with ``--json``;
asserts nothing.

Run: ``python benchmarks/bench_ratchet.py [--tier all] [--workers 2] [--check-bank] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuner.defaults import DEFAULT_RATCHET_TRIALS  # noqa: E402

CHECK_BASE_SEED = 99991  # the truth bank of bench_power: no decision ever looks at it


def run_ratchet(tier: str, workers: int, trials: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{Path(tmp) / 'bench.db'}"
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "tuner.cli", "ratchet", "--tier", tier, "--trials",
             str(trials), "--workers", str(workers), "--storage", storage, "--json"],
            cwd=ROOT, capture_output=True, text=True,
            env={**os.environ, "TUNER_RESULT_CACHE": "off"})  # each run starts cold
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"ratchet failed with {workers} workers:\n{done.stderr}")
    result = json.loads(done.stdout)
    records = result["records"]
    bounds = [r["certificate"]["bound"] for r in records if r.get("certificate")]
    return {"tier": tier, "workers": workers, "trials": trials, "seconds": round(seconds, 1),
            "constants": len(records),
            "accepted": {r["constant"]: r["proposal"] for r in records
                         if r["decision"] == "ACCEPT"},
            "certified": len(bounds),
            "median_certificate": statistics.median([max(b, 0.0) for b in bounds])
            if bounds else None,
            "reasons": {r["constant"]: r["reason"] for r in records},
            "joint": result.get("joint")}


def check_accepts(accepted: dict[str, float], size: int, workers: int) -> dict:
    """Each accepted value against popoto's default on the check bank."""
    from tuner.catalog import load_catalog
    from tuner.decisions.comparison import compare_values
    from tuner.evaluation.engine import BankSpec
    from tuner.evaluation.workers import worker_pool
    from tuner.infra.redis_server import redis_target

    catalog = load_catalog()
    bank = BankSpec(size=size, base_seed=CHECK_BASE_SEED)
    out = {}
    with redis_target(None), worker_pool(workers):
        for name, value in accepted.items():
            constant = catalog.resolve(name)
            seeds = {f: bank.bank(f) for f in constant.reached_families}
            c = compare_values({constant: value}, {}, seeds)
            out[name] = {"value": value, "mean": c.mean, "ci_low": c.ci_low,
                         "ci_high": c.ci_high,
                         "families": {f: fc.mean for f, fc in c.families.items()},
                         "worst_family": min(fc.mean for fc in c.families.values())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tier", default="all")
    parser.add_argument("--workers", default="2")
    parser.add_argument("--trials", type=int, default=DEFAULT_RATCHET_TRIALS)
    parser.add_argument("--check-bank", action="store_true")
    parser.add_argument("--check-size", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [run_ratchet(args.tier, int(n), args.trials) for n in args.workers.split(",")]
    checks = (check_accepts(rows[-1]["accepted"], args.check_size, int(rows[-1]["workers"]))
              if args.check_bank and rows[-1]["accepted"] else {})
    if args.json:
        print(json.dumps({"runs": rows, "check": checks}, indent=2))
        return
    base = rows[0]["seconds"]
    print(f"\ntuner ratchet --tier {args.tier} --trials {args.trials} (default settings)")
    print(f"{'workers':>8} {'wall s':>8} {'speed-up':>9} {'constants':>10} {'accepted':>9} "
          f"{'certified':>10} {'median cert':>12}")
    for r in rows:
        median = "-" if r["median_certificate"] is None else f"{r['median_certificate']:.4f}"
        print(f"{r['workers']:>8} {r['seconds']:>8.1f} {base / r['seconds']:>8.2f}x "
              f"{r['constants']:>10} {len(r['accepted']):>9} {r['certified']:>10} "
              f"{median:>12}")
    for name, c in checks.items():
        print(f"  {name} = {c['value']:.4g} on bank b{CHECK_BASE_SEED}: {c['mean']:+.4f} "
              f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}], worst family "
              f"{c['worst_family']:+.4f}")


if __name__ == "__main__":
    main()
