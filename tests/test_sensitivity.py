"""`tuner sensitivity`: statuses and reasons, the paired CI, resume, JSON, CLI errors, real popoto.

The verdict (``judge``) is checked on hand-made scores; the runs replace the scenario runner with
a deterministic fake (the overrides stay real, so popoto's own bounds still reject values); one
test runs the planted catalog on the embedded Redis.
"""

import json

import numpy as np
import pytest

from scenarios import ScenarioResult
from tuner.catalog import load_catalog
from tuner.evaluation.engine import BankSpec
from tuner.sensitivity.popoto_sweep import POPOTO_SWEEP
from tuner.sensitivity.run import (
    family_stream,
    parse_value_overrides,
    plan_sensitivity,
    run_sensitivity,
    shared_seeds,
)
from tuner.sensitivity.stats import Facts, PointScores, judge
from tuner.sensitivity.view import sensitivity_text
from tuner.sweeps.plan import plan_sweep
from tuner.sweeps.run import run_sweep
from tuner.views.report import write_report
from tuner.views.report_data import load_report_data

CATALOG = load_catalog()
SMALL = BankSpec(size=10)
SMALL_ARGS = ("--bank-size", "10")
LABELS = {"fam": [f"fam:{i}" for i in range(8)]}
GRID = [0.1, 0.2, 0.3, 0.4]


def facts(**kw):
    base = {"constant": "c", "tier": 1, "families": ("fam",), "default": 0.1,
            "search_low": 0.0, "search_high": 1.0, "reachable": True}
    return Facts(**{**base, **kw})


def stored(effect, grid=GRID, labels=LABELS["fam"]):
    """Scores 0.5 + i/100 per scenario i, plus ``effect(value, i)``."""
    return {v: PointScores(v, {lab: 0.5 + i / 100 + effect(v, i) for i, lab in enumerate(labels)})
            for v in grid}


# --------------------------------------------------------------------------- the verdict


@pytest.mark.parametrize(("effect", "kw", "label"), [
    (lambda v, i: 0.5 * v, {}, "sensitive"),  # +0.15 on every scenario: CI far above 0.05
    (lambda v, i: 0.0, {}, "inert (collapsed)"),
    (lambda v, i: 0.0, {"reachable": False, "reason": "read by nothing"}, "inert (dead alias)"),
    # spread 0.03 on every scenario: the CI lies below the bar, so the data have decided
    (lambda v, i: 0.1 * v, {}, "inert (below the bar)"),
    (lambda v, i: 0.01 * v, {}, "inert (tiny)"),  # spread 0.003
    (lambda v, i: 0.3 if v > 0.35 else 0.0, {"search_high": 0.3}, "inert (effect outside the "
                                                                     "range)"),
    (lambda v, i: 0.3 if v > 0.35 else 0.1 * v, {"search_high": 0.3},
     "sensitive; in range: inert (below the bar)"),
    # one scenario of 8 gains 0.8: spread 0.1, but resamples without it see none -> CI crosses
    (lambda v, i: 0.8 if (i == 3 and v > 0.35) else 0.0, {}, "borderline"),
    # spread 0.05 with a narrow CI across the bar: about the bar, not "cannot tell yet"
    (lambda v, i: (1 / 6 + (0.03 if i % 2 else -0.03)) * v, {}, "at the bar"),
    # the same spread with a wide CI across the bar: the data cannot tell yet
    (lambda v, i: (1 / 6 + (0.15 if i % 2 else -0.15)) * v, {}, "borderline"),
])
def test_status_and_reason(effect, kw, label):
    verdict = judge(facts(**kw), GRID, stored(effect), LABELS)
    assert verdict.label == label


def test_spread_is_max_minus_min_of_the_family_mean_with_a_paired_ci():
    two = {"a": ["a:0", "a:1", "a:2"], "b": ["b:0", "b:1"]}
    scores = {0.1: PointScores(0.1, {"a:0": 0.2, "a:1": 0.4, "a:2": 0.6, "b:0": 0.9, "b:1": 0.9}),
              0.2: PointScores(0.2, {"a:0": 0.3, "a:1": 0.5, "a:2": 0.7, "b:0": 0.5, "b:1": 0.5})}
    verdict = judge(facts(families=("a", "b")), [0.1, 0.2], scores, two)
    # family means: 0.1 -> (0.4 + 0.9) / 2 = 0.65; 0.2 -> (0.5 + 0.5) / 2 = 0.5
    assert verdict.spread == pytest.approx(0.15)
    # every scenario moves by exactly +0.1 (a) or -0.4 (b): pairing leaves no noise
    assert verdict.ci_low == pytest.approx(0.15) and verdict.ci_high == pytest.approx(0.15)
    assert [p.mean for p in verdict.points] == pytest.approx([0.65, 0.5])
    assert verdict.best == "0.1 (= default)" and verdict.status == "sensitive"


