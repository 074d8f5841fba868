"""A fresh bank for every claim (issue 22): the registry, the ratchet's banks, replication, export.

No popoto: the ratchet's search, screen, confirmation and gate are replaced by fakes (what they
decide is pinned elsewhere); what runs for real is the bank registry in a SQLite storage, the
ledger, replication on the replication bank (scores faked per constant) and ``tuner export``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner
from test_distributed import journal_storage  # noqa: F401 - a fixture: a Redis journal

from scenarios.runner import ScenarioResult
from tuner.catalog import load_catalog
from tuner.cli import main
from tuner.decisions import comparison, ratchet
from tuner.decisions.check import check_bank
from tuner.decisions.ledger import Ledger, LedgerRecord
from tuner.decisions.ledger_file import LedgerSnapshot
from tuner.decisions.proposal import Proposal
from tuner.decisions.ratchet import RatchetSettings, Screened, run_ratchet, summary_text
from tuner.decisions.replication import REPLICATION_FLOOR
from tuner.decisions.stages import StageResult
from tuner.defaults import CONFIRMATION_BASE_SEED
from tuner.evaluation.engine import BankSpec, Evaluation
from tuner.studies.banks import BANK_STEP, BankRegistry, BankSpentError, fresh_seed

CATALOG = load_catalog()
WF = CATALOG.resolve("_wf_min_threshold")  # one family each: seeds stay cheap to draw
HOP = CATALOG.resolve("decay_per_hop")
BANK = BankSpec(size=20, held_out=20)
EFFECTS = {WF.name: 0.2, HOP.name: -0.01}  # the second will not replicate
VALUES = {WF.name: 0.3, HOP.name: 0.6}
LOOK = 40  # scenarios per family of the (faked) accepting look


def storage_url(tmp_path, name: str = "b.db") -> str:
    return f"sqlite:///{tmp_path / name}"


# ------------------------------------------------------------------------- the registry


def test_each_claim_gets_a_fresh_seed_and_the_registry_says_who_claimed_it(tmp_path):
    registry = BankRegistry(storage_url(tmp_path))
    first = registry.claim(purpose="confirmation", command="ratchet", run={"trials": 11})
    second = registry.claim(purpose="replication", command="ratchet")
    third = BankRegistry(storage_url(tmp_path)).claim(purpose="confirmation", command="validate")
    seeds = [first.base_seed, second.base_seed, third.base_seed]
    assert seeds == [fresh_seed(0), fresh_seed(1), fresh_seed(2)]  # the claim order decides
    assert len(set(seeds)) == 3 and CONFIRMATION_BASE_SEED not in seeds
    assert seeds[1] - seeds[0] == BANK_STEP
    claims = registry.claims()
    assert [(c["index"], c["purpose"], c["command"]) for c in claims] == [
        (0, "confirmation", "ratchet"), (1, "replication", "ratchet"),
        (2, "confirmation", "validate")]
    assert claims[0]["run"] == {"trials": 11} and claims[0]["time"]
    assert set(registry.spent()) == {*seeds, CONFIRMATION_BASE_SEED}


def test_an_explicit_spent_bank_is_refused_unless_reused_and_then_says_so(tmp_path):
    registry = BankRegistry(storage_url(tmp_path))
    spent = registry.claim(purpose="confirmation", command="ratchet").base_seed
    with pytest.raises(BankSpentError, match=f"bank {spent} is already spent .* claim #0"):
        registry.claim_explicit(spent, purpose="confirmation", command="validate")
    with pytest.raises(BankSpentError, match="before the bank registry"):  # the old fixed bank
        registry.claim_explicit(CONFIRMATION_BASE_SEED, purpose="confirmation", command="x")
    reused = registry.claim_explicit(spent, purpose="confirmation", command="validate",
                                     reuse=True)
    assert reused.reused and reused.explicit and reused.spent_by["index"] == 0
    assert "REUSED a bank spent by ratchet" in reused.text()
    fresh = registry.claim_explicit(7, purpose="confirmation", command="validate")
    assert fresh.base_seed == 7 and not fresh.reused
    with pytest.raises(BankSpentError):
        registry.claim_explicit(7, purpose="confirmation", command="validate")
    # a fresh claim never lands on a seed to avoid (the run's decision bank)
    avoided = registry.claim(purpose="confirmation", command="x", avoid={fresh_seed(3)})
    assert avoided.base_seed == fresh_seed(4)  # refused claims took no number; #3 is skipped
    assert registry.claims()[3]["skipped"] and registry.spender(fresh_seed(3)) is None


CLAIMER = textwrap.dedent("""
    import sys
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from tuner.studies.banks import BankRegistry
    registry = BankRegistry(sys.argv[1])
    print(" ".join(str(registry.claim(purpose="confirmation", command=sys.argv[2]).base_seed)
                   for _ in range(int(sys.argv[3]))))
