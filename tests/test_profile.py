"""Deployment profiles (issue 24): family weights and world knobs from ``--profile FILE``.

The default profile changes nothing, bit for bit; weights make the objective a weighted mean and
a zero-weight family unscored; knobs reach the worlds through the bank; a study is never resumed
under another profile.
"""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from tuner.catalog import load_catalog
from tuner.catalog.profile import (
    DEFAULT_PROFILE,
    Profile,
    active_profile,
    family_weights,
    load_profile,
    profile_scope,
    weighted_mean,
)
from tuner.decisions.ratchet import RatchetSettings, run_ratchet
from tuner.evaluation.engine import BankSpec, evaluate_values
from tuner.evaluation.result_cache import result_key
from tuner.studies.contract import contract_changes, study_contract
from tuner.studies.objective import ConstantObjective, NoWeightedFamilyError

CATALOG = load_catalog()
CYCLIC_ONLY = CATALOG.resolve("DISMISSED_CYCLE_WEAKEN_FACTOR")
FOUR_FAMILIES = CATALOG.resolve("initial_confidence")  # confidence, context_assembler, cyclic, ...
NO_CYCLIC = "[weights]\ncyclic = 0\n"
KNOB = "[knobs.decay]\nrecency_need_high = 2.0\n"


def write(tmp_path, text: str, name: str = "profile.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_profile_file_is_read_in_canonical_form(tmp_path):
    path = write(tmp_path, "[weights]\ncyclic = 0\ndecay = 1\nwrite_filter = 2.5\n"
                           "[knobs.policy_cache]\nbad_policy_share = 0.1\n"
                           "session_length_max = 30\n")
    profile = load_profile(path)
    assert profile.weights == {"cyclic": 0.0, "write_filter": 2.5}  # weight 1 says nothing
    assert profile.knobs == {"policy_cache": {"bad_policy_share": 0.1}}  # nor a default knob
    assert profile.weight("decay") == 1.0 and profile.weighted(["cyclic", "decay"]) == ("decay",)
    assert profile == Profile({"cyclic": 0, "write_filter": 2.5},
                              {"policy_cache": {"bad_policy_share": 0.1}})
    assert profile.tag.startswith("-p") and len(profile.tag) == 10
    assert "weight cyclic=0" in profile.describe() and path in profile.describe()


def test_the_default_profile_is_empty_and_changes_no_bank(tmp_path):
    explicit = load_profile(write(tmp_path, "[weights]\ndecay = 1\n"
                                            "[knobs.decay]\nrecency_need_high = 1.0\n"))
    assert explicit == DEFAULT_PROFILE == load_profile(None) and explicit.is_default
    assert DEFAULT_PROFILE.tag == "" and DEFAULT_PROFILE.to_dict() == {"weights": {},
                                                                       "knobs": {}}
    assert BankSpec(profile=explicit) == BankSpec() and BankSpec(profile=explicit).tag == \
        BankSpec().tag and "-p" not in BankSpec().tag
    assert BankSpec(size=10, profile=explicit).pools("decay") == BankSpec(size=10).pools("decay")
    assert all(not s.knobs for s in BankSpec(size=10).bank("decay"))


BAD = [
    ("[weights]\ncyclc = 0\n", "unknown family 'cyclc'; did you mean 'cyclic'?"),
    ("[knobs.policy_cache]\nbad_policy_shar = 0.2\n",
     "unknown knob 'bad_policy_shar' for family 'policy_cache'; did you mean 'bad_policy_share'?"),
    ("[weights]\ncyclic = -1\n", "weight of cyclic must be >= 0"),
    ("[weights]\n" + "".join(f"{f} = 0\n" for f in ("co_occurrence", "confidence",
     "context_assembler", "cyclic", "decay", "policy_cache", "prediction_ledger",
     "write_filter")), "every family has weight 0"),
    ("[knobs.policy_cache]\nbad_policy_share = 0.9\n",
     "knob policy_cache.bad_policy_share = 0.9 is outside its range [0.05, 0.5]"),
    ("[weights\ncyclic = 0\n", "is not valid TOML"),
    ("[weight]\ncyclic = 0\n", "unknown section 'weight'"),
    ("[weights]\ncyclic = 'none'\n", "weight of cyclic must be a number"),
    ("[knobs.co_occurrence]\nmax_side_records = 2.5\n",
     "knob co_occurrence.max_side_records takes a whole number, got 2.5"),
    ("[knobs]\ndecay = 1\n", "knobs must be tables [knobs.FAMILY]"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_bad_profile_exits_2_with_one_line(run, tmp_path, text, message):
    result = run("optimize", "--constant", "decay_rate", "--profile", write(tmp_path, text),
                 "--storage", f"sqlite:///{tmp_path / 'never.db'}")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: profile file ") and message in result.output
    assert result.output.count("\n") == 1
    assert not (tmp_path / "never.db").exists()


def test_a_missing_profile_file_exits_2(run, tmp_path):
    result = run("ratchet", "--profile", str(tmp_path / "nope.toml"))
    assert result.exit_code == 2 and "profile file" in result.output and "not found" in \
        result.output


def test_the_active_profile_is_scoped_and_gives_the_weights():
    profile = Profile({"cyclic": 0})
    with profile_scope(profile):
        assert active_profile() is profile and BankSpec().profile is profile
        assert family_weights(["cyclic", "decay"]) == {"cyclic": 0.0, "decay": 1.0}
    assert active_profile() is DEFAULT_PROFILE and BankSpec().profile is DEFAULT_PROFILE


def test_weighted_mean_is_numpy_mean_when_weights_are_equal():
    values = {"a": 0.1, "b": 0.7, "c": 0.3333333333333}
    assert weighted_mean(values, None) == float(np.mean(list(values.values())))
    assert weighted_mean(values, {"a": 1.0, "b": 1.0}) == float(np.mean(list(values.values())))
    assert weighted_mean(values, {"a": 2.0, "b": 0.0, "c": 1.0}) == pytest.approx(
        (2 * 0.1 + 0.3333333333333) / 3)


@pytest.mark.usefixtures("popoto_redis")
def test_objective_values_are_identical_under_the_default_profile_and_weighted_otherwise():
    pools = {f: BankSpec(size=10).pools(f)[0] for f in FOUR_FAMILIES.reached_families}

    def objective(profile: Profile | None) -> ConstantObjective:
        return ConstantObjective(constant=FOUR_FAMILIES, train_pools=pools, study_seed=1,
                                 batch=4, profile=profile)

    plain, default = objective(None).score(0.7, 0), objective(DEFAULT_PROFILE).score(0.7, 0)
    assert plain.value == default.value and plain.raw_mean == default.raw_mean
    # today's formula, exactly: the equal-weight numpy mean over the reached families
    assert plain.value == float(np.mean([plain.baseline_means[f] + plain.family_delta(f)
                                         for f in plain.deltas]))
    # on the whole pools (a grid trial), so dropping a family changes no other's sample
    whole = objective(None).score(0.7, 0, whole=True)
    per_family = {f: whole.baseline_means[f] + whole.family_delta(f) for f in whole.deltas}
    no_cyclic = objective(Profile({"cyclic": 0})).score(0.7, 0, whole=True)
    assert "cyclic" not in no_cyclic.deltas and "cyclic" not in no_cyclic.trial
    assert no_cyclic.value == float(np.mean([v for f, v in per_family.items() if f != "cyclic"]))
    heavy = objective(Profile({"cyclic": 3})).score(0.7, 0, whole=True)
    assert heavy.value == pytest.approx(
        (sum(per_family.values()) + 2 * per_family["cyclic"]) / (len(per_family) + 2))


def test_a_constant_reaching_only_zero_weight_families_is_not_searched():
    with pytest.raises(NoWeightedFamilyError, match="no weighted family"):
        ConstantObjective(constant=CYCLIC_ONLY, train_pools={"cyclic": []}, study_seed=0,
                          profile=Profile({"cyclic": 0}))


def test_optimize_under_a_zero_weight_profile_exits_2_and_creates_no_study(run, tmp_path):
    db = f"sqlite:///{tmp_path / 's.db'}"
    result = run("optimize", "--constant", CYCLIC_ONLY.name, "--storage", db, "--trials", "1",
                 "--no-validate", "--profile", write(tmp_path, NO_CYCLIC))
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: {CYCLIC_ONLY.name}: no weighted family (it "
                                    "reaches cyclic, weighted 0 by the profile weight cyclic=0")
    assert result.output.count("\n") == 1
    assert not optuna.get_all_study_names(db)


def test_the_ratchet_notes_and_skips_a_constant_with_no_weighted_family(popoto_redis, tmp_path):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    settings = RatchetSettings(storage=db, trials=1, bank=BankSpec(size=10, profile=Profile(
        {"cyclic": 0})))
    result = run_ratchet([CYCLIC_ONLY], CATALOG, settings=settings)
    assert result.records == []
    assert any(n.startswith(f"{CYCLIC_ONLY.name}: no weighted family") for n in result.notes)
    ledgers = [n for n in optuna.get_all_study_names(db) if n.startswith("tuner-ratchet-ledger@")]
    assert len(ledgers) == 1 and ledgers[0].endswith(Profile({"cyclic": 0}).tag)
    header = optuna.load_study(study_name=ledgers[0], storage=db).user_attrs["profile"]
    assert header == {"weights": {"cyclic": 0.0}, "knobs": {}}


@pytest.mark.usefixtures("popoto_redis")
def test_knobs_reach_the_worlds_through_the_bank_and_the_cache_key():
    profile = Profile(knobs={"policy_cache": {"bad_policy_share": 0.5}})
    plain, knobbed = BankSpec(size=10), BankSpec(size=10, profile=profile)
    seeds = knobbed.pools("policy_cache")[0]
    assert all(s.knobs == (("bad_policy_share", 0.5),) for s in seeds)
    assert knobbed.tag == plain.tag + profile.tag
    same = [s for s in plain.pools("policy_cache")[0] if s.label in {k.label for k in seeds}]
    key = ("state", ())
    assert {result_key(key, s) for s in same}.isdisjoint(result_key(key, s) for s in seeds)
    scores = evaluate_values({}, seeds[:4]).by_label()
    defaults = evaluate_values({}, [s for s in same if s.label in scores]).by_label()
    assert scores != defaults  # more bad policies: another world, other scores


def test_the_contract_records_a_profile_and_names_its_difference():
    plain = study_contract(FOUR_FAMILIES)
    assert "profile" not in plain  # the default profile: today's contract
    knobbed = study_contract(FOUR_FAMILIES, profile=Profile(
        {"cyclic": 0}, {"cyclic": {"contradiction_rate": 0.4}}))
    assert knobbed["profile"] == {"weights": {"cyclic": 0.0},
                                  "knobs": {"cyclic": {"contradiction_rate": 0.4}}}
    assert contract_changes(plain, knobbed) == [
        "profile weight cyclic 1 -> 0",
        "profile knob cyclic.contradiction_rate 0.7 (default) -> 0.4"]
    assert contract_changes(knobbed, plain)[0] == "profile weight cyclic 0 -> 1"


def test_resuming_a_study_under_another_profile_exits_2_naming_the_difference(run, tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    args = ("optimize", "--constant", "decay_rate", "--storage", db, "--bank-size", "10",
            "--batch", "3", "--trials", "1", "--no-validate")
    assert run(*args).exit_code == 0
    name = "decay_rate@decay-b20261123n10"
    result = run(*args, "--study-name", name, "--profile", write(tmp_path, KNOB))
    assert result.exit_code == 2, result.output
    assert result.output.startswith(
        f"Error: study '{name}' was run under another contract: profile knob "
        "decay.recency_need_high 1 (default) -> 2; ")
    assert result.output.count("\n") == 1
    fresh = run(*args, "--profile", write(tmp_path, KNOB))  # its own study name: a new study
    assert fresh.exit_code == 0, fresh.output
    profile_tag = load_profile(write(tmp_path, KNOB)).tag
    assert f"{name}{profile_tag}" in optuna.get_all_study_names(db)