def test_a_failed_point_scores_zero_and_is_flagged_outside_the_range():
    scores = stored(lambda v, i: 0.0)
    scores[0.4] = PointScores(0.4, None, "OverrideError: too big")
    verdict = judge(facts(search_high=0.3), GRID, scores, LABELS)
    assert verdict.points[-1].status == "failed" and verdict.points[-1].mean == 0.0
    assert verdict.spread == pytest.approx(np.mean([0.5 + i / 100 for i in range(8)]))
    assert verdict.label == "inert (effect outside the range)" and verdict.outside == [0.4]
    assert verdict.best == "plateau 0.1–0.3 (= default)"
    raised = judge(facts(search_high=0.3), GRID, stored(lambda v, i: 0.1 * (v > 0.35)), LABELS)
    assert raised.best == "0.4 (outside the range)"
    assert any("0.4 (OverrideError: too big)" in note for note in verdict.notes)


def test_best_value_text_names_a_plateau_and_a_missing_point_is_reported():
    verdict = judge(facts(), GRID, stored(lambda v, i: 0.0 if v < 0.35 else -0.2), LABELS)
    assert verdict.best == "plateau 0.1–0.3 (= default)"
    partial = judge(facts(), GRID, {0.1: stored(lambda v, i: 0.0)[0.1]}, LABELS)
    assert partial.status == "incomplete" and partial.points[1].status == "missing"


# --------------------------------------------------------------------------- planning


def test_default_grids_are_popotos_and_values_override_them():
    plans = plan_sensitivity(list(CATALOG), {})
    assert len(plans) == 26 and set(POPOTO_SWEEP) == {c.name for c in CATALOG}
    decay = plans[0]
    assert decay.grid == [0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0] and decay.source.startswith("popoto")
    overrides = parse_value_overrides(CATALOG, ["DECAY_RATE=0.3..0.5:0.1"])
    [custom] = plan_sensitivity([CATALOG.resolve("decay_rate")], overrides)
    assert custom.grid == [0.1, 0.3, 0.4, 0.5] and custom.source == "--values"  # default added


def test_every_constant_shares_each_familys_sample():
    a = shared_seeds(["decay", "cyclic"], SMALL, batch=3, seed=0)
    b = shared_seeds(["cyclic"], SMALL, batch=3, seed=0)
    assert a["cyclic"] == b["cyclic"] and len(a["decay"]) == 3
    assert family_stream("decay") != family_stream("cyclic")
    assert shared_seeds(["decay"], SMALL, batch=None, seed=0)["decay"] == SMALL.pools("decay")[0]


# --------------------------------------------------------------------------- runs (fake popoto)


