"""The mutation check: break one guarded behaviour at a time and see that the suite notices.

Run on demand, never by pytest (the name does not match ``test_*.py`` and nothing imports it):

    .venv/bin/python tests/mutants.py              # every mutant; exit 1 if any survives
    .venv/bin/python tests/mutants.py --list       # names, files and tests, nothing run
    .venv/bin/python tests/mutants.py --only NAME  # one mutant (repeatable)
    .venv/bin/python tests/mutants.py --json       # the results as JSON

Each mutant is one exact snippet of one file and its replacement, with the fast tests that
must kill it. For each, the repository (git's tracked and untracked-but-not-ignored files, as
they are in the working tree) is copied to a temporary directory, the snippet is replaced
there and the tests run there with ``-p no:cacheprovider -x -q -n0``; the checkout itself is
never touched. First the same tests run once on an unmutated copy: a test that fails anyway
would "kill" every mutant. A mutant is *killed* when its tests fail, *survived* when they pass,
and *stale* when its snippet is no longer in the file exactly once (the code moved on: update
the entry). Any survivor or stale entry exits 1.

Adding a mutant is one entry of ``MUTANTS``: name, file, snippet, replacement, tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTEST = ("-m", "pytest", "-p", "no:cacheprovider", "-x", "-q", "-n0", "-W",
          "ignore::pytest.PytestUnraisableExceptionWarning")


@dataclass(frozen=True)
class Mutant:
    """``before`` (exactly once in ``path``) replaced by ``after`` must fail ``tests``."""

    name: str
    path: str
    before: str
    after: str
    tests: tuple[str, ...]


MUTANTS: list[Mutant] = [
    Mutant(
        "harness-hash-ignores-families", "tuner/evaluation/fingerprint.py",
        'for path in sorted(root.rglob("*.py")):',
        'for path in sorted(p for p in root.rglob("*.py") if "families" not in p.parts):',
        ("tests/test_harness_fingerprint.py::test_every_harness_file_is_in_the_harness_hash",),
    ),
    Mutant(
        "cache-key-ignores-popoto-defaults", "tuner/evaluation/fingerprint.py",
        '    return {"version": popoto_version(), "defaults": popoto_defaults(),',
        '    return {"version": popoto_version(), "defaults": {},',
        ("tests/test_fingerprint.py::"
         "test_a_default_changed_before_tuner_runs_changes_key_and_contract",),
    ),
    Mutant(
        "export-ignores-confirmation", "tuner/export/proposals.py",
        "    if not allow_not_ready:\n        check_confirmed(records, ledger.joint())\n",
        "",
        ("tests/test_export.py::test_cli_refuses_a_set_the_joint_check_marked_not_ready",
         "tests/test_export.py::test_cli_refuses_accepted_values_no_joint_check_covers"),
    ),
    Mutant(
        "worker-wraps-onto-parent", "tuner/evaluation/workers.py",
        "for step in range(1, databases)) if db != 0]",
        "for step in range(0, databases)) if db != 0]",
        ("tests/test_workers.py::"
         "test_workers_never_share_a_database_for_any_base_and_worker_count",),
    ),
    Mutant(
        "restore-skips-setup-reads", "scenarios/restore.py",
        "reads = tuple((name, arguments.get(name)) for name in sorted(family.setup_reads))",
        "reads = ()",
        ("tests/test_restore.py::test_a_setup_value_gets_its_own_template_and_restores_it",),
    ),
    # Beyond the list: behaviours the tests of issue 18 made able to fail.
    Mutant(
        "outage-scored-as-zero", "scenarios/runner.py",
        "    except OUTAGE_ERRORS:\n        raise",
        "    except ZeroDivisionError:\n        raise",
        ("tests/test_runner.py::test_a_lost_server_is_an_outage_not_a_zero_score",
         "tests/test_outages.py::"
         "test_killing_the_real_redis_mid_study_exits_1_keeps_trials_and_caches_no_outage"),
    ),
    Mutant(
        "stale-trial-retried-with-other-params", "tuner/studies/storage.py",
        "study.enqueue_trial(trial.params, user_attrs=",
        "study.enqueue_trial({}, user_attrs=",
        ("tests/test_study.py::"
         "test_orphaned_running_trials_are_failed_once_stale_and_retried_with_their_params",
         "tests/test_distributed.py::"
         "test_a_sigkilled_workers_trial_is_retried_and_the_study_completes[journal_storage]"),
    ),
    Mutant(
        "heartbeat-grace-ignored", "tuner/studies/storage.py",
        "if now - (beat if beat is not None else started) <= grace:",
        "if now - (beat if beat is not None else started) <= 0:",
        ("tests/test_study.py::"
         "test_orphaned_running_trials_are_failed_once_stale_and_retried_with_their_params",),
    ),
    Mutant(
        "sensitivity-prints-the-password", "tuner/sensitivity/run.py",
        "storage=mask_url(storage),", "storage=storage,",
        ("tests/test_secrets.py::"
         "test_a_redis_password_never_shows_on_successful_runs_or_in_sensitivity",),
    ),
    Mutant(
        "grid-built-to-be-counted", "tuner/sweeps/plan.py",
        "return self.steps + 1 if self.start is not None else len(self.listed)",
        "return len(self.values())",
        ("tests/test_sweep.py::test_huge_ranges_are_counted_without_being_built",),
    ),
    # The decision engine (issue 14): each rule of docs/statistics.md.
    Mutant(
        "gate-significance-deleted", "tuner/decisions/gate.py",
        "    return p_value < level\n", "    return True\n",
        ("tests/test_gate.py::test_the_gate_checks_every_p_value_against_its_level_itself",
         "tests/test_false_accepts.py::"
         "test_a_random_effect_is_not_accepted_in_twenty_independent_runs"),
    ),
    Mutant(
        "mean-test-replaced-by-sign-flip", "tuner/decisions/stages.py",
        "    return betting.p_value(look.comparison.rounds, rules.min_improvement,\n"
        "                           design_level=design_level)",
        "    from tuner.decisions.stats import paired_test\n"
        "    return paired_test([look.comparison.rounds], resamples=2_000).p_value",
        ("tests/test_sequential.py::test_a_skewed_null_is_never_confirmed",),
    ),
    Mutant(
        "harm-rule-reversed-back", "tuner/decisions/stages.py",
        "    return not look.comparison.errors and not unproven(look, rules)",
        "    return not look.comparison.errors and not harmed(look, rules)",
        ("tests/test_sequential.py::"
         "test_a_gain_on_the_mean_with_a_family_losing_beyond_the_margin_is_not_confirmed",),
    ),
    Mutant(
        "certificate-sparse-guard-removed", "tuner/decisions/certificate.py",
        "    return betting.upper_bound(comparison.rounds, level=level), sds",
        "    r = comparison.rounds\n"
        "    return float(r.mean() + 1.645 * r.std(ddof=1) / len(r) ** 0.5), sds",
        ("tests/test_certificate.py::test_the_bound_covers_a_sparse_gain_at_its_level",
         "tests/test_certificate.py::"
         "test_a_value_that_changed_nothing_seen_is_still_bounded_above_zero"),
    ),
    Mutant(
        "scenario-errors-ignored", "tuner/decisions/stages.py",
        "    if look.comparison.errors:\n        return SCENARIO_ERRORS\n",
        "",
        ("tests/test_sequential.py::test_a_one_sided_crash_stops_the_value_and_is_named",),
    ),
    Mutant(
        "replication-stops-when-the-estimate-turns-positive", "tuner/decisions/replication.py",
        "        and betting.p_value(comparison.rounds, 0.0, "
        "design_level=REPLICATION_EARLY_LEVEL)\n        < REPLICATION_EARLY_LEVEL)",
        "        and comparison.mean > 0)",
        ("tests/test_replication.py::test_a_value_with_no_gain_never_replicates_early",),
    ),
    Mutant(
        "futility-blind-to-the-pool", "tuner/decisions/confirmation.py",
        "            candidate.stopped = futility(look, rules, floor=reachable(\n"
        "                look, rules, rounds=candidate.test.final_size, level=level))",
        "            candidate.stopped = futility(look, rules)",
        ("tests/test_sequential.py::"
         "test_a_gain_too_small_to_confirm_within_the_pool_stops_before_walking_it",),
    ),
    Mutant(
        "holm-without-alpha-recycling", "tuner/decisions/confirmation.py",
        "            level = alpha / left\n", "            level = alpha / m\n",
        ("tests/test_sequential.py::test_holm_recycles_alpha_and_ignores_order",),
    ),
    Mutant(
        "sign-flip-tie-not-counted", "tuner/decisions/stats.py",
        "return (float(np.mean(null >= observed - tolerance)),",
        "return (float(np.mean(null > observed + tolerance)),",
        ("tests/test_stats.py::test_exact_sign_flip_equals_scipys_exact_test_near_the_thresholds",),
    ),
    Mutant(
        "sensitivity-at-the-bar-deleted", "tuner/sensitivity/stats.py",
        "    if ci_high is not None and ci_low >= SENSITIVE - RESOLUTION and \\",
        "    if False and ci_high is not None and ci_low >= SENSITIVE - RESOLUTION and \\",
        ("tests/test_sensitivity.py::test_status_and_reason",),
    ),
    Mutant(
        "work-stealing-deleted", "tuner/evaluation/workers.py",
        "        return fullest.pop() if fullest else None",
        "        return None",
        ("tests/test_workers.py::test_an_idle_worker_takes_the_busiest_workers_last_chunks",),
    ),
    Mutant(
        "check-keys-a-repeated-value-twice", "tuner/decisions/check.py",
        "        entries = distinct_values(constant, sorted(",
        "        entries = list(sorted(",
        ("tests/test_check.py::"
         "test_a_value_listed_twice_in_a_certificate_is_checked_once_at_its_loosest_bound",),
    ),
    Mutant(
        "confirmation-bank-fixed", "tuner/studies/banks.py",
        "            return BankClaim(seed, number, purpose, command)",
        "            return BankClaim(CONFIRMATION_BASE_SEED, number, purpose, command)",
        ("tests/test_banks.py::"
         "test_each_claim_gets_a_fresh_seed_and_the_registry_says_who_claimed_it",
         "tests/test_banks.py::"
         "test_two_consecutive_ratchets_confirm_on_different_banks_and_replicate"),
    ),
    Mutant(
        "sign-futility-by-look-number", "tuner/decisions/stages.py",
        "(min(look.sizes.values(), default=0) >= FUTILITY_SIGN_SIZE",
        "(look.index >= 4",
        ("tests/test_sequential.py::test_the_sign_futility_rule_is_a_size_not_a_look_number",),
    ),
    Mutant(
        "bet-cap-at-one", "tuner/decisions/betting.py",
        "B_MAX = 0.9\n",
        "B_MAX = 1.0\n",
        ("tests/test_betting.py::"
         "test_bets_are_capped_lower_over_the_first_rounds_and_always_below_one",),
    ),
]


@dataclass(frozen=True)
class Outcome:
    name: str
    path: str
    status: str  # killed | survived | stale | error
    seconds: float
    tests: tuple[str, ...]
    detail: str = ""


def repository_files(root: Path = ROOT) -> list[str]:
    """Tracked files and untracked ones git does not ignore, as in the working tree."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root, capture_output=True, check=True).stdout.decode()
    return sorted({name for name in listed.split("\0") if name and (root / name).is_file()})