""")


@pytest.fixture
def sqlite_storage(tmp_path) -> str:
    return storage_url(tmp_path)


@pytest.mark.parametrize("backend", ["sqlite_storage", "pg_storage", "journal_storage"])
def test_concurrent_claims_on_one_storage_never_share_a_seed(backend, request):
    """Two processes claim at once: the storage numbers the claims, so seeds never repeat."""
    storage = request.getfixturevalue(backend)
    BankRegistry(storage)  # the study exists before the race (creating it races too, elsewhere)
    runs = [subprocess.Popen([sys.executable, "-c", CLAIMER, storage, f"p{i}", "5"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    seeds = [int(s) for out, _err in outputs for s in out.split()]
    assert sorted(seeds) == [fresh_seed(k) for k in range(10)]  # ten claims, ten banks


# ------------------------------------------------------------------------- the ratchet, faked


def fake_scores(monkeypatch):
    """Every scenario scores 0.5 plus each non-incumbent value's effect (plus a fixed offset)."""
    def evaluate(values, seeds):
        gain = sum(EFFECTS[c.name] for c, v in values.items() if v == VALUES.get(c.name))
        return Evaluation(tuple(ScenarioResult(label=s.label, ndcg=0.5 + gain
                                               + 0.001 * (s.seed_id % 7), spearman=0.0, top=(),
                                               seconds=0.0) for s in seeds))

    monkeypatch.setattr(comparison, "evaluate_values", evaluate)
    monkeypatch.setattr(comparison, "prefetch", lambda requests: None)  # faked above


@pytest.fixture
def faked(monkeypatch):
    """Search, screen, confirmation and gate faked: every constant passes its screen and is
    accepted at look 1 with LOOK scenarios per family; the banks each confirmation got."""
    seen: list[BankSpec] = []

    def screened(constant, incumbent, s, say):
        proposal = Proposal(constant, dict(incumbent), constant.default(), VALUES[constant.name],
                            False, s.trials)
        stage = StageResult(stage="screen", passed=True, outcome="passed", level=0.1)
        return Screened(proposal, f"fake:{constant.name}", screen=stage)

    def confirmed(items, s, say, bank=None):
        seen.append(bank)
        return {name: StageResult(stage="confirmation", passed=True, outcome="confirmed",
                                  level=0.05, accepted_at=1, mean=0.05,
                                  looks=[{"look": 1, "sizes": {
                                      f: LOOK for f in i.proposal.constant.reached_families}}])
                for name, i in items.items()}

    def recorded(result, constant, item, today):
        return LedgerRecord(constant=constant.name, attr=constant.attr,
                            default=constant.default(), proposal=VALUES[constant.name],
                            decision="ACCEPT", reason="accepted", detail="", train_delta=0.1,
                            validation_delta=0.1, ci_low=0.05, ci_high=0.15, trials=3,
                            validation_scenarios=50, study_name=item.study_name, date=today)

    monkeypatch.setattr(ratchet, "search_and_screen", screened)
    monkeypatch.setattr(ratchet, "confirm_survivors", confirmed)
    monkeypatch.setattr(ratchet, "certify_and_gate", lambda screened, c, s, say, banks=None: {
        name: None for name in screened})
    monkeypatch.setattr(ratchet, "record_from", recorded)
    if hasattr(ratchet, "with_robustness"):  # world variants run popoto: not this file's subject
        monkeypatch.setattr(ratchet, "with_robustness", lambda record, *a, **k: record)
    fake_scores(monkeypatch)
    return seen


