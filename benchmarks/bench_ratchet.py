"""Wall time of a ratchet at default settings with 1 and N worker processes.

Each configuration runs in a fresh subprocess (`tuner ratchet`) on its own temporary storage
with the on-disk result cache off, so every run starts cold and the figures are comparable.
Prints a table, or JSON with ``--json``; asserts nothing.

Run: ``python benchmarks/bench_ratchet.py [--tier 1] [--workers 1,2] [--trials 30] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuner.defaults import DEFAULT_RATCHET_TRIALS  # noqa: E402


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
    return {"tier": tier, "workers": workers, "trials": trials, "seconds": round(seconds, 1),
            "constants": len(result["records"]),
            "accepted": sum(r["decision"] == "ACCEPT" for r in result["records"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tier", default="1")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--trials", type=int, default=DEFAULT_RATCHET_TRIALS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [run_ratchet(args.tier, int(n), args.trials) for n in args.workers.split(",")]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    base = rows[0]["seconds"]
    print(f"\ntuner ratchet --tier {args.tier} --trials {args.trials} (default bank)")
    print(f"{'workers':>8} {'wall s':>8} {'speed-up':>9} {'constants':>10} {'accepted':>9}")
    for r in rows:
        print(f"{r['workers']:>8} {r['seconds']:>8.1f} {base / r['seconds']:>8.2f}x "
              f"{r['constants']:>10} {r['accepted']:>9}")


if __name__ == "__main__":
    main()
