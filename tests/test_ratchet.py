"""Ratchet on real popoto: planted accept, placebo guarantee, carry-forward, joint, resume."""

import json

import optuna
import pytest
from click.testing import CliRunner

from tuner.catalog import load_catalog
from tuner.cli import main
from tuner.decisions import comparison
from tuner.decisions.ledger import Ledger, LedgerRecord
from tuner.decisions.ratchet import joint_check, run_ratchet, summary_text
from tuner.decisions.validation import validate_study
from tuner.evaluation.engine import BankSpec, Evaluation, evaluate_values
from tuner.studies.study import open_study, run_study

pytestmark = pytest.mark.usefixtures("popoto_redis")

SMALL = BankSpec(size=20)
PLANTED_BANK = BankSpec(size=40)  # 20 held-out scenarios: enough for the planted effect
CONFIRM = BankSpec(size=20, base_seed=7)
PLACEBO_SEEDS = range(10)


def study_and_validate(constant, storage, seed, bank=SMALL, trials=6, batch=6):
    name = f"{constant.name}-{seed}"
    run_study(constant, trials=trials, storage=storage, seed=seed, batch=batch, bank=bank,
              study_name=name)
    study = open_study(constant, storage=storage, seed=seed, batch=batch, bank=bank,
                       study_name=name)
    return validate_study(study, constant, bank=bank)


def test_planted_optimum_is_accepted(planted, catalog_path, tmp_path):
    constant = load_catalog(catalog_path).resolve("planted_rate")
    result = study_and_validate(constant, f"sqlite:///{tmp_path / 'p.db'}", seed=0, trials=10,
                                bank=PLANTED_BANK)
    assert result.decision.accept, result.decision
    assert result.proposal > 0.2 and result.validation.p_value < 0.05


@pytest.mark.parametrize("name", ["placebo", "CHI_SQUARED_P_THRESHOLD"])
def test_placebo_is_never_accepted_over_ten_study_seeds(name, catalog_path, tmp_path):
    catalog = load_catalog(catalog_path) if name == "placebo" else load_catalog()
    constant = catalog.resolve(name)
    storage = f"sqlite:///{tmp_path / 'placebo.db'}"
    bank = BankSpec(size=10)
    decisions = [study_and_validate(constant, storage, seed, bank=bank, trials=4, batch=3)
                 for seed in PLACEBO_SEEDS]
    assert [d.decision.accept for d in decisions] == [False] * len(PLACEBO_SEEDS)
    assert {d.decision.reason.value for d in decisions} == {"no sensitivity"}


def test_placebo_is_rejected_even_if_collapse_detection_were_fooled(monkeypatch, catalog_path,
                                                                    tmp_path):
    """Second line of defence: with identical scores the train delta is exactly zero, so the
    proposal is refused on train and validation is never even looked at."""
    from tuner.decisions import validation

    monkeypatch.setattr(validation, "is_collapsed", lambda done: False)
    constant = load_catalog(catalog_path).resolve("placebo")
    result = study_and_validate(constant, f"sqlite:///{tmp_path / 'f.db'}", seed=3,
                                bank=BankSpec(size=10), trials=4, batch=3)
    assert not result.decision.accept and result.decision.reason.value == "train regression"
    assert result.train_delta == 0.0 and result.validation is None


def test_ratchet_carries_accepted_values_forward_and_resumes(planted, catalog_path, tmp_path):
    catalog = load_catalog(catalog_path)
    storage = f"sqlite:///{tmp_path / 'r.db'}"
    constants = [catalog.resolve("planted_rate"), catalog.resolve("placebo")]
    seen = []
    result = run_ratchet(constants, catalog, trials=8, storage=storage, batch=6,
                         bank=PLANTED_BANK, confirmation=CONFIRM,
                         on_record=lambda r, resumed: seen.append((r.constant, resumed)))
    planted_record, placebo_record = result.records
    assert planted_record.decision == "ACCEPT" and placebo_record.reason == "no sensitivity"
    # carry-forward: the placebo's study ran on top of the accepted decay rate
    assert "-base" in placebo_record.study_name
    placebo_study = optuna.load_study(study_name=placebo_record.study_name, storage=storage)
    first = min(placebo_study.trials, key=lambda t: t.number)
    train, _ = PLANTED_BANK.pools("decay")
    with_accepted = evaluate_values({catalog.resolve("planted_rate"): planted_record.proposal},
                                    train)
    assert first.value == pytest.approx(with_accepted.mean_score)
    assert first.value != pytest.approx(evaluate_values({}, train).mean_score)
    # every catalog constant could be decided on these validation seeds: alpha / 3 each
    assert planted_record.extra["alpha"] == pytest.approx(0.05 / 3)
    # the confirmation check runs on the confirmation bank, never on the validation seeds
    assert result.joint["n"] == CONFIRM.size and result.joint["bank"] == CONFIRM.tag
    assert result.joint["ready"] is True and result.joint["confirmation"] is True
    # resume: nothing is redone
    studies_before = set(optuna.get_all_study_names(storage=storage))
    seen.clear()
    again = run_ratchet(constants, catalog, trials=8, storage=storage, batch=6,
                        bank=PLANTED_BANK, confirmation=CONFIRM,
                        on_record=lambda r, resumed: seen.append((r.constant, resumed)))
    assert seen == [("planted_rate", True), ("placebo", True)]
    assert set(optuna.get_all_study_names(storage=storage)) == studies_before
    assert [r.to_dict() for r in again.records] == [r.to_dict() for r in result.records]
    text = summary_text(again)
    assert text.startswith("RATCHET SUMMARY\n===============\nProposed changes")
    assert "planted_rate:" in text and "ACCEPT" in text
    assert "Rejected (no sensitivity):\n  placebo" in text
    assert "ready for review" in text


