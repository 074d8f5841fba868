"""``tuner check``'s rules on hand-made evidence, its budget and its refusals of bad input.

The check on real popoto (a ratchet's ledger, a checkout, a planted regression) is
``tests/test_maintainers_loop.py``; here each verdict rule is pinned on comparisons built by
hand, so a rule that stopped breaking (or started breaking) claims fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuner.catalog import load_catalog
from tuner.decisions import check
from tuner.decisions.check import Claim, claim_of, judge_accepted, judge_certified, judge_inert
from tuner.decisions.comparison import PairedComparison, compare_deltas
from tuner.decisions.ledger_file import LedgerSnapshot
from tuner.evaluation.engine import BankSpec

CATALOG = load_catalog()
WILSON = CATALOG.resolve("WILSON_CI_THRESHOLD")
DECAY = CATALOG.resolve("decay_rate")


def comparison(**family_means: float) -> PairedComparison:
    """Deltas per family (three scenarios each, all equal to the family's mean)."""
    return compare_deltas({f: {f"{f}:{i}": m for i in range(3)}
                           for f, m in family_means.items()})


def accepted_claim(**then: float) -> Claim:
    return Claim("decay_rate", "accepted", 0.1, (0.3,), tuple(then), then=then,
                 label="accepted 0.3 over 0.1")


def test_an_accepted_value_that_still_wins_everywhere_holds():
    finding = judge_accepted(accepted_claim(decay=0.05, cyclic=0.02),
                             {0.3: comparison(decay=0.04, cyclic=0.01)}, 0.02)
    assert finding.holds and finding.family == "cyclic"


def test_an_accepted_value_losing_by_the_margin_in_one_family_breaks_naming_it():
    finding = judge_accepted(accepted_claim(decay=0.05, cyclic=0.02),
                             {0.3: comparison(decay=0.09, cyclic=-0.02)}, 0.02)
    assert not finding.holds
    assert (finding.family, finding.now, finding.ledger) == ("cyclic", -0.02, 0.02)
    assert finding.change == pytest.approx(-0.04)
    assert finding.summary == ("now loses -0.0200 to 0.1 in cyclic (ledger +0.0200, change "
                               "-0.0400): beyond the no-harm margin of 0.02")


def test_a_small_family_loss_is_tolerated_but_no_overall_gain_breaks():
    small = judge_accepted(accepted_claim(decay=0.05, cyclic=0.02),
                           {0.3: comparison(decay=0.03, cyclic=-0.019)}, 0.02)
    assert small.holds
    flat = judge_accepted(accepted_claim(decay=0.05, cyclic=0.02),
                          {0.3: comparison(decay=0.01, cyclic=-0.01)}, 0.02)
    assert not flat.holds and flat.summary.startswith("no longer beats 0.1: overall +0.0000")


def test_a_certificate_breaks_only_beyond_its_bound_plus_the_tolerance():
    claim = Claim("WILSON_CI_THRESHOLD", "certified", 0.6, (0.5, 0.7), ("policy_cache",),
                  bounds=(0.01, 0.03), label="certified 0.6 (bound +0.0300)")
    inside = judge_certified(claim, {0.5: comparison(policy_cache=0.029),
                                     0.7: comparison(policy_cache=0.049)}, 0.02)
    assert inside.holds
    outside = judge_certified(claim, {0.5: comparison(policy_cache=0.031),
                                      0.7: comparison(policy_cache=0.049)}, 0.02)
    assert not outside.holds and outside.family == "policy_cache"
    assert outside.ledger == 0.01 and outside.change == pytest.approx(0.021)
    assert outside.summary.startswith("0.5 now beats 0.6 by +0.0310, above the certificate's "
                                      "bound +0.0100 by 0.0210")


def test_an_inert_constant_breaks_when_a_family_moves_by_the_tolerance():
    claim = Claim("CHI_SQUARED_P_THRESHOLD", "inert", 0.05, (0.001, 0.2), ("policy_cache",))
    still = judge_inert(claim, {0.001: comparison(policy_cache=0.0),
                                0.2: comparison(policy_cache=0.0)}, 0.02)
    assert still.holds and still.summary == "still inert: 0.001, 0.2 change no scenario"
    slight = judge_inert(claim, {0.001: comparison(policy_cache=0.0),
                                 0.2: comparison(policy_cache=-0.01)}, 0.02)
    assert slight.holds and "3 scenario(s) changed" in slight.summary
    moved = judge_inert(claim, {0.001: comparison(policy_cache=0.0),
                                0.2: comparison(policy_cache=-0.02)}, 0.02)
    assert not moved.holds and moved.family == "policy_cache" and moved.now == -0.02


def record(**fields) -> dict:
    return {"constant": "decay_rate", "attr": "DECAY_RATE", "default": 0.1, "proposal": 0.3,
            "decision": "ACCEPT", "reason": "accepted",
            "extra": {"families": {"decay": 0.05, "cyclic": 0.02}}, **fields}


def test_claims_read_older_and_later_ledgers():
    joint = {"alone": {"decay_rate": {"families": {"decay": 0.04, "cyclic": 0.03}}}}
    accepted = claim_of(record(), DECAY, joint)
    assert (accepted.kind, accepted.reference, accepted.values) == ("accepted", 0.1, (0.3,))
    assert accepted.families == ("decay", "cyclic")
    assert accepted.then == {"decay": 0.04, "cyclic": 0.03}  # the confirmation bank's figures
    against_incumbent = claim_of(record(incumbent=0.2), DECAY, {})
    assert against_incumbent.reference == 0.2 and against_incumbent.then == {
        "decay": 0.05, "cyclic": 0.02}
    rejected = claim_of(record(decision="REJECT", reason="not significant"), DECAY, {})
    assert rejected.kind == "stands" and rejected.values == ()
    inert = claim_of(record(decision="REJECT", reason="no sensitivity", extra={}), DECAY, {})
    assert inert.kind == "inert" and inert.values == (0.01, 2.0)
    assert inert.families == DECAY.reached_families
    collapsed = claim_of(record(decision="REJECT", reason="no sensitivity", certificate={
        "collapsed": True, "values": [{"value": 0.5}], "families": ["decay"]}), DECAY, {})
    assert (collapsed.kind, collapsed.values, collapsed.families) == ("inert", (0.5,), ("decay",))


def test_a_long_certificate_is_checked_at_its_values_nearest_to_winning():
    values = [{"value": v, "mean": -0.1, "bound": b} for v, b in
              [(0.02, 0.001), (0.05, 0.02), (0.2, 0.004), (0.5, 0.03), (1.0, 0.01), (2.0, 0.0)]]
    certified = record(decision="REJECT", reason="not significant", certificate={
        "bound": 0.03, "values": values, "families": ["decay"]})
    claim = claim_of(certified, DECAY, {}, certificate_values=3)
    assert (claim.kind, claim.values, claim.bounds) == ("certified", (0.5, 0.05, 1.0),
                                                        (0.03, 0.02, 0.01))


def test_the_budget_is_the_seeds_per_family_of_the_confirmation_bank(monkeypatch):
    """Only the ledger's values are scored, on --seeds scenarios of each claimed family."""
    asked = []

    def fake(candidate, reference, seeds_by_family):
        asked.append((dict(candidate), dict(reference),
                      {f: [s.label for s in v] for f, v in seeds_by_family.items()}))
        return comparison(**{f: 0.01 for f in seeds_by_family})

    monkeypatch.setattr(check, "compare_values", fake)
    snapshot = LedgerSnapshot(records=(record(),), joint={"bank": "b7n50"}, bank="b1n10",
                              source="ledger.json")
    result = check.run_check(snapshot, CATALOG, seeds=4)
    assert result.ok and result.bank == "b7" and result.scenario_runs == 2 * 2 * 4
    ((candidate, reference, seeds),) = asked
    assert candidate == {DECAY: 0.3} and reference == {DECAY: 0.1}
    assert seeds == {f: [s.label for s in BankSpec(size=4, base_seed=7).bank(f)]
                     for f in ("decay", "cyclic")}


def test_a_value_listed_twice_in_a_certificate_is_checked_once_at_its_loosest_bound():
    """A held-out proposal that is also a grid value (issue 23: 0.6837 of
    ACTED_CONFIDENCE_SIGNAL) used to leave one comparison for two bounds and crash."""
    acted = CATALOG.resolve("ACTED_CONFIDENCE_SIGNAL")
    values = [{"value": 0.5, "mean": -0.03, "bound": 0.004},
              {"value": 0.6837, "mean": -0.012, "bound": 0.011},
              {"value": 0.6837, "mean": -0.009, "bound": 0.019}]
    certified = record(constant="ACTED_CONFIDENCE_SIGNAL", default=0.9, decision="REJECT",
                       reason="not significant", certificate={
                           "bound": 0.019, "values": values, "families": ["confidence"]})
    claim = claim_of(certified, acted, {})
    assert (claim.values, claim.bounds) == ((0.6837, 0.5), (0.019, 0.004))
    finding = judge_certified(claim, {0.6837: comparison(confidence=0.03),
                                      0.5: comparison(confidence=0.0)}, 0.02)
    assert finding.holds and finding.ledger == 0.019


def test_int_values_that_round_alike_are_one_value_and_the_reference_is_not_probed():
    events = CATALOG.resolve("MIN_EVENTS_FOR_CRYSTALLIZATION")
    certified = record(constant="MIN_EVENTS_FOR_CRYSTALLIZATION", default=3, decision="REJECT",
                       reason="not significant", certificate={"bound": 0.01, "values": [
                           {"value": 4.0, "bound": 0.002}, {"value": 4, "bound": 0.008},
                           {"value": 7, "bound": float("inf")}, {"value": None}]})
    claim = claim_of(certified, events, {})
    assert (claim.values, claim.bounds) == ((7.0, 4.0), (float("inf"), 0.008))
    unbounded = judge_certified(claim, {7.0: comparison(policy_cache=0.5),
                                        4.0: comparison(policy_cache=0.0)}, 0.02)
    assert unbounded.holds and "bound +0.0080" in unbounded.summary
    collapsed = record(constant="MIN_EVENTS_FOR_CRYSTALLIZATION", default=3, decision="REJECT",
                       reason="no sensitivity", certificate={"collapsed": True, "values": [
                           {"value": 1}, {"value": 3.0}, {"value": 1.0}, {"value": 10}]})
    assert claim_of(collapsed, events, {}).values == (1.0, 10.0)


def test_check_exits_0_on_a_full_run_ledger_with_every_awkward_record(run, monkeypatch):
    """End to end on real popoto (3 seeds per family, a few seconds): a repeated value, an int
    constant, a collapsed study, zero-variance and unbounded points, keys of later tuners."""
    monkeypatch.setenv("TUNER_RESULT_CACHE", "off")
    ledger = Path(__file__).parent / "data" / "check-ledger.json"
    result = run("check", "--ledger", str(ledger), "--seeds", "3", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("## tuner check: all 4 claim(s) hold\n")
    rows = {line.split(" | ")[0].strip("| "): line for line in result.output.splitlines()
            if line.startswith("| ") and "constant" not in line}
    assert set(rows) == {"ACTED_CONFIDENCE_SIGNAL", "MIN_EVENTS_FOR_CRYSTALLIZATION",
                         "CHI_SQUARED_P_THRESHOLD", "WILSON_CI_THRESHOLD", "TD_GAMMA"}
    assert "certified 3 (bound none (too few scenarios))" in rows["MIN_EVENTS_FOR_CRYSTALLIZATION"]
    assert "| inert at 0.05 | holds |" in rows["CHI_SQUARED_P_THRESHOLD"]


# -- bad input: exit 2 with one line -------------------------------------------------------------

def write(tmp_path, payload) -> str:
    path = tmp_path / "ledger.json"
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return str(path)


VALID = {"format": "tuner-ledger", "version": 1, "records": [record()], "joint": {}}


@pytest.mark.parametrize("payload, message", [
    ("{not json", "is not JSON (Expecting property name enclosed in double quotes, line 1)"),
    ({"records": []}, 'is not a tuner ledger file (expected a JSON object with "format": '
                      '"tuner-ledger", from `tuner export --format ledger`)'),
    ({**VALID, "version": 9}, "is a tuner ledger of version 9; this tuner reads version 1"),
    ({**VALID, "records": [{"constant": "decay_rate"}]}, '"records" must be a list of decision '
                                                         "records"),
    ({**VALID, "records": []}, "holds no decision records; nothing to check"),
    ({**VALID, "records": [record(constant="nope")]}, "names 'nope', which the catalog"),
])
def test_bad_ledger_files_exit_2_with_one_line(run, tmp_path, payload, message):
    result = run("check", "--ledger", write(tmp_path, payload))
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_missing_ledger_file_or_storage_ledger_exits_2(run, tmp_path):
    missing = run("check", "--ledger", str(tmp_path / "none.json"))
    assert missing.exit_code == 2
    assert missing.output == (f"Error: no ledger file at {tmp_path / 'none.json'}; write one "
                              "with `tuner export --format ledger --out FILE`\n")
    database = tmp_path / "none.db"
    no_db = run("check", "--storage", f"sqlite:///{database}")
    assert no_db.output == f"Error: no study database at {database}; run `tuner ratchet` first\n"
    assert not database.exists()


def test_an_unknown_constant_in_constants_exits_2(run, tmp_path):
    result = run("check", "--ledger", write(tmp_path, VALID), "--constants", "decay_rat")
    assert result.exit_code == 2 and "unknown constant 'decay_rat'" in result.output


def test_json_of_an_unbounded_certificate_is_strict_json():
    finding = check.Finding("MIN_EVENTS_FOR_CRYSTALLIZATION", "certified", "certified 3", True,
                            "inside", ledger=float("inf"), scores={"7": {"overall": 0.01}})
    result = check.CheckResult([finding], "b1", 3, 0.02, "ledger.json", {})
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["findings"][0]["ledger"] is None and data["ok"] is True
