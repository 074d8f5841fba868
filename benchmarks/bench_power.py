"""The decision engine's power, proved on known answers and on nulls, with its cost.

Recovery: a panel of planted incumbents (a deployment running a mis-set value of a constant).
Each planted value's true loss is measured on a bank no decision ever sees (the "truth bank":
a 9-point grid over the search range plus the planted value and popoto's default, on
``--truth-size`` scenarios per family of every family the constant reaches). Then the
production ratchet runs from that incumbent (``run_ratchet`` at default settings, this
constant only, at alpha / ``--holm-m``: the Holm share it would get beside the other values a
full ratchet confirms). Recovered = ACCEPT, moved towards the truth bank's best value, and
winning against the planted value on the truth bank. The old design (one look at 50 held-out
scenarios at 0.05 / 26, min improvement 0.01) is judged on the same proposal beside it.

Null: ``--null`` ratchets of the random-effect constant (rankings reshuffled by the value, no
true effect; tests/planted.py) from popoto's default, each on fresh decision and confirmation
banks: the family-wise false-accept rate is the share of runs that accept anything.

Cost: scenario runs on popoto, wall time and certificate widths per decision.

Run: ``python benchmarks/bench_power.py [--null 40] [--truth-size 100] [--quick] [--json]``.
Asserts nothing; prints a table (or JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from tuner.catalog import Constant, load_catalog  # noqa: E402
from tuner.decisions.comparison import compare_values  # noqa: E402
from tuner.decisions.ratchet import RatchetSettings, run_ratchet  # noqa: E402
from tuner.decisions.stages import StageRules  # noqa: E402
from tuner.decisions.stats import paired_test  # noqa: E402
from tuner.evaluation import engine  # noqa: E402
from tuner.evaluation.engine import BankSpec, evaluate_families, family_mean  # noqa: E402
from tuner.studies.objective import grid_values  # noqa: E402

# (constant, planted incumbent): five constants, five families (+ every family decay_rate
# reaches), each at a moderate and a far offset from popoto's default, fixed before any run.
PANEL = [
    ("decay_rate", 0.3), ("decay_rate", 0.6),
    ("WILSON_CI_THRESHOLD", 0.7), ("WILSON_CI_THRESHOLD", 0.8),
    ("_wf_min_threshold", 0.35), ("_wf_min_threshold", 0.6),
    ("DEFAULT_SURFACING_THRESHOLD", 0.7), ("DEFAULT_SURFACING_THRESHOLD", 0.85),
    ("decay_per_hop", 0.15), ("decay_per_hop", 0.3),
]
TRUTH_BASE_SEED = 99991  # no decision, screen or confirmation ever uses this bank
NULL_BASE_SEED = 300_000
LEGACY_LOOKS = 26


@dataclass
class Recovery:
    constant: str
    planted: float
    popoto_default: float
    truth_value: float
    loss: float  # truth bank: best grid value's mean - the planted value's mean
    decision: str
    reason: str
    accepted: float | None
    towards_truth: bool
    wins_on_truth_bank: bool
    gain_on_truth_bank: float | None
    worst_family_on_truth_bank: float | None
    recovered: bool
    legacy_accept: bool
    certificate: float | None
    scenario_runs: int
    seconds: float
    notes: list[str] = field(default_factory=list)


def truth_means(constant: Constant, values: list[float], size: int) -> dict[float, dict]:
    bank = BankSpec(size=size, base_seed=TRUTH_BASE_SEED)
    seeds = {f: bank.bank(f) for f in constant.reached_families}
    out = {}
    for value in values:
        evaluations = evaluate_families({constant: value}, seeds)
        out[value] = {"mean": family_mean(evaluations),
                      "families": {f: e.mean_score for f, e in evaluations.items()}}
    return out


def distance(constant: Constant, a: float, b: float) -> float:
    return abs(math.log(a) - math.log(b)) if constant.log else abs(a - b)


def legacy_accepts(constant: Constant, proposal: float | None, planted: float,
                   bank: BankSpec) -> bool:
    """The design before this one: one look at the 50 held-out scenarios of the bank, sign-flip
    p < 0.05 / 26, Δ >= 0.01, no family losing 0.02 or significantly at alpha / F."""
    if proposal is None:
        return False
    seeds = {f: bank.pools(f)[1] for f in constant.reached_families}
    comparison = compare_values({constant: proposal}, {constant: planted}, seeds)
    each = 0.05 / len(comparison.families)
    regress = any(fc.mean < 0 and (fc.mean <= -0.02 or paired_test([fc.values]).p_harm < each)
                  for fc in comparison.families.values())
    p_value = paired_test([fc.values for fc in comparison.families.values()],
                          level=0.05 / LEGACY_LOOKS).p_value
    return comparison.mean >= 0.01 and p_value < 0.05 / LEGACY_LOOKS and not regress


def recover(constant: Constant, planted: float, settings: RatchetSettings,
            truth_size: int) -> Recovery:
    grid = sorted({*grid_values(constant, 9), planted, constant.default()})
    runs_before, started = engine.scenario_runs(), time.perf_counter()
    truth = truth_means(constant, grid, truth_size)
    truth_value = max(truth, key=lambda v: truth[v]["mean"])
    loss = truth[truth_value]["mean"] - truth[planted]["mean"]
    runs_truth = engine.scenario_runs()
    result = run_ratchet([constant], load_catalog(), settings=settings,
                         incumbent={constant: planted})
    record = result.records[0]
    runs = engine.scenario_runs() - runs_truth
    seconds = time.perf_counter() - started
    accepted = record.proposal if record.accepted else None
    gain = worst = None
    towards = wins = False
    if accepted is not None:
        check = truth_means(constant, [accepted], truth_size)[accepted]
        gain = check["mean"] - truth[planted]["mean"]
        worst = min(check["families"][f] - truth[planted]["families"][f]
                    for f in check["families"])
        towards = distance(constant, accepted, truth_value) < distance(constant, planted,
                                                                        truth_value)
        wins = gain > 0
    legacy = legacy_accepts(constant, record.proposal, planted, settings.bank)
    del runs_before
    return Recovery(
        constant=constant.name, planted=planted, popoto_default=constant.default(),
        truth_value=truth_value, loss=loss, decision=record.decision, reason=record.reason,
        accepted=accepted, towards_truth=towards, wins_on_truth_bank=wins,
        gain_on_truth_bank=gain, worst_family_on_truth_bank=worst,
        recovered=record.accepted and towards and wins, legacy_accept=legacy,
        certificate=(record.certificate or {}).get("bound"), scenario_runs=runs,
        seconds=round(seconds, 1))


# Planted inside one full 26-constant ratchet (the real Holm m), fixed before any run.
FULL_RATCHET_PLANTS = {"decay_rate": 0.3, "WILSON_CI_THRESHOLD": 0.8,
                       "_wf_min_threshold": 0.6, "decay_per_hop": 0.15}


def planted_in_full_ratchet(settings: RatchetSettings, truth_size: int) -> dict:
    """One ratchet over every constant of the catalog, with ``FULL_RATCHET_PLANTS`` as the
    incumbents of theirs (popoto's defaults elsewhere): recovery at the m a real run has, the
    run's wall time, and every other decision beside it."""
    catalog = load_catalog()
    constants = list(catalog.constants)
    planted = {catalog.resolve(n): v for n, v in FULL_RATCHET_PLANTS.items()}
    started = time.perf_counter()
    result = run_ratchet(constants, catalog, settings=settings, incumbent=planted)
    seconds = time.perf_counter() - started
    rows = []
    for constant, value in planted.items():
        record = next(r for r in result.records if r.constant == constant.name)
        grid = sorted({*grid_values(constant, 9), value, constant.default()})
        truth = truth_means(constant, grid, truth_size)
        best = max(truth, key=lambda v: truth[v]["mean"])
        row = {"constant": constant.name, "planted": value, "truth_best": best,
               "true_loss": truth[best]["mean"] - truth[value]["mean"],
               "decision": record.decision, "reason": record.reason,
               "accepted": record.proposal if record.accepted else None}
        if record.accepted:
            check = truth_means(constant, [record.proposal], truth_size)[record.proposal]
            row["gain_on_truth_bank"] = check["mean"] - truth[value]["mean"]
            row["recovered"] = row["gain_on_truth_bank"] > 0 and distance(
                constant, record.proposal, best) < distance(constant, value, best)
        else:
            row["recovered"] = False
        rows.append(row)
    accepted = [r.constant for r in result.records if r.accepted]
    return {"seconds": round(seconds, 1), "constants": len(constants), "planted": rows,
            "accepted": accepted, "recovered": sum(r["recovered"] for r in rows)}


def null_runs(count: int, settings: RatchetSettings, quick: bool) -> list[dict]:
    """Ratchets of the random-effect constant on fresh banks: nothing is there to find."""
    from planted import PLANTED_CATALOG, PlantedDecayFamily, RandomEffectFamily

    from scenarios.families import FAMILIES

    for family in (RandomEffectFamily, PlantedDecayFamily):  # the test catalog names both
        FAMILIES[family.name] = family
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.toml"
        path.write_text(PLANTED_CATALOG)
        catalog = load_catalog(path)
        constant = catalog.resolve("random_knob")
        rows = []
        for run in range(count):
            bank = BankSpec(size=settings.bank.size, base_seed=NULL_BASE_SEED + run,
                            held_out=settings.bank.held_out)
            confirmation = BankSpec(size=settings.confirmation_size,
                                    base_seed=NULL_BASE_SEED + 50_000 + run)
            s = RatchetSettings(**{**settings.__dict__, "bank": bank,
                                   "confirmation": confirmation,
                                   "storage": f"sqlite:///{Path(tmp) / f'null{run}.db'}"})
            before, started = engine.scenario_runs(), time.perf_counter()
            record = run_ratchet([constant], catalog, settings=s).records[0]
            rows.append({"run": run, "decision": record.decision, "reason": record.reason,
                         "proposal": record.proposal,
                         "certificate": (record.certificate or {}).get("bound"),
                         "scenario_runs": engine.scenario_runs() - before,
                         "seconds": round(time.perf_counter() - started, 2)})
            if quick and run >= 2:
                break
    return rows


def summary(panel: list[Recovery], nulls: list[dict]) -> dict:
    big = [r for r in panel if r.loss >= 0.05]
    medium = [r for r in panel if r.loss >= 0.015]
    certs = sorted(r.certificate for r in panel if r.certificate is not None)
    return {
        "recovered_loss_ge_0.015": f"{sum(r.recovered for r in medium)}/{len(medium)}",
        "recovered_loss_ge_0.05": f"{sum(r.recovered for r in big)}/{len(big)}",
        "legacy_accepts_loss_ge_0.015": f"{sum(r.legacy_accept for r in medium)}/{len(medium)}",
        "null_runs": len(nulls),
        "null_false_accepts": sum(n["decision"] == "ACCEPT" for n in nulls),
        "null_fwer": (sum(n["decision"] == "ACCEPT" for n in nulls) / len(nulls))
        if nulls else None,
        "median_scenario_runs_per_recovery": _median([r.scenario_runs for r in panel]),
        "median_seconds_per_recovery": _median([r.seconds for r in panel]),
        "median_certificate_refused": _median(certs) if certs else None,
        "median_null_certificate": _median([n["certificate"] for n in nulls
                                            if n["certificate"] is not None]),
    }


def _median(values: list[float]) -> float | None:
    values = sorted(values)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def print_tables(panel: list[Recovery], nulls: list[dict], totals: dict) -> None:
    print("\nRecovery (planted incumbents; truth bank "
          f"b{TRUTH_BASE_SEED}; production ratchet from the planted value)")
    print(f"{'constant':32} {'planted':>8} {'truth':>8} {'loss':>7} {'decision':>9} "
          f"{'accepted':>9} {'gain(truth)':>11} {'worst fam':>9} {'rec':>4} {'legacy':>6} "
          f"{'runs':>7} {'s':>6}")
    for r in panel:
        print(f"{r.constant:32} {r.planted:>8.4g} {r.truth_value:>8.4g} {r.loss:>+7.3f} "
              f"{r.decision:>9} {_f(r.accepted, '.4g'):>9} {_f(r.gain_on_truth_bank, '+.3f'):>11} "
              f"{_f(r.worst_family_on_truth_bank, '+.3f'):>9} {'yes' if r.recovered else 'no':>4} "
              f"{'ACC' if r.legacy_accept else '-':>6} {r.scenario_runs:>7} {r.seconds:>6.0f}")
        if not r.recovered:
            print(f"{'':32}   {r.reason}; certificate {_f(r.certificate, '.4f')}")
    if nulls:
        print(f"\nNull: {len(nulls)} ratchets of the random-effect constant on fresh banks")
        print(f"  accepted in {totals['null_false_accepts']} of {len(nulls)} "
              f"(family-wise false-accept rate {totals['null_fwer']:.3f}); median "
              f"certificate {_f(totals['median_null_certificate'], '.4f')}; median "
              f"{_median([n['scenario_runs'] for n in nulls])} scenario runs per run")
    print("\nSummary")
    for key, value in totals.items():
        print(f"  {key:36} {value}")


def _f(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--null", type=int, default=40, help="null ratchets (>= 40)")
    parser.add_argument("--truth-size", type=int, default=100)
    parser.add_argument("--holm-m", type=int, default=3,
                        help="values confirmed beside the planted one in a full ratchet")
    parser.add_argument("--only", default=None, help="comma-separated panel constants")
    parser.add_argument("--skip-recovery", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny banks: a smoke run")
    parser.add_argument("--full-ratchet", action="store_true",
                        help="plant FULL_RATCHET_PLANTS inside one full 26-constant ratchet "
                             "at default settings (the real Holm m) and report recovery")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import optuna

    from tuner.evaluation.workers import worker_pool

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from tuner.infra.redis_server import redis_target

    catalog = load_catalog()
    if args.full_ratchet:
        with tempfile.TemporaryDirectory() as tmp, redis_target(None), \
                worker_pool(args.workers):
            out = planted_in_full_ratchet(
                RatchetSettings(storage=f"sqlite:///{Path(tmp) / 'power.db'}"), args.truth_size)
        if args.json:
            print(json.dumps(out, indent=2))
        else:
            print(f"full ratchet of {out['constants']} constants: {out['seconds']:.0f} s, "
                  f"accepted {', '.join(out['accepted']) or 'nothing'}")
            for row in out["planted"]:
                print(f"  {row['constant']} planted {row['planted']}: {row['decision']} "
                      f"({row['reason']}) -> {row['accepted']}, truth best "
                      f"{row['truth_best']:.4g}, true loss {row['true_loss']:+.4f}, "
                      f"recovered {row['recovered']}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        settings = RatchetSettings(storage=f"sqlite:///{Path(tmp) / 'power.db'}",
                                   alpha=0.05 / args.holm_m, rules=StageRules())
        if args.quick:
            settings = RatchetSettings(
                trials=6, storage=settings.storage, batch=6,
                bank=BankSpec(size=20, held_out=60),
                confirmation=BankSpec(size=60, base_seed=7), alpha=settings.alpha)
        panel = []
        if not args.skip_recovery:
            wanted = set(args.only.split(",")) if args.only else None
            with redis_target(None), worker_pool(args.workers):
                for name, planted in PANEL:
                    if wanted and name not in wanted:
                        continue
                    row = recover(catalog.resolve(name), planted, settings,
                                  10 if args.quick else args.truth_size)
                    panel.append(row)
                    if not args.json:
                        print(f"  {name}={planted}: {row.decision} ({row.reason}) in "
                              f"{row.seconds:.0f} s", file=sys.stderr)
        null_settings = RatchetSettings(**{**settings.__dict__, "alpha": 0.05})
        nulls = null_runs(args.null, null_settings, args.quick) if args.null else []
    totals = summary(panel, nulls)
    if args.json:
        print(json.dumps({"panel": [asdict(r) for r in panel], "null": nulls,
                          "summary": totals, "holm_m": args.holm_m}, indent=2))
    else:
        print_tables(panel, nulls, totals)


if __name__ == "__main__":
    main()