def test_joint_check_names_the_acceptance_to_drop(monkeypatch):
    """Each acceptance helps alone, but A hurts together with B: leave-one-out says drop A."""
    catalog = load_catalog()
    a, b = catalog.resolve("decay_rate"), catalog.resolve("initial_confidence")

    def fake(values, seeds):
        names = {c.name for c in values}
        score = {frozenset(): 0.5, frozenset({"decay_rate"}): 0.55,
                 frozenset({"initial_confidence"}): 0.6,
                 frozenset({"decay_rate", "initial_confidence"}): 0.45}[frozenset(names)]
        from scenarios.runner import ScenarioResult

        return Evaluation(tuple(ScenarioResult(label=s.label, ndcg=score + 0.001 * s.seed_id,
                                               spearman=0, top=(), seconds=0) for s in seeds))

    monkeypatch.setattr(comparison, "evaluate_values", fake)
    records = [_record(a.name, 0.3), _record(b.name, 0.6)]
    joint = joint_check(records, catalog, BankSpec(size=10, base_seed=7))
    assert joint["ready"] is False and joint["drop"] == "decay_rate"
    assert joint["mean"] == pytest.approx(-0.05)
    assert joint["leave_one_out"]["decay_rate"] == pytest.approx(0.1)


def _record(name, proposal):
    return LedgerRecord(constant=name, attr=None, default=0.1, proposal=proposal,
                        decision="ACCEPT", reason="accepted", detail="", train_delta=0.1,
                        validation_delta=0.1, ci_low=0.05, ci_high=0.15, trials=5,
                        validation_scenarios=3, study_name="s", date="2026-11-23")


def test_ratchet_cli_prints_the_summary_and_json(planted, catalog_path, tmp_path):
    storage = f"sqlite:///{tmp_path / 'cli.db'}"
    args = ["ratchet", "--constants", "placebo", "--trials", "3", "--batch", "3",
            "--bank-size", "10", "--storage", storage, "--catalog", str(catalog_path)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "RATCHET SUMMARY" in result.output
    assert "Confirmation: nothing accepted — no patch to review" in result.output
    data = json.loads(CliRunner().invoke(main, [*args, "--json"]).stdout)
    assert data["records"][0]["reason"] == "no sensitivity"
    ledger = Ledger(storage=storage, bank_tag=BankSpec(size=10).tag)
    assert ledger.get("placebo").decision == "REJECT"


def test_ratchet_from_a_fresh_directory_creates_the_default_storage(tmp_path, monkeypatch,
                                                                    catalog_path):
    """The README's default storage is relative; nothing may assume studies/ exists."""
    from tuner.studies.storage import open_storage

    open_storage.cache_clear()  # an earlier test's relative default would point elsewhere
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["ratchet", "--constants", "placebo", "--trials", "2",
                                       "--batch", "3", "--bank-size", "10", "--catalog",
                                       str(catalog_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "studies" / "tuner.db").exists()


def test_the_confirmation_bank_must_differ_from_the_decision_bank(run, catalog_path, tmp_path):
    result = run("ratchet", "--constants", "placebo", "--base-seed", "5",
                 "--confirm-base-seed", "5", "--catalog", str(catalog_path),
                 "--storage", f"sqlite:///{tmp_path / 'c.db'}")
    assert result.exit_code == 2
    assert result.output.startswith("Error: --confirm-base-seed must differ from --base-seed")
