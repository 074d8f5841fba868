"""How a request is cut into chunks, measured: guided chunks against even ones, in alternation.

A request to the local worker pool ends with one worker finishing its last chunk while the
other waits. ``workers.py`` cuts each worker's share in *guided* chunks (a quarter of what is
left, at most 16 scenarios, down to single scenarios); before, a share went out in four even
chunks of at most 16. This benchmark sends the same requests, shaped like a ratchet's steps
(a sampled trial's 20 scenarios per family, a look's 50 per family, a cliff probe's 20 per
family for three values, a confirmation round of many small tests), to one pool with each
cutting in turn (ABBA..., so a machine whose speed drifts favours neither), straight to the pool
(no memo: every pass runs every scenario on popoto). The results of both cuttings are asserted
identical. Besides wall time (which this machine's drifting speed makes noisy) it prints the
share of worker time spent idle at request ends (``WorkerPool.idle_seconds``), the quantity the
cutting changes.

Run: ``python benchmarks/bench_chunks.py [--workers 2] [--passes 4] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scenarios.families import FAMILIES  # noqa: E402
from tuner.evaluation import workers  # noqa: E402
from tuner.evaluation.engine import BankSpec  # noqa: E402
from tuner.evaluation.workers import WorkerPool  # noqa: E402
from tuner.infra.redis_server import redis_target  # noqa: E402


def even_chunks(positions, pieces, limit):
    """The cutting before guided chunks: ``pieces`` even chunks of at most ``limit``."""
    size = max(1, min(-(-len(positions) // pieces), limit))
    return [list(positions[i:i + size]) for i in range(0, len(positions), size)]


CUTTINGS = {"guided": workers._chunks, "even": even_chunks}


def ratchet_like_requests() -> list[list[tuple[dict, list]]]:
    """Steps of a ratchet, each a list of (values, seeds) requests sent together."""
    bank = BankSpec()
    train = {f: bank.pools(f)[0] for f in FAMILIES}
    families = sorted(FAMILIES)
    steps: list[list[tuple[dict, list]]] = []
    for width in (1, 2, 4, 7):  # a sampled trial: 20 per family over 1..7 families
        steps.append([({}, [s for f in families[:width] for s in train[f][:20]])])
    for width in (1, 4):  # a look: 50 per family, both sides' worth of scenarios
        steps.append([({}, [s for f in families[:width] for s in train[f][:50]])])
    steps.append([({}, [s for f in families[:3] for s in train[f][20:40]])] * 3)  # probes
    steps.append([({}, train[f][:25]) for f in families] * 2)  # a confirmation round
    return steps


def one_pass(pool: WorkerPool, steps, cutting: str) -> tuple[float, float, list]:
    """(wall seconds, worker-seconds idle at request ends, results) of one pass."""
    workers._chunks = CUTTINGS[cutting]
    started, idle, results = time.perf_counter(), pool.idle_seconds, []
    for requests in steps:
        results.append([r.score for r in pool.evaluate_many(requests)])
    return time.perf_counter() - started, pool.idle_seconds - idle, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--passes", type=int, default=4, help="per cutting (ABBA order)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    steps = ratchet_like_requests()
    scenarios = sum(len(seeds) for requests in steps for _, seeds in requests)
    original = workers._chunks
    times: dict[str, list[float]] = {name: [] for name in CUTTINGS}
    idle: dict[str, list[float]] = {name: [] for name in CUTTINGS}
    try:
        with redis_target(None):
            pool = WorkerPool(args.workers)
            try:
                *_, reference = one_pass(pool, steps, "guided")  # warm: templates written
                order = ["guided", "even", "even", "guided"] * ((args.passes + 1) // 2)
                for cutting in order[:2 * args.passes]:
                    seconds, idle_seconds, results = one_pass(pool, steps, cutting)
                    assert results == reference, f"{cutting} cutting changed results"
                    times[cutting].append(seconds)
                    idle[cutting].append(idle_seconds / (seconds * args.workers))
            finally:
                pool.close()
    finally:
        workers._chunks = original
    summary = {"workers": args.workers, "scenarios_per_pass": scenarios,
               "requests_per_pass": len(steps),
               "seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
               "mean_seconds": {k: round(statistics.mean(v), 3) for k, v in times.items()},
               "idle_share": {k: round(statistics.mean(v), 4) for k, v in idle.items()}}
    even, guided = summary["mean_seconds"]["even"], summary["mean_seconds"]["guided"]
    summary["guided_vs_even"] = round(guided / even - 1.0, 4)
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"{scenarios} scenarios in {len(steps)} steps per pass, {args.workers} workers")
    print(f"{'cutting':8} {'mean s':>8} {'idle at ends':>13}  passes")
    for name, values in times.items():
        print(f"{name:8} {statistics.mean(values):8.2f} {summary['idle_share'][name]:13.1%}  "
              + ", ".join(f"{v:.2f}" for v in values))
    print(f"guided against even: {summary['guided_vs_even']:+.1%}")


if __name__ == "__main__":
    main()