class Fake:
    """Stands in for ``evaluate_scenario``: decay_rate helps, everything else changes nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, seed, *, arguments=None, k=5):
        arguments = dict(arguments or {})
        self.calls.append((seed.label, arguments))
        score = 0.4 + 0.01 * (seed.seed_id % 5) + 0.3 * arguments.get("decay_rate", 0.1)
        return ScenarioResult(label=seed.label, ndcg=score, spearman=0.5, top=(), seconds=0.0)


@pytest.fixture
def fake(monkeypatch):
    runner = Fake()
    monkeypatch.setattr("tuner.evaluation.engine.evaluate_scenario", runner)
    return runner


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'sens.db'}"


def test_every_point_sees_the_same_scenarios_of_every_reached_family(fake, db):
    [plan] = plan_sensitivity([CATALOG.resolve("decay_rate")], {})
    run = run_sensitivity([plan], storage=db, batch=3, bank=SMALL)
    row = run.constants[0]
    assert row.scenarios == {f: 3 for f in plan.constant.reached_families}
    by_value: dict[float, set[str]] = {}
    for label, args in fake.calls:
        by_value.setdefault(args.get("decay_rate", 0.1), set()).add(label)
    assert len(by_value) == 7 and len({frozenset(s) for s in by_value.values()}) == 1
    assert len(next(iter(by_value.values()))) == 3 * 7
    assert row.verdict.label == "sensitive" and row.verdict.best == "1"
    assert row.verdict.spread == pytest.approx(0.3 * 0.9)


def test_rerun_evaluates_only_missing_points(fake, db):
    constant = CATALOG.resolve("decay_rate")
    first = run_sensitivity(plan_sensitivity([constant], {"decay_rate": "0.2,0.3"}),
                            storage=db, batch=2, bank=SMALL)
    assert first.constants[0].evaluated == 3
    fake.calls.clear()
    again = run_sensitivity(plan_sensitivity([constant], {"decay_rate": "0.2,0.3,0.6"}),
                            storage=db, batch=2, bank=SMALL)
    assert {args["decay_rate"] for _, args in fake.calls} == {0.6}
    assert len(fake.calls) == 2 * len(constant.reached_families)
    row = again.constants[0]
    assert row.evaluated == 1 and [p.resumed for p in row.verdict.points] == [
        True, True, True, False]
    assert row.study_name == "sensitivity:decay_rate-b20261123n10-batch2s0"


def test_interrupted_run_keeps_finished_points(fake, db):
    plans = plan_sensitivity([CATALOG.resolve("decay_rate")], {"decay_rate": "0.2..0.5:0.1"})

    def stop_after_two(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sensitivity(plans, storage=db, batch=2, bank=SMALL, on_progress=stop_after_two)
    fake.calls.clear()
    run = run_sensitivity(plans, storage=db, batch=2, bank=SMALL)
    assert run.constants[0].evaluated == 3
    assert len({args["decay_rate"] for _, args in fake.calls}) == 3


def test_rejected_values_fail_score_zero_and_the_run_goes_on(fake, db):
    plans = plan_sensitivity([CATALOG.resolve("initial_weight")],
                             {"initial_weight": "0.05,0.5,2"})
    row = run_sensitivity(plans, storage=db, batch=2, bank=SMALL).constants[0]
    failed = row.verdict.points[-1]
    assert (failed.value, failed.status, failed.mean, failed.inside) == (2.0, "failed", 0.0, False)
    assert failed.error.startswith("OverrideError: initial_weight must be <=")
    assert row.verdict.label == "inert (effect outside the range)"


def test_json_has_one_row_per_constant_with_popotos_figures(run, fake, db, embedded_redis):
    # the session's server, so a loaded machine never waits for a second one to start
    result = run("sensitivity", "--constants", "decay_rate,CHI_SQUARED_P_THRESHOLD",
                 "--batch", "2", *SMALL_ARGS, "--storage", db, "--json",
                 "--redis-url", embedded_redis.url)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) == {"date", "storage", "bank", "batch", "seed", "seconds", "constants",
                        "redis"}
    decay, chi = out["constants"]
    assert set(decay) == {"constant", "tier", "families", "default", "search_low",
                          "search_high", "study_name", "grid_source", "scenarios", "verdict",
                          "popoto_spread", "popoto_best", "evaluated", "notes"}
    assert set(decay["verdict"]) >= {"spread", "ci_low", "ci_high", "status", "why", "best",
                                     "points", "outside", "spread_in_range"}
    assert (decay["popoto_spread"], decay["verdict"]["status"]) == (0.067, "sensitive")
    assert (chi["verdict"]["status"], chi["verdict"]["why"]) == ("inert", "dead alias")


def test_text_table_puts_popotos_figures_beside_ours(fake, db):
    plans = plan_sensitivity([CATALOG.resolve("ACTED_CONFIDENCE_SIGNAL")], {})
    text = sensitivity_text(run_sensitivity(plans, storage=db, batch=2, bank=SMALL))
    row = next(line for line in text.splitlines() if "`ACTED_CONFIDENCE_SIGNAL`" in line)
    assert [c.strip() for c in row.strip("|").split("|")] == [
        "`ACTED_CONFIDENCE_SIGNAL`", "1", "4", "2", "0.0000 [0.0000, 0.0000]",
        "inert (collapsed)", "0.03", "0.1", "—"]
    assert "ACTED_CONFIDENCE_SIGNAL: 0.1, 0.3 outside the search range [0.5, 0.99]" in text
    assert ("decided 1 of 1 (0 sensitive); undecided 0 (0 at the bar, band ±0.02 declared "
            "before the run; 0 borderline)") in text


@pytest.mark.parametrize(("args", "message"), [
    (("--values", "decay_rate"), "bad --values 'decay_rate': use NAME=SPEC, e.g. "
     "decay_rate=0.05..0.5:0.05 or decay_rate=0.1,0.3"),
    (("--constants", "decay_rate", "--values", "delta=0.1"), "--values names delta, which is "
     "not among the constants asked for (--constants / --tier)"),
    (("--constants", "decay_rat"), "unknown constant 'decay_rat'; did you mean decay_rate, "
     "decay_factor, decay_per_hop? (`tuner constants` lists all 26)"),
    (("--constants", "decay_rate", "--tier", "1"), "give --constants or --tier, not both"),
    (("--constants", "decay_rate", "--values", "decay_rate=0.5..0.1"), "bad --values "
     "'0.5..0.1': end must be >= start; use START..END[:STEP] or V1,V2,..."),
    (("--values", "decay_rate=0.1", "--values", "DECAY_RATE=0.2"),
     "--values gives decay_rate twice; give one grid each"),
])
def test_bad_input_exits_2_with_one_line(run, args, message):
    result = run("sensitivity", *args)
    assert result.exit_code == 2
    assert result.output == f"Error: {message}\n"


# --------------------------------------------------------------------------- tuner report


@pytest.fixture
def grids_only(fake, db):
    """A storage holding one sensitivity study and one sweep, and no tuning study."""
    plans = plan_sensitivity([CATALOG.resolve("decay_rate"), CATALOG.resolve("delta")],
                             {"decay_rate": "0.2,0.4", "delta": "0.1"})
    sensitivity = run_sensitivity(plans, storage=db, batch=2, bank=SMALL)
    run_sweep(plan_sweep([CATALOG.resolve("decay_rate")], ["0.3,0.5"]), storage=db, bank=SMALL)
    return db, sensitivity


def test_report_reads_sensitivity_and_sweeps_without_a_tuning_study(grids_only, tmp_path):
    db, sensitivity = grids_only
    data = load_report_data(db, bank_tag=SMALL.tag)
    assert data.constants == [] and data.ledger_name is None
    assert [r.constant for r in data.sensitivity] == ["decay_rate", "delta"]  # sensitive first
    assert [r.verdict.label for r in data.sensitivity] == ["sensitive", "inert (collapsed)"]
    assert data.sensitivity[0].verdict.spread == sensitivity.constants[0].verdict.spread
    [sweep] = data.sweeps
    assert (sweep.name, sweep.points, sweep.best) == ("sweep:decay_rate@decay-b20261123n10", 3,
                                                      "decay_rate=0.5")
    assert sweep.delta == pytest.approx(0.3 * 0.4)
    index = write_report(data, tmp_path / "out").index.read_text()
    assert "<h2>Sensitivity beside popoto's sweep</h2>" in index and "Grid sweeps" in index
    assert 'id="grid-sensitivity"' in index and "Ratchet decisions" not in index


def test_report_cli_succeeds_on_grid_studies_and_still_refuses_an_empty_bank(run, grids_only,
                                                                             tmp_path):
    db, _ = grids_only
    out = tmp_path / "dash"
    result = run("report", "--storage", db, "--out", str(out), *SMALL_ARGS)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out / 'index.html'} and 0 constant pages")
    refused = run("report", "--storage", db, "--out", str(tmp_path / "none"))
    assert refused.exit_code == 2
    assert refused.output == (
        f"Error: no tuning, sweep or sensitivity studies for scenario bank b20261123n100 in "
        f"{db}; it holds bank(s) b20261123n10: pass --bank-size 10 --base-seed 20261123\n")


# --------------------------------------------------------------------------- real popoto


@pytest.mark.usefixtures("planted")
def test_planted_catalog_on_the_embedded_redis(run, catalog_path, db, popoto_redis):
    args = ("sensitivity", "--catalog", str(catalog_path), "--constants", "planted_rate,placebo",
            *SMALL_ARGS, "--storage", db, "--json", "--redis-url", popoto_redis.url)
    out = json.loads(run(*args).output)
    planted, placebo = out["constants"]
    assert planted["grid_source"] == placebo["grid_source"] == "search range"
    assert planted["verdict"]["status"] == "sensitive", planted["verdict"]
    assert planted["popoto_spread"] is None
    assert (placebo["verdict"]["status"], placebo["verdict"]["why"]) == ("inert", "collapsed")
    again = json.loads(run(*args).output)
    assert sum(c["evaluated"] for c in again["constants"]) == 0
    resumed = again["constants"][0]["verdict"]
    assert all(p.pop("resumed") for p in resumed["points"])
    assert not any(p.pop("resumed") for p in planted["verdict"]["points"])
    assert resumed == planted["verdict"]