def run(storage, constants, *, trials=3, **settings):
    return run_ratchet(constants, CATALOG, settings=RatchetSettings(
        trials=trials, storage=storage, bank=BANK, confirm_size=200, **settings))


def test_two_consecutive_ratchets_confirm_on_different_banks_and_replicate(faked, tmp_path):
    storage = storage_url(tmp_path)
    first = run(storage, [WF])
    second = run(storage, [WF, HOP], trials=4)
    confirm_seeds = [bank.base_seed for bank in faked]
    assert confirm_seeds == [fresh_seed(0), fresh_seed(2)]  # claims 1 and 3: replication
    assert first.banks["replication"]["base_seed"] == fresh_seed(1)
    assert second.banks["confirmation"]["base_seed"] == fresh_seed(2)
    ledger = Ledger(storage=storage, bank_tag=BANK.tag)
    history = [h["confirmation"]["base_seed"] for h in ledger.bank_history()]
    assert history == confirm_seeds  # the ledger shows both seeds
    wf, hop = ledger.get(WF.name), ledger.get(HOP.name)
    assert wf.confirmation_bank["base_seed"] == fresh_seed(2)
    # each accepted value re-tested alone on the replication bank, sized like its look
    assert wf.replication["bank"] == f"b{fresh_seed(3)}n200"
    # planned at least REPLICATION_FLOOR per family, at most the bank (200 here); a clear
    # gain is shown (anytime-valid, gain and no harm) at the first look and stops there
    assert wf.replication["planned"] == {f: min(max(LOOK, REPLICATION_FLOOR), 200)
                                         for f in WF.reached_families}
    assert wf.replication["early"] and wf.replication["n"] == 50 * len(WF.reached_families)
    assert wf.replication["replicated"] is True
    assert wf.replication["mean"] == pytest.approx(0.2)
    assert wf.replication["ci_low"] <= 0.2 <= wf.replication["ci_high"]
    assert hop.replication["replicated"] is False
    assert "not above 0" in hop.replication["reason"]
    # the joint check runs on the replication bank, over the replicated values only
    joint = ledger.joint()
    assert joint["bank"] == f"b{fresh_seed(3)}n200" and joint["constants"] == {WF.name: 0.3}
    text = summary_text(second)
    assert f"Banks: confirmation bank {fresh_seed(2)} (fresh claim #2), replication bank " \
           f"{fresh_seed(3)} (fresh claim #3)" in text
    assert "NOT REPLICATED -0.010" in text and "replicated +0.200" in text
    assert json.loads(json.dumps(second.to_dict()))["banks"]["replication"]["index"] == 3
    # the confirmation bank is kept on every study that reached it
    # (certify_and_gate is faked here; its user attr is pinned in test_validation)


def test_a_resumed_ratchet_keeps_its_own_bank(faked, tmp_path, monkeypatch):
    storage = storage_url(tmp_path)
    real_joint = ratchet.joint_check

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ratchet, "joint_check", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(storage, [WF], confirmation=BankSpec(size=200, base_seed=4242))
    monkeypatch.setattr(ratchet, "joint_check", real_joint)
    result = run(storage, [WF], confirmation=BankSpec(size=200, base_seed=4242))
    assert [b.base_seed for b in faked] == [4242, 4242]  # not refused, not claimed again
    assert result.banks["confirmation"]["base_seed"] == 4242
    assert len(BankRegistry(storage).claims()) == 2  # one confirmation + one replication claim
    again = run(storage, [WF], confirmation=BankSpec(size=200, base_seed=4242))
    assert again.banks == result.banks and len(faked) == 2  # a finished run: nothing redone
    with pytest.raises(BankSpentError):  # another run asking for the same bank
        run(storage, [WF], trials=5, confirmation=BankSpec(size=200, base_seed=4242))


