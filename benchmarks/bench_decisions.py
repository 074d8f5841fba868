"""Operating characteristics of the decision engine, by simulation: thousands of ratchets.

Drives the production stages — the sequential screen, the confirmation with Holm's step-down,
the no-harm rule inside both, the gate and the certificates — on synthetic per-scenario delta
streams whose true means are known (``decision_sim.py``, ``decision_run.py``), instead of
popoto. Each simulated ratchet decides all 26 catalog constants, each in the families it
really reaches. Counted over ``--runs`` ratchets:

- family-wise false accepts: runs accepting a value whose true equal-weight mean is not above
  ``--min-improvement``, with the one-sided 95% Clopper-Pearson upper bound;
- harm: runs accepting a value some reached family of which truly loses more than the margin;
- certificate coverage: runs where every certified value's true gain is within its bound;
- recovery: per constant with a real effect, the share of runs that accept it.

Worlds: ``--null SPEC`` for every (constant, family), ``--mix skewed-nulls|recovery|harm``,
then ``--alt CONSTANT[@family]=SPEC`` (repeatable). SPEC is ``zero``, ``normal:MEAN,SD``,
``skew:P,LOSS,GAIN`` (a fraction P loses LOSS, the rest gain GAIN) or ``sparse:P,GAIN``.
``--control`` replaces the stages' test by "the estimate clears min_improvement" (a positive
control: it must fail the false-accept bound). ``--recovery`` sweeps effect sizes in the
recovery world; ``--preset acceptance`` runs every acceptance line of issue 22 with pass/fail.

Run: ``python benchmarks/bench_decisions.py [--preset acceptance] [--runs 2000] [--jobs 2]
[--json]``. Asserts nothing; prints a table (or JSON).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from decision_run import RunOutcome, SimSettings, simulate  # noqa: E402
from decision_sim import Pools, SpecError, World, parse_assignment, parse_spec  # noqa: E402
from decision_worlds import (  # noqa: E402
    MIXES,
    PRESETS,
    RECOVERY_SWEEP,
    Line,
    catalog_constants,
    make_world,
)
from scipy.stats import beta  # noqa: E402

from tuner import defaults  # noqa: E402

DEFAULT_SEED = 20261207
TIMING_KEYS = ("timing",)


class UsageError(Exception):
    """Bad input: one line to stderr, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage block
        raise UsageError(message)


