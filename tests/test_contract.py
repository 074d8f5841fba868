"""A study refuses to resume when what its trials mean has changed, and says what changed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna
import pytest

from tuner.catalog import REPO_CATALOG, load_catalog
from tuner.studies import contract

DECAY = load_catalog().resolve("decay_rate")
STUDY = "decay_rate@decay-b20261123n10"


@pytest.fixture
def narrowed_catalog(tmp_path) -> Path:
    """The repository catalog with decay_rate's range cut from [0.01, 2.0] to [0.01, 1.0]."""
    text = REPO_CATALOG.read_text()
    marker = '[constants.decay_rate]\nattr = "DECAY_RATE"'
    assert marker in text
    head, tail = text.split(marker, 1)
    assert "high = 2.0\n" in tail
    path = tmp_path / "narrowed.toml"
    path.write_text(head + marker + tail.replace("high = 2.0\n", "high = 1.0\n", 1))
    return path


def optimize(run, db: str, *extra: str):
    return run("optimize", "--constant", "decay_rate", "--storage", db, "--bank-size", "10",
               "--batch", "3", "--trials", "1", "--no-validate", *extra)


def test_resume_after_changing_the_catalog_range_exits_2_naming_the_range(run, tmp_path,
                                                                          narrowed_catalog):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    assert optimize(run, db).exit_code == 0
    result = optimize(run, db, "--trials", "2", "--catalog", str(narrowed_catalog))
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: study '{STUDY}' was run under another contract: "
                                    "range [0.01, 2.0] -> [0.01, 1.0]; ")
    assert "pass another --study-name" in result.output
    fresh = optimize(run, db, "--catalog", str(narrowed_catalog), "--study-name", "narrow")
    assert fresh.exit_code == 0, fresh.output


def test_the_contract_is_stored_on_the_study(run, tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    assert optimize(run, db).exit_code == 0
    stored = optuna.load_study(study_name=STUDY, storage=db).user_attrs["contract"]
    assert stored == contract.study_contract(DECAY)
    assert stored["popoto"] == "1.10.1" and stored["k"] == 5
    assert stored["metric"].startswith("decay:ndcg,") and "policy_cache:signed_ndcg" in \
        stored["metric"]
    assert stored["catalog_entry"]["low"] == 0.01 and stored["catalog_entry"]["high"] == 2.0


def test_drift_of_the_metric_is_named(run, tmp_path, monkeypatch):
    """popoto's and the harness's drift are shown with real edits of real files in
    tests/test_fingerprint.py (contract) and tests/test_stale_scores.py (a resumed study)."""
    db = f"sqlite:///{tmp_path / 'c.db'}"
    assert optimize(run, db).exit_code == 0
    monkeypatch.setattr(contract, "family_metrics", lambda constant: "decay:spearman")
    result = optimize(run, db, "--trials", "2")
    assert result.exit_code == 2 and "-> decay:spearman@5" in result.output, result.output


def test_a_contract_key_this_tuner_does_not_know_is_named_generically():
    """A key a later change adds (here the incumbent, which the contract now records) needs no
    code to be reported."""
    old = {k: v for k, v in contract.study_contract(DECAY).items() if k != "incumbent"}
    new = {**old, "incumbent": {"decay_rate": 0.2, "TD_ALPHA": 0.1}}
    assert contract.contract_changes(old, new) == [
        "incumbent not recorded (the study was made by an older tuner)"]
    newer = {**old, "incumbent": {"decay_rate": 0.3, "TD_ALPHA": 0.1}}
    assert contract.contract_changes(new, newer) == ["incumbent decay_rate 0.2 -> 0.3"]
    assert contract.contract_changes(newer, old) == [
        "incumbent no longer recorded (was {'decay_rate': 0.3, 'TD_ALPHA': 0.1})"]
    assert contract.study_contract(DECAY, {"decay_rate": 0.2})["incumbent"] == {
        "decay_rate": 0.2}


def test_a_study_recorded_before_popoto_s_state_was_in_the_contract_is_not_resumed():
    stored = {k: v for k, v in contract.study_contract(DECAY).items()
              if k not in ("popoto_defaults", "popoto_source", "popoto_arguments", "overrides")}
    assert contract.contract_changes(stored, contract.study_contract(DECAY)) == [
        f"{key} not recorded (the study was made by an older tuner)"
        for key in ("overrides", "popoto_arguments", "popoto_defaults", "popoto_source")]


def test_every_dataclass_field_is_covered_and_reported_by_name():
    """A field added to Constant later enters the hash without touching the contract code."""
    old = contract.study_contract(DECAY)
    changed = dataclasses.replace(DECAY, family="cyclic", log=False, expected_default=0.2)
    new = contract.study_contract(changed)
    assert old["catalog_hash"] != new["catalog_hash"]
    changes = contract.contract_changes(old, new)
    assert changes[:3] == [
        "expected_default 0.1 -> 0.2", "family 'decay' -> 'cyclic'", "log True -> False"]
    assert changes[3].startswith("metric decay:ndcg,")  # the family order changed the metrics
    grown = {**new["catalog_entry"], "new_field": ["decay", "cyclic"]}
    assert contract.entry_changes(new["catalog_entry"], grown) == [
        "new_field None -> ['decay', 'cyclic']"]


def test_descriptive_fields_do_not_break_a_resume():
    reworded = dataclasses.replace(DECAY, owner="elsewhere", reason="reworded")
    assert contract.contract_changes(contract.study_contract(DECAY),
                                     contract.study_contract(reworded)) == []


def test_report_shows_the_contract(run, tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    assert optimize(run, db).exit_code == 0
    out = tmp_path / "html"
    assert run("report", "--storage", db, "--out", str(out), "--bank-size", "10").exit_code == 0
    page = (out / "constant-decay_rate.html").read_text()
    assert "contract: popoto 1.10.1, decay:ndcg," in page
    assert "@5, range [0.01, 2.0], family decay" in page


def test_dashboard_note_shows_the_contract(run, tmp_path):
    from optuna_dashboard._note import get_note

    db = f"sqlite:///{tmp_path / 'c.db'}"
    result = run("optimize", "--constant", "decay_rate", "--storage", db, "--bank-size", "10",
                 "--batch", "3", "--trials", "2", "--top", "1", "--held-out", "20",
                 "--confirm-size", "20")
    assert result.exit_code == 0, result.output
    note = get_note(optuna.load_study(study_name=STUDY, storage=db))
    assert "contract: popoto 1.10.1, decay:ndcg," in note
    assert "@5, range [0.01, 2.0], family decay" in note