def test_a_run_on_a_reused_bank_says_so_in_the_ledger_and_summary(faked, tmp_path):
    storage = storage_url(tmp_path)
    spent = BankRegistry(storage).claim(purpose="confirmation", command="validate").base_seed
    result = run(storage, [WF], confirmation=BankSpec(size=200, base_seed=spent),
                 reuse_bank=True)
    record = Ledger(storage=storage, bank_tag=BANK.tag).get("_wf_min_threshold")
    assert record.confirmation_bank["reused"] is True
    assert record.confirmation_bank["spent_by"]["command"] == "validate"
    assert f"{spent} (asked for; REUSED a bank spent by validate, --reuse-bank)" in \
        summary_text(result)


# ------------------------------------------------------------------------- the command line


def test_an_explicitly_spent_bank_exits_2_with_one_line_unless_reused(faked, tmp_path):
    storage = storage_url(tmp_path)
    spent = BankRegistry(storage).claim(purpose="confirmation", command="ratchet").base_seed
    args = ["--storage", storage, "--confirm-base-seed", str(spent), "--bank-size", "20",
            "--held-out", "20", "--confirm-size", "200"]
    for command in (["ratchet", "--constants", "_wf_min_threshold", "--trials", "3"],
                    ["optimize", "--constant", "_wf_min_threshold", "--trials", "3"]):
        refused = CliRunner().invoke(main, [*command, *args])
        assert refused.exit_code == 2, refused.output
        assert refused.output.count("\n") == 1
        assert refused.output.startswith(f"Error: the confirmation bank {spent} is already "
                                         "spent in this storage, by claim #0")
        assert "--reuse-bank" in refused.output
    reused = CliRunner().invoke(main, ["ratchet", "--constants", WF.name, "--trials", "3",
                                       *args, "--reuse-bank", "--json"])
    assert reused.exit_code == 0, reused.output
    banks = json.loads(reused.stdout)["banks"]
    assert banks["confirmation"]["base_seed"] == spent and banks["confirmation"]["reused"]


def test_export_leaves_out_a_value_whose_confirmation_did_not_replicate(faked, tmp_path):
    storage = storage_url(tmp_path)
    run(storage, [WF, HOP])
    out = tmp_path / "p.config"
    args = ["export", "--out", str(out), "--storage", storage, "--bank-size", "20",
            "--format", "config"]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    assert f"Defaults.{WF.attr} = 0.3" in out.read_text() and HOP.attr not in out.read_text()
    assert "NOT EXPORTED decay_per_hop -> 0.6: its confirmation did not replicate on " \
           f"bank b{fresh_seed(1)}n200: mean Δ -0.0100 is not above 0" in done.output
    forced = CliRunner().invoke(main, [*args, "--allow-not-ready", "--json"])
    payload = json.loads(forced.stdout)
    assert payload["exported_anyway"] is True
    assert payload["values"] == {"_wf_min_threshold": 0.3, "decay_per_hop": 0.6}
    assert payload["not_replicated"]["decay_per_hop"]["value"] == 0.6


def test_tuner_check_re_scores_on_the_replication_bank_not_the_confirmation_bank(faked,
                                                                                   tmp_path):
    storage = storage_url(tmp_path)
    run(storage, [WF])
    ledger = Ledger(storage=storage, bank_tag=BANK.tag)
    snapshot = LedgerSnapshot(records=(), joint=ledger.joint(), bank=BANK.tag, source="x")
    assert check_bank(snapshot, seeds=30, base_seed=None).base_seed == fresh_seed(1)
    assert ledger.get("_wf_min_threshold").confirmation_bank["base_seed"] == fresh_seed(0)