@contextmanager
def repository_copy(mutant: Mutant | None = None) -> Iterator[Path]:
    """A temporary copy of the repository, with ``mutant`` applied; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="tuner-mutant-") as tmp:
        copy = Path(tmp) / "repo"
        for name in repository_files():
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target)
        if mutant is not None:
            apply(mutant, copy)
        yield copy


class StaleMutant(Exception):
    """The snippet is not in the file exactly once: the entry needs updating."""


def apply(mutant: Mutant, copy: Path) -> None:
    path = copy / mutant.path
    text = path.read_text() if path.exists() else ""
    found = text.count(mutant.before)
    if found != 1:
        raise StaleMutant(f"snippet found {found} times in {mutant.path}")
    path.write_text(text.replace(mutant.before, mutant.after))


def run_tests(copy: Path, tests: Sequence[str]) -> subprocess.CompletedProcess:
    """pytest in the copy, importing the copy's packages (not the editable install's)."""
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    check = subprocess.run([sys.executable, "-c", "import tuner, scenarios; "
                            "print(tuner.__file__, scenarios.__file__)"],
                           cwd=copy, env=env, capture_output=True, text=True, check=True)
    assert all(p.startswith(str(copy)) for p in check.stdout.split()), check.stdout
    return subprocess.run([sys.executable, *PYTEST, *tests], cwd=copy, env=env,
                          capture_output=True, text=True)


def judge(mutant: Mutant) -> Outcome:
    started = time.monotonic()
    try:
        with repository_copy(mutant) as copy:
            result = run_tests(copy, mutant.tests)
    except StaleMutant as exc:
        return Outcome(mutant.name, mutant.path, "stale", 0.0, mutant.tests, str(exc))
    seconds = round(time.monotonic() - started, 1)
    # 1: a test failed; 2: collection failed under the mutant. Others: usage, nothing collected.
    status = {0: "survived", 1: "killed", 2: "killed"}.get(result.returncode, "error")
    detail = last_line(result.stdout) or last_line(result.stderr)
    return Outcome(mutant.name, mutant.path, status, seconds, mutant.tests, detail)


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def baseline(mutants: Sequence[Mutant]) -> tuple[bool, str]:
    """The mutants' tests pass on an unmutated copy (else every mutant would look killed)."""
    tests = sorted({test for mutant in mutants for test in mutant.tests})
    with repository_copy() as copy:
        result = run_tests(copy, tests)
    return result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def table(outcomes: Sequence[Outcome]) -> str:
    width = max(len(o.name) for o in outcomes)
    lines = [f"{'mutant':<{width}}  {'status':<8}  {'seconds':>7}  file", "-" * (width + 50)]
    for o in outcomes:
        lines.append(f"{o.name:<{width}}  {o.status:<8}  {o.seconds:>7.1f}  {o.path}")
        if o.status != "killed":
            lines.append(f"{'':<{width}}  {o.detail}")
    killed = sum(o.status == "killed" for o in outcomes)
    lines.append(f"killed {killed}/{len(outcomes)} in {sum(o.seconds for o in outcomes):.0f} s")
    return "\n".join(lines)


def select(only: Sequence[str] | None) -> list[Mutant]:
    if not only:
        return list(MUTANTS)
    known = {m.name: m for m in MUTANTS}
    unknown = [name for name in only if name not in known]
    if unknown:
        sys.exit(f"unknown mutant {', '.join(unknown)}; --list shows them")
    return [known[name] for name in only]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only NAME")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip running the tests once unmutated first")
    args = parser.parse_args(argv)
    mutants = select(args.only)
    if args.list:
        for m in mutants:
            print(f"{m.name}: {m.path}\n    " + "\n    ".join(m.tests))
        return 0
    if not args.no_baseline:
        ok, output = baseline(mutants)
        if not ok:
            print(f"the mutants' tests fail without any mutant:\n{output}", file=sys.stderr)
            return 2
    outcomes = []
    for mutant in mutants:
        outcomes.append(judge(mutant))
        if not args.json:
            print(f"{mutant.name}: {outcomes[-1].status}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps([asdict(o) for o in outcomes], indent=2))
    else:
        print(table(outcomes))
    return 0 if all(o.status == "killed" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
