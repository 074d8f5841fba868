"""Ratchet on real popoto: planted accept, placebo guarantee, carry-forward, joint, resume."""

import json

import optuna
import pytest
from click.testing import CliRunner

from tuner.catalog import load_catalog
from tuner.cli import main
from tuner.decisions import comparison
from tuner.decisions.confirmation import joint_check
from tuner.decisions.ledger import Ledger
from tuner.decisions.proposal import propose
from tuner.decisions.ratchet import RatchetSettings, run_ratchet, summary_text
from tuner.decisions.stages import StageRules
from tuner.decisions.validation import validate_study
from tuner.evaluation.engine import BankSpec, Evaluation
from tuner.studies.study import incumbent_hash, open_study, run_study

pytestmark = pytest.mark.usefixtures("popoto_redis")

SMALL = BankSpec(size=20, held_out=20)
# The anytime mean tests (docs/statistics.md) need a few hundred scenarios for a planted
# effect of this size: looks at 50, 62, 78, ..., 191 and 200 held-out scenarios.
PLANTED_BANK = BankSpec(size=40, held_out=200)
CONFIRM = BankSpec(size=300, base_seed=7)
PLACEBO_SEEDS = range(10)


def study_and_validate(constant, storage, seed, bank=SMALL, trials=6, batch=6):
    name = f"{constant.name}-{seed}"
    run_study(constant, trials=trials, storage=storage, seed=seed, batch=batch, bank=bank,
              study_name=name)
    study = open_study(constant, storage=storage, seed=seed, batch=batch, bank=bank,
                       study_name=name)
    return validate_study(study, constant, bank=bank, confirmation=CONFIRM)


def test_planted_optimum_is_accepted(planted, catalog_path, tmp_path):
    constant = load_catalog(catalog_path).resolve("planted_rate")
    result = study_and_validate(constant, f"sqlite:///{tmp_path / 'p.db'}", seed=0, trials=10,
                                bank=PLANTED_BANK)
    assert result.decision.accept, result.decision
    assert result.proposal > 0.2 and result.screen.passed and result.confirmation.passed
    assert result.certificate is None


def test_a_planted_mis_set_incumbent_is_found_and_accepted(catalog_path, tmp_path):
    """A deployment running the real decay family at decay_rate = 1.5 (popoto ships 0.1): the
    study starts from the incumbent and the accepted value lies back towards popoto's."""
    constant = load_catalog().resolve("decay_rate")
    incumbent = {constant: 1.5}
    constant_only = BankSpec(size=40, held_out=60)
    storage = f"sqlite:///{tmp_path / 'inc.db'}"
    run_study(constant, trials=8, storage=storage, seed=0, batch=8, bank=constant_only,
              baseline=incumbent)
    study = open_study(constant, storage=storage, seed=0, batch=8, bank=constant_only,
                       baseline=incumbent)
    assert study.study_name.endswith("-inc" + incumbent_hash(incumbent))
    first = min(study.trials, key=lambda t: t.number)
    assert first.params["decay_rate"] == 1.5  # trial 0 is the incumbent
    # the train side is what this test is about (the held-out stages are the same code for
    # any incumbent and are tested above); proposing alone keeps it a third of the time
    proposal = propose(study, constant, bank=constant_only, incumbent=incumbent, top=2)
    assert proposal.default == 1.5
    assert {c.name: v for c, v in proposal.incumbent.items()} == {"decay_rate": 1.5}
    assert proposal.refusal is None and proposal.value < 1.0 and proposal.train_delta > 0


@pytest.mark.parametrize("name", ["placebo", "CHI_SQUARED_P_THRESHOLD"])
def test_placebo_is_never_accepted_over_ten_study_seeds(name, catalog_path, tmp_path):
    catalog = load_catalog(catalog_path) if name == "placebo" else load_catalog()
    constant = catalog.resolve(name)
    storage = f"sqlite:///{tmp_path / 'placebo.db'}"
    bank = BankSpec(size=10, held_out=10)
    decisions = [study_and_validate(constant, storage, seed, bank=bank, trials=4, batch=3)
                 for seed in PLACEBO_SEEDS]
    assert [d.decision.accept for d in decisions] == [False] * len(PLACEBO_SEEDS)
    assert {d.decision.reason.value for d in decisions} == {"no sensitivity"}
    # nothing changed, yet the bound is what the scenarios not seen could still do: never 0
    assert all(d.certificate.collapsed and d.certificate.bound > 0 for d in decisions)


def test_placebo_is_rejected_even_if_collapse_detection_were_fooled(monkeypatch, catalog_path,
                                                                    tmp_path):
    """Second line of defence: with identical scores the train delta is exactly zero, so the
    proposal is refused on train and the held-out pool is never even looked at."""
    from tuner.decisions import proposal

    monkeypatch.setattr(proposal, "is_collapsed", lambda done: False)
    constant = load_catalog(catalog_path).resolve("placebo")
    result = study_and_validate(constant, f"sqlite:///{tmp_path / 'f.db'}", seed=3,
                                bank=BankSpec(size=10, held_out=10), trials=4, batch=3)
    assert not result.decision.accept and result.decision.reason.value == "train regression"
    assert result.train_delta == 0.0 and result.validation is None
    assert 0.0 < result.certificate.bound < 0.7  # nothing changed: bounded, never 0


