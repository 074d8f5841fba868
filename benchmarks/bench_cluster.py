"""The ratchet on the local process pool and on a local Dask cluster, in one run.

Starts a Dask cluster as separate local processes (a scheduler and ``--workers`` workers, one
thread each, as ``dask scheduler`` / ``dask worker`` would on other machines), then runs the
same ``tuner ratchet`` twice in fresh subprocesses, each on its own temporary storage with the
result cache off: with ``--workers N`` (today's pool) and with ``--cluster ADDRESS``. Reports
both wall times, the cluster's cost relative to the pool (acceptance: at most +10% on one
machine) and whether the two ledgers are equal (timing fields aside). ``--overhead`` first
measures per-task overhead: 200 trivial tasks and 100 real scenario evaluations (cold, then
warm: restore templates written), on the pool and on the cluster. Prints a table, or JSON
with ``--json``; asserts nothing.

The machine speed probe (``speed_probe.py``) runs before, between and after the two ratchets:
a drift there is a drift of the machine, not of the code.

Run: ``python benchmarks/bench_cluster.py [--tier all | --constants a,b] [--workers 2]
[--overhead] [--ratchet-args="--bank-size 20 --held-out 20 --confirm-size 20"] [--json]``
(``--ratchet-args=`` with "=": its value starts with "--").
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from speed_probe import speed_probe_apart  # noqa: E402

from tuner.defaults import DEFAULT_RATCHET_TRIALS  # noqa: E402
from tuner.evaluation.local_cluster import local_cluster  # noqa: E402

TIMING_KEYS = {"seconds", "date", "cluster"}  # what may differ between equal runs


def run_ratchet(selection: list[str], trials: int, where: list[str], extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{Path(tmp) / 'bench.db'}"
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "tuner.cli", "ratchet", *selection, "--trials", str(trials),
             *where, *extra, "--storage", storage, "--json"],
            cwd=ROOT, capture_output=True, text=True,
            env={**os.environ, "TUNER_RESULT_CACHE": "off"})  # each run starts cold
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"ratchet {' '.join(where)} failed:\n{done.stderr}")
    result = json.loads(done.stdout)
    return {"where": " ".join(where), "seconds": round(seconds, 1),
            "constants": len(result["records"]),
            "accepted": sorted(r["constant"] for r in result["records"]
                               if r["decision"] == "ACCEPT"),
            "ledger": without_timing(result)}


def without_timing(value: object) -> object:
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def _noop(i: int) -> int:
    return i


def overhead(address: str, workers: int, tasks: int = 200, scenarios: int = 100) -> dict:
    """Per-task milliseconds: trivial tasks, then real scenario evaluations (cold and warm)."""
    from distributed import Client

    from tuner.catalog import load_catalog
    from tuner.evaluation.cluster import ClusterPool
    from tuner.evaluation.engine import BankSpec
    from tuner.evaluation.workers import WorkerPool

    out: dict[str, dict] = {"trivial": {}, "scenario cold": {}, "scenario warm": {}}
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_noop, range(workers * 4)))  # started
        started = time.perf_counter()
        [f.result() for f in [pool.submit(_noop, i) for i in range(tasks)]]
        out["trivial"]["pool"] = 1000 * (time.perf_counter() - started) / tasks
    with Client(address, set_as_default=False) as client:
        client.gather([client.submit(_noop, i, pure=False) for i in range(workers * 4)])
        started = time.perf_counter()
        client.gather([client.submit(_noop, i, pure=False) for i in range(tasks)])
        out["trivial"]["cluster"] = 1000 * (time.perf_counter() - started) / tasks

    constant = load_catalog().resolve("decay_per_hop")
    family = sorted(constant.reached_families)[0]
    seeds = BankSpec().bank(family)[:scenarios]
    values = {constant: constant.default()}
    for name, make in (("pool", lambda: WorkerPool(workers)), ("cluster",
                                                                 lambda: ClusterPool(address))):
        backend = make()
        try:
            for kind in ("scenario cold", "scenario warm"):
                started = time.perf_counter()
                backend.evaluate(values, seeds)
                out[kind][name] = 1000 * (time.perf_counter() - started) / len(seeds)
        finally:
            backend.close()
    out["scenario family"] = {"name": family, "scenarios": len(seeds)}  # type: ignore[dict-item]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tier", default="all")
    parser.add_argument("--constants", default=None, help="Comma-separated, instead of a tier.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int, default=DEFAULT_RATCHET_TRIALS)
    parser.add_argument("--ratchet-args", default="",
                        help="More `tuner ratchet` options, e.g. smaller banks for a try.")
    parser.add_argument("--overhead", action="store_true",
                        help="Also measure per-task overhead (trivial and real tasks).")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    selection = (["--constants", args.constants] if args.constants else ["--tier", args.tier])
    extra = shlex.split(args.ratchet_args)
    started = time.perf_counter()
    with local_cluster(args.workers, cwd=str(ROOT)) as cluster:
        start_seconds = time.perf_counter() - started
        costs = overhead(cluster.address, args.workers) if args.overhead else None
        speeds = [speed_probe_apart()]
        pool = run_ratchet(selection, args.trials, ["--workers", str(args.workers)], extra)
        speeds.append(speed_probe_apart())
        on_cluster = run_ratchet(selection, args.trials, ["--cluster", cluster.address], extra)
        speeds.append(speed_probe_apart())
    equal = pool.pop("ledger") == on_cluster.pop("ledger")
    report = {"selection": " ".join(selection + extra), "trials": args.trials,
              "workers": args.workers, "cluster_start_seconds": round(start_seconds, 1),
              "runs": [pool, on_cluster], "ledgers_equal": equal,
              "cluster_cost": round(on_cluster["seconds"] / pool["seconds"] - 1, 3),
              "overhead_ms": costs,
              "speed_ms": [s["ms_sum"] for s in speeds],  # before, between, after
              "speed_drift": round(speeds[-1]["ms_sum"] / speeds[0]["ms_sum"] - 1, 3)}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"\ntuner ratchet {report['selection']} --trials {args.trials}, {args.workers} workers "
          f"(cluster started in {start_seconds:.1f} s, not counted)")
    print(f"{'where':>28} {'wall s':>8} {'constants':>10} {'accepted':>9}")
    for r in (pool, on_cluster):
        where = r["where"] if r is pool else "--cluster (local processes)"
        print(f"{where:>28} {r['seconds']:>8.1f} {r['constants']:>10} {len(r['accepted']):>9}")
    print(f"cluster cost vs pool: {100 * report['cluster_cost']:+.1f}% (acceptance: <= +10%); "
          f"ledgers equal: {'yes' if equal else 'NO'}")
    before, between, after = report["speed_ms"]
    print(f"machine speed probe (ms, warm scenario mix; lower is faster): before {before}, "
          f"between {between}, after {after} ({100 * report['speed_drift']:+.1f}%)")
    if costs:
        print(f"\nper-task overhead, ms ({args.workers} workers; scenarios: "
              f"{costs['scenario family']['scenarios']} of {costs['scenario family']['name']})")
        print(f"{'tasks':>16} {'pool':>8} {'cluster':>8}")
        for kind in ("trivial", "scenario cold", "scenario warm"):
            print(f"{kind:>16} {costs[kind]['pool']:>8.2f} {costs[kind]['cluster']:>8.2f}")


if __name__ == "__main__":
    main()