def cp_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound of a binomial rate (0 of 40 gives 0.072)."""
    return 1.0 if k >= n else float(beta.ppf(confidence, k + 1, n - k))


def cp_lower(k: int, n: int, confidence: float = 0.95) -> float:
    return 0.0 if k <= 0 else float(beta.ppf(1 - confidence, k, n - k + 1))


# ---------------------------------------------------------------- running

_WORLD: World | None = None
_SETTINGS: SimSettings | None = None
_SEED = 0


def _init(world: World, settings: SimSettings, seed: int) -> None:
    global _WORLD, _SETTINGS, _SEED
    _WORLD, _SETTINGS, _SEED = world, settings, seed


def _one(run: int) -> RunOutcome:
    assert _WORLD is not None and _SETTINGS is not None
    return simulate(_WORLD, _SETTINGS, seed=_SEED, run=run)


def run_world(world: World, settings: SimSettings, *, runs: int, seed: int,
              jobs: int) -> tuple[list[RunOutcome], float]:
    """``runs`` ratchets, run r seeded by (seed, r) alone: results do not depend on ``jobs``."""
    started = time.perf_counter()
    if jobs <= 1:
        _init(world, settings, seed)
        outcomes = [_one(r) for r in range(runs)]
    else:
        context = multiprocessing.get_context("fork")
        with context.Pool(jobs, initializer=_init, initargs=(world, settings, seed)) as pool:
            outcomes = list(pool.imap(_one, range(runs), chunksize=max(1, runs // (8 * jobs))))
    return outcomes, time.perf_counter() - started


def summarise(world: World, settings: SimSettings, outcomes: list[RunOutcome],
              wall: float, jobs: int) -> dict:
    n = len(outcomes)
    fa = sum(bool(o.false_accepts) for o in outcomes)
    harm = sum(bool(o.harmful) for o in outcomes)
    covered = sum(not o.certificate_misses for o in outcomes)
    values = sum(o.certified_values for o in outcomes)
    misses = sum(len(o.certificate_misses) for o in outcomes)
    recovery = {}
    for constant in world.constants:
        truth = world.true_mean(constant)
        if truth <= settings.min_improvement:
            continue
        k = sum(constant.name in o.accepted for o in outcomes)
        missed: dict[str, int] = {}
        for o in outcomes:
            if constant.name not in o.accepted:
                reason = o.reasons.get(constant.name, "?")
                missed[reason] = missed.get(reason, 0) + 1
        recovery[constant.name] = {
            "families": len(constant.reached_families), "true_mean": round(truth, 6),
            "specs": sorted({world.spec(constant.name, f).text
                             for f in constant.reached_families}),
            "accepted": k, "rate": k / n, "low": cp_lower(k, n), "upper": cp_upper(k, n),
            "missed": dict(sorted(missed.items()))}
    reasons: dict[str, int] = {}
    for o in outcomes:
        for reason in o.reasons.values():
            reasons[reason] = reasons.get(reason, 0) + 1
    return {
        "world": world.describe(), "runs": n, "control": settings.control,
        "false_accepts": fa, "false_accept_rate": fa / n, "false_accept_upper": cp_upper(fa, n),
        "false_accept_lower": cp_lower(fa, n),
        "harmful": harm, "harm_rate": harm / n, "harm_upper": cp_upper(harm, n),
        "certificate_coverage": covered / n, "certificate_coverage_low": cp_lower(covered, n),
        "certified_values_per_run": values / n, "certificate_value_misses": misses,
        "recovery": recovery,
        "accepted_per_run": sum(len(o.accepted) for o in outcomes) / n,
        "screen_passes_per_run": sum(o.screened for o in outcomes) / n,
        "scenarios_per_run": sum(o.scenarios for o in outcomes) / n,
        "reasons": dict(sorted(reasons.items())),
        "examples": {"false_accepts": [o.false_accepts for o in outcomes if o.false_accepts][:5],
                     "certificate_misses": [m for o in outcomes
                                            for m in o.certificate_misses][:5]},
        "timing": {"ms_per_ratchet_one_core": 1000 * sum(o.seconds for o in outcomes) / n,
                   "wall_seconds": round(wall, 2), "jobs": jobs},
    }


# ---------------------------------------------------------------- output

def print_world(summary: dict, settings: SimSettings, seed: int) -> None:
    s = summary
    print(f"\n{s['runs']} simulated ratchets of 26 constants, seed {seed}"
          f"{' — POSITIVE CONTROL (test replaced by the estimate)' if s['control'] else ''}")
    print(f"world: {s['world']}")
    print(f"engine: alpha {settings.alpha:g}, screen alpha {settings.screen_alpha:g}, min "
          f"improvement {settings.min_improvement:g}, harm margin {settings.harm_margin:g}; "
          f"per family: train {settings.pools.train}, held-out {settings.pools.screen}, "
          f"confirmation {settings.pools.confirm}")
    n = s["runs"]
    print(f"  family-wise false accepts {s['false_accepts']:>6} of {n}  rate "
          f"{s['false_accept_rate']:.4f}  CP95 upper {s['false_accept_upper']:.4f}")
    print(f"  harmful accepts           {s['harmful']:>6} of {n}  rate {s['harm_rate']:.4f}"
          f"  CP95 upper {s['harm_upper']:.4f}")
    print(f"  certificate coverage      {s['certificate_coverage']:.4f} (simultaneous per run, "
          f"CP95 lower {s['certificate_coverage_low']:.4f}); "
          f"{s['certified_values_per_run']:.1f} values certified per run, "
          f"{s['certificate_value_misses']} missed in all")
    print(f"  per run: {s['accepted_per_run']:.2f} accepted, {s['screen_passes_per_run']:.2f} "
          f"passed the screen (Holm m), {s['scenarios_per_run']:.0f} scenarios compared")
    t = s["timing"]
    print(f"  time: {t['ms_per_ratchet_one_core']:.1f} ms per simulated ratchet (one core), "
          f"{t['wall_seconds']:.1f} s wall with {t['jobs']} job(s)")
    print("  outcomes: " + ", ".join(f"{k} {v}" for k, v in s["reasons"].items()))
    if s["recovery"]:
        print(f"  {'recovery':34} {'fam':>3} {'true mean':>9} {'accepted':>9} {'rate':>6}  "
              "CP95 lower, upper")
        for name, r in s["recovery"].items():
            print(f"  {name:34} {r['families']:>3} {r['true_mean']:>+9.4f} {r['accepted']:>9} "
                  f"{r['rate']:>6.3f}  [{r['low']:.3f}, {r['upper']:.3f}]  "
                  f"{'/'.join(r['specs'])}"
                  + (" (missed: " + ", ".join(f"{k} {v}" for k, v in r["missed"].items()) + ")"
                     if r["missed"] else ""))


def print_curve(points: list[dict]) -> None:
    print("\nrecovery curve (the recovery world, effect swept; rate = share of runs accepting)")
    print(f"  {'target':34} {'sd':>5} {'effect':>7} {'runs':>6} {'rate':>6}  CP95 lower, upper")
    for p in points:
        print(f"  {p['constant']:34} {p['sd']:>5g} {p['effect']:>+7.4f} {p['runs']:>6} "
              f"{p['rate']:>6.3f}  [{p['low']:.3f}, {p['upper']:.3f}]")


def print_lines(lines: list[dict]) -> None:
    print(f"\n{'acceptance line':44} {'criterion':40} {'value':>8} {'runs':>6}  result")
    for line in lines:
        for check in line["checks"]:
            print(f"{line['name']:44} {check['criterion']:40} {check['value']:>8.4f} "
                  f"{line['summary']['runs']:>6}  {'PASS' if check['passed'] else 'FAIL'}")


# ---------------------------------------------------------------- presets and sweeps

def run_line(line: Line, settings: SimSettings, args: argparse.Namespace,
             constants: list) -> dict:
    world = make_world(constants, line.world, null=parse_spec(line.null))
    line_settings = SimSettings(**{**asdict(settings), "pools": settings.pools,
                                   "control": line.control})
    outcomes, wall = run_world(world, line_settings, runs=args.runs, seed=args.seed,
                               jobs=args.jobs)
    summary = summarise(world, line_settings, outcomes, wall, args.jobs)
    checks = [check.judge(summary) for check in line.checks]
    if not args.json:
        print(f"  {line.name}: done in {wall:.0f} s", file=sys.stderr)
    return {"name": line.name, "null": line.null, "world_name": line.world,
            "control": line.control, "checks": checks, "summary": summary,
            "passed": all(c["passed"] for c in checks)}


def recovery_curve(settings: SimSettings, args: argparse.Namespace, constants: list,
                   runs: int) -> list[dict]:
    points = []
    for index in range(len(RECOVERY_SWEEP[0][2])):
        world = make_world(constants, "recovery", null=parse_spec(args.null), sweep=index)
        outcomes, _ = run_world(world, settings, runs=runs, seed=args.seed, jobs=args.jobs)
        for name, sd, effects in RECOVERY_SWEEP:
            k = sum(name in o.accepted for o in outcomes)
            points.append({"constant": name, "sd": sd, "effect": effects[index], "runs": runs,
                           "accepted": k, "rate": k / runs, "low": cp_lower(k, runs),
                           "upper": cp_upper(k, runs)})
    return sorted(points, key=lambda p: (p["constant"], p["effect"]))


# ---------------------------------------------------------------- command line

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--null", default="zero", help="delta spec of every (constant, family)")
    p.add_argument("--alt", action="append", default=[], metavar="CONSTANT[@family]=SPEC",
                   help="a constant's (or one family's) delta spec; repeatable")
    p.add_argument("--mix", choices=MIXES, default=None, help="a named world")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="run named acceptance lines (acceptance: all) with pass/fail")
    p.add_argument("--recovery", action="store_true",
                   help="sweep effect sizes in the recovery world and print the curve")
    p.add_argument("--curve-runs", type=int, default=None,
                   help="runs per point of the recovery curve (default: --runs; the "
                        "acceptance preset prints the curve too when this is > 0)")
    p.add_argument("--control", action="store_true",
                   help="positive control: the test replaced by 'the estimate clears "
                        "min_improvement'")
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--jobs", type=int, default=1, help="worker processes (results do not "
                                                        "depend on it)")
    p.add_argument("--alpha", type=float, default=defaults.DEFAULT_ALPHA)
    p.add_argument("--screen-alpha", type=float, default=defaults.DEFAULT_SCREEN_ALPHA)
    p.add_argument("--min-improvement", type=float, default=defaults.DEFAULT_MIN_IMPROVEMENT)
    p.add_argument("--harm-margin", type=float, default=defaults.DEFAULT_HARM_MARGIN)
    p.add_argument("--held-out", type=int, default=defaults.DEFAULT_HELD_OUT,
                   help="screen pool per family")
    p.add_argument("--confirm-size", type=int, default=defaults.CONFIRMATION_SIZE,
                   help="confirmation pool per family")
    p.add_argument("--train-size", type=int, default=None,
                   help="train pool per family (default: the default bank's train half)")
    p.add_argument("--profile", action="store_true", help="cProfile the runs (one process) "
                                                          "and print the top functions")
    p.add_argument("--json", action="store_true")
    p.add_argument("--json-out", type=Path, default=None, metavar="PATH",
                   help="also write the JSON to PATH (beside the table)")
    args = p.parse_args(argv)
    for name in ("runs", "jobs", "held_out", "confirm_size"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got "
                             f"{getattr(args, name)}")
    if args.train_size is not None and args.train_size < 2:
        raise UsageError(f"--train-size must be >= 2, got {args.train_size}")
    for name in ("alpha", "screen_alpha"):
        if not 0 < getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must lie in (0, 1), got "
                             f"{getattr(args, name)}")
    if args.json_out is not None and not args.json_out.resolve().parent.is_dir():
        raise UsageError(f"--json-out {args.json_out}: no such directory")
    if sum([args.preset is not None, args.recovery]) > 1:
        raise UsageError("--preset and --recovery are separate runs: choose one")
    return args


def default_train_size() -> int:
    from tuner.evaluation.engine import BankSpec

    return len(BankSpec().pools("decay")[0])


def settings_from(args: argparse.Namespace) -> SimSettings:
    pools = Pools(train=args.train_size or default_train_size(), screen=args.held_out,
                  confirm=args.confirm_size)
    return SimSettings(pools=pools, alpha=args.alpha, screen_alpha=args.screen_alpha,
                       min_improvement=args.min_improvement, harm_margin=args.harm_margin,
                       confidence=defaults.DEFAULT_CERTIFICATE_CONFIDENCE,
                       control=args.control)


def engine_name() -> str:
    from tuner.decisions import comparison

    try:
        import tuner.decisions.betting  # noqa: F401
    except ImportError:
        return "sign-flip (no tuner/decisions/betting.py)"
    return "betting" + ("" if hasattr(comparison, "compare_deltas") else
                        " (no compare_deltas: built like compare_evaluations)")


def emit(out: dict, args: argparse.Namespace) -> bool:
    """Write the JSON where asked; True when it is the whole output (``--json``)."""
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=2) + "\n")
    if args.json:
        print(json.dumps(out, indent=2))
    return args.json


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        constants = catalog_constants()
        null = parse_spec(args.null)
        alts = [parse_assignment(a, constants) for a in args.alt]
    except (UsageError, SpecError) as error:
        print(f"bench_decisions: error: {error}", file=sys.stderr)
        return 2
    settings = settings_from(args)
    header = {"seed": args.seed, "engine": engine_name(), "settings": asdict(settings)}
    if args.profile:
        return profile(make_world(constants, args.mix, null=null, alts=alts), settings, args)
    if args.preset:
        lines = [run_line(line, settings, args, constants) for line in PRESETS[args.preset]]
        curve_runs = args.curve_runs if args.curve_runs is not None else 0
        curve = recovery_curve(settings, args, constants, curve_runs) if curve_runs else []
        out = {**header, "preset": args.preset, "lines": lines, "curve": curve,
               "passed": all(line["passed"] for line in lines)}
        if not emit(out, args):
            for line in lines:
                print_world(line["summary"], settings, args.seed)
            if curve:
                print_curve(curve)
            print_lines(lines)
            print(f"\nengine: {header['engine']}; "
                  f"{'ALL PASS' if out['passed'] else 'SOME LINES FAIL'}")
        return 0
    if args.recovery:
        curve = recovery_curve(settings, args, constants, args.curve_runs or args.runs)
        if not emit({**header, "recovery": curve}, args):
            print_curve(curve)
        return 0
    world = make_world(constants, args.mix, null=null, alts=alts)
    outcomes, wall = run_world(world, settings, runs=args.runs, seed=args.seed, jobs=args.jobs)
    summary = summarise(world, settings, outcomes, wall, args.jobs)
    if not emit({**header, **summary}, args):
        print_world(summary, settings, args.seed)
        print(f"engine: {header['engine']}")
    return 0


def profile(world: World, settings: SimSettings, args: argparse.Namespace) -> int:
    """Where a simulated ratchet's time goes (one process), top functions by own time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    outcomes, wall = run_world(world, settings, runs=args.runs, seed=args.seed, jobs=1)
    profiler.disable()
    print(f"{args.runs} ratchets in {wall:.2f} s: {1000 * wall / args.runs:.1f} ms each")
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(25)
    stats.sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