def ratchet(constants, catalog, storage, seen=None):
    settings = RatchetSettings(trials=8, storage=storage, batch=6, bank=PLANTED_BANK,
                               confirmation=CONFIRM)
    return run_ratchet(constants, catalog, settings=settings,
                       on_record=(lambda r, resumed: seen.append((r.constant, resumed)))
                       if seen is not None else None)


def test_ratchet_decides_independently_of_order_and_resumes(planted, catalog_path, tmp_path):
    catalog = load_catalog(catalog_path)
    storage = f"sqlite:///{tmp_path / 'r.db'}"
    constants = [catalog.resolve("planted_rate"), catalog.resolve("placebo")]
    seen = []
    result = ratchet(constants, catalog, storage, seen)
    planted_record, placebo_record = result.records
    assert planted_record.decision == "ACCEPT" and placebo_record.reason == "no sensitivity"
    assert placebo_record.certificate["collapsed"] and planted_record.certificate is None
    # no carry-forward inside a run: every study compares against the same incumbent
    assert "-base" not in placebo_record.study_name
    # only the value that passed its screen reached confirmation: Holm over 1, not over 2
    assert planted_record.extra["confirmation"]["level"] == pytest.approx(0.05)
    # the joint check runs on the confirmation bank and names what it covered
    # confirmed on the bank asked for; replicated alone, and checked jointly, on a fresh bank
    # no decision saw (issue 22)
    assert planted_record.confirmation_bank["base_seed"] == CONFIRM.base_seed
    assert planted_record.replication["replicated"] is True
    assert result.joint["bank"] == result.banks["replication"]["tag"] != CONFIRM.tag
    assert result.joint["ready"] is True
    assert result.joint["constants"] == {"planted_rate": planted_record.proposal}
    # resume: nothing is redone
    studies_before = set(optuna.get_all_study_names(storage=storage))
    seen.clear()
    again = ratchet(constants, catalog, storage, seen)
    assert seen == [("planted_rate", True), ("placebo", True)]
    assert set(optuna.get_all_study_names(storage=storage)) == studies_before
    assert [r.to_dict() for r in again.records] == [r.to_dict() for r in result.records]
    # the other catalog order, from scratch, decides the same
    reversed_run = ratchet(constants[::-1], catalog, f"sqlite:///{tmp_path / 'r2.db'}")
    by_name = {r.constant: (r.decision, r.proposal) for r in reversed_run.records}
    assert by_name == {r.constant: (r.decision, r.proposal) for r in result.records}
    text = summary_text(again)
    assert text.startswith("RATCHET SUMMARY\n===============\nAccepted")
    assert "planted_rate:" in text and "ACCEPT" in text
    assert "placebo:" in text and "changed any of the" in text
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
    monkeypatch.setattr(comparison, "prefetch", lambda requests: None)  # faked above
    confirm_bank = BankSpec(size=10, base_seed=7)
    seeds = {f: confirm_bank.bank(f) for f in ("confidence", "decay")}
    joint = joint_check({a: 0.3, b: 0.6}, {}, seeds, rules=StageRules(), bank=confirm_bank.tag)
    assert joint["ready"] is False and joint["drop"] == "decay_rate"
    assert joint["mean"] == pytest.approx(-0.05)
    assert joint["leave_one_out"]["decay_rate"] == pytest.approx(0.1)
    assert joint["constants"] == {"decay_rate": 0.3, "initial_confidence": 0.6}


def test_ratchet_cli_prints_the_summary_and_json(planted, catalog_path, tmp_path):
    storage = f"sqlite:///{tmp_path / 'cli.db'}"
    args = ["ratchet", "--constants", "placebo", "--trials", "3", "--batch", "3",
            "--bank-size", "10", "--held-out", "10", "--storage", storage, "--catalog",
            str(catalog_path)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "RATCHET SUMMARY" in result.output
    assert "Confirmation: nothing accepted — no patch to review" in result.output
    assert "changed any of the" in result.output  # the placebo's certificate
    data = json.loads(CliRunner().invoke(main, [*args, "--json"]).stdout)
    assert data["records"][0]["reason"] == "no sensitivity"
    ledger = Ledger(storage=storage, bank_tag=BankSpec(size=10).tag)
    assert ledger.get("placebo").certificate["collapsed"] is True
    assert ledger.get("placebo").decision == "REJECT"


def test_ratchet_from_a_fresh_directory_creates_the_default_storage(tmp_path, monkeypatch,
                                                                    catalog_path):
    """The README's default storage is relative; nothing may assume studies/ exists."""
    from tuner.studies.storage import open_storage

    open_storage.cache_clear()  # an earlier test's relative default would point elsewhere
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["ratchet", "--constants", "placebo", "--trials", "2",
                                       "--batch", "3", "--bank-size", "10", "--held-out", "10",
                                       "--catalog",
                                       str(catalog_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "studies" / "tuner.db").exists()


def test_the_confirmation_bank_must_differ_from_the_decision_bank(run, catalog_path, tmp_path):
    result = run("ratchet", "--constants", "placebo", "--base-seed", "5",
                 "--confirm-base-seed", "5", "--catalog", str(catalog_path),
                 "--storage", f"sqlite:///{tmp_path / 'c.db'}")
    assert result.exit_code == 2
    assert result.output.startswith("Error: --confirm-base-seed must differ from --base-seed")
