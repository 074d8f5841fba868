"""How fast this machine runs popoto right now: a fixed warm scenario mix, in ms per scenario.

The 2-core machines this project runs on have run the same warm scenarios at 6 ms and at 20 ms
(decay) on different days, and 15% apart within an hour (docs/results.md). A wall time is
therefore only half a figure: benchmarks that compare two whole runs measure this probe before
and after each, so a reader sees whether the machine moved under the comparison.

The mix: ``SCENARIOS`` scenarios of each of ``FAMILIES`` (bank base seed 1, the defaults' own
values), each run once untimed (restore templates written, worlds built), then timed, in this
process, on an embedded Redis the probe starts and stops. About 5 s at 20 ms per decay scenario.

Run alone: ``python benchmarks/speed_probe.py [--json]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FAMILIES = ("decay", "cyclic", "co_occurrence")  # the cheapest, a phased one, a costly one
SCENARIOS = 20
PROBE_BASE_SEED = 1  # not a bank any decision uses; the probe only times


def speed_probe(families: tuple[str, ...] = FAMILIES, scenarios: int = SCENARIOS) -> dict:
    """Warm ms per scenario by family, and their sum (the figure to compare across runs)."""
    from scenarios.runner import evaluate_scenario, family_bank
    from tuner.infra.redis_server import redis_target

    out: dict[str, float] = {}
    with redis_target(None):
        for family in families:
            bank = family_bank(family, size=scenarios, base_seed=PROBE_BASE_SEED)
            for seed in bank:
                evaluate_scenario(seed)
            started = time.perf_counter()
            for seed in bank:
                evaluate_scenario(seed)
            out[family] = round(1000 * (time.perf_counter() - started) / len(bank), 1)
    return {"ms_per_scenario": out, "ms_sum": round(sum(out.values()), 1)}


def speed_probe_apart() -> dict:
    """``speed_probe`` in a fresh interpreter: nothing it imports or starts stays behind in the
    benchmark's own process."""
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--json"],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = speed_probe()
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for family, ms in report["ms_per_scenario"].items():
        print(f"{family:>16} {ms:>7.1f} ms")
    print(f"{'sum':>16} {report['ms_sum']:>7.1f} ms")


if __name__ == "__main__":
    main()
