"""The catalog: 26 Tier 1-3 names, name resolution, user additions, validation errors."""

import pytest

from tuner.catalog import CatalogError, UnknownConstantError, load_catalog

POPOTO_HARNESS_NAMES = {
    "decay_rate", "initial_confidence", "_wf_min_threshold", "ACTED_CONFIDENCE_SIGNAL",
    "CONTRADICTED_CONFIDENCE_SIGNAL", "ACTED_CYCLE_STRENGTHEN_FACTOR",
    "DISMISSED_CYCLE_WEAKEN_FACTOR", "CONTRADICTED_CYCLE_WEAKEN_FACTOR", "decay_factor",
    "initial_weight", "delta", "decay_per_hop", "COMPETITIVE_SUPPRESSION_SIGNAL",
    "DEFAULT_SURFACING_THRESHOLD", "MIN_EVENTS_FOR_CRYSTALLIZATION", "TD_ALPHA", "TD_GAMMA",
    "WILSON_CI_THRESHOLD", "AUTO_DISCHARGE_CONFIDENCE_THRESHOLD", "CHI_SQUARED_P_THRESHOLD",
    "INITIAL_CYCLE_AMPLITUDE", "PL_CONFIDENCE_ERROR_THRESHOLD", "PL_CONFIDENCE_LOW_SIGNAL",
    "PL_AUTO_RESOLVE_ACTED", "PL_AUTO_RESOLVE_DISMISSED", "PL_AUTO_RESOLVE_CONTRADICTED",
}


def test_catalog_lists_all_26_harness_names(catalog):
    assert {c.name for c in catalog} == POPOTO_HARNESS_NAMES
    assert sorted({c.tier for c in catalog}) == [1, 2, 3]
    assert len(catalog.by_tier(1)) == 5


def test_defaults_come_from_installed_popoto_and_match_the_record(catalog):
    from popoto.fields.constants import Defaults

    assert catalog.resolve("decay_rate").default() == Defaults.DECAY_RATE
    assert [c.default_mismatch() for c in catalog if c.default_mismatch()] == []


def test_delta_reads_the_frozen_argument_default(catalog):
    delta = catalog.resolve("delta")
    assert delta.attr is None and delta.default() == 0.05


def test_dead_constant_is_marked_with_a_reason(catalog):
    chi = catalog.resolve("chi_squared_p_threshold")
    assert chi.reach == "unreachable"
    assert "no code in popoto 1.10.1 reads" in chi.reason


@pytest.mark.parametrize("spelling,name", [
    ("decay_rate", "decay_rate"), ("DECAY_RATE", "decay_rate"), ("Decay_Rate", "decay_rate"),
    ("WF_MIN_THRESHOLD", "_wf_min_threshold"), ("wf_min_threshold", "_wf_min_threshold"),
    ("co_occurrence_initial_weight", "initial_weight"), ("td_alpha", "TD_ALPHA"),
])
def test_names_resolve_case_insensitively_from_either_form(catalog, spelling, name):
    assert catalog.resolve(spelling).name == name


def test_unknown_name_suggests_close_ones(catalog):
    with pytest.raises(UnknownConstantError) as info:
        catalog.resolve("decay_rat")
    assert str(info.value) == (
        "unknown constant 'decay_rat'; did you mean decay_rate, decay_factor, decay_per_hop? "
        "(`tuner constants` lists all 26)"
    )


def test_user_can_add_any_defaults_attribute(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        '[constants.confidence_modulation]\nattr = "DECAY_CONFIDENCE_MODULATION_STRENGTH"\n'
        'tier = 4\nfamily = "decay"\nlow = 0.0\nhigh = 1.0\n'
    )
    mine = load_catalog(path)
    constant = mine.resolve("DECAY_CONFIDENCE_MODULATION_STRENGTH")
    assert constant.name == "confidence_modulation" and constant.default() == 0.5


@pytest.mark.parametrize("body,message", [
    ('[constants.x]\nattr = "DECAY_RATE"\nfamily = "decay"\nlow = 1.0\nhigh = 0.5\n',
     "low < high is required"),
    ('[constants.x]\nattr = "DECAY_RATE"\nfamily = "decay"\nlow = 0.0\nhigh = 1.0\nlog = true\n',
     "log=true needs low > 0"),
    ('[constants.x]\nfamily = "decay"\nlow = 0.0\nhigh = 1.0\n', "one of attr"),
    ('[constants.x]\nattr = "DECAY_RATE"\nlow = 0.0\nhigh = 1.0\n', "lacks required key"),
    ('[constants.x]\nattr = "DECAY_RATE"\nfamily = "decay"\nlow = 0.0\nhigh = 1.0\n'
     'reach = "unreachable"\n', "needs a reason"),
    ("not toml [", "is not valid TOML"),
])
def test_malformed_catalogs_say_which_rule_broke(tmp_path, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(CatalogError, match=message):
        load_catalog(path)


def test_missing_catalog_file(tmp_path):
    with pytest.raises(CatalogError, match="catalog file not found"):
        load_catalog(tmp_path / "nope.toml")


X = '[constants.x]\nattr = "DECAY_RATE"\nfamily = "decay"\n'


@pytest.mark.parametrize("body,message", [
    ('[decay_rate]\nattr = "DECAY_RATE"\nfamily = "decay"\nlow = 0.01\nhigh = 2.0\n',
     r"unknown top-level table \[decay_rate\]; a constant is written \[constants.decay_rate\]"),
    ("", "the catalog holds no constants"),
    ("[constants]\n", "the catalog holds no constants"),
    ('title = "mine"\n' + X + "low = 0.0\nhigh = 1.0\n", "unknown top-level key 'title'"),
    (X + "low = 0.5\nhigh = 1.0\n", r"popoto's default 0.1 lies outside the range \[0.5, 1.0\]"),
    (X + "low = 0.0\nhigh = inf\n", "high must be a finite number, got inf"),
    (X + "low = nan\nhigh = 1.0\n", "low < high is required, got low=nan"),
    (X + 'low = "small"\nhigh = 1.0\n', "has a value of the wrong type"),
    (X.replace('"decay"', '"decy"') + "low = 0.0\nhigh = 1.0\n",
     "unknown scenario family 'decy' \\(known: co_occurrence, "),
    (X + 'low = 0.0\nhigh = 1.0\nfamilies = ["decay", "nope"]\n', "unknown scenario family 'nope'"),
    (X.replace("DECAY_RATE", "DECAY_RAT") + "low = 0.0\nhigh = 1.0\n",
     "popoto's Defaults has no attribute 'DECAY_RAT'"),
    (X + 'low = 0.0\nhigh = 1.0\nupper_bound_attr = "NOPE"\n', "no attribute 'NOPE'"),
    (X + 'low = 0.0\nhigh = 1.0\nreciprocal_bound_attr = "NOPE2"\n', "no attribute 'NOPE2'"),
    ('[constants.x]\nargument = "popoto.nope:X.y:z"\nfamily = "decay"\nlow = 0.0\nhigh = 1.0\n',
     "argument 'popoto.nope:X.y:z' does not resolve"),
    (X + 'low = 0.0\nhigh = 1.0\nmode = "Q"\n', "mode must be one of"),
])
def test_catalogs_written_slightly_wrong_are_refused_naming_the_table(tmp_path, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(CatalogError, match=message):
        load_catalog(path)


def test_keys_the_catalog_may_grow_are_accepted(tmp_path):
    """Optional keys inside a constant table (families, meaning interval) never break loading."""
    path = tmp_path / "newer.toml"
    path.write_text(X + 'low = 0.01\nhigh = 1.0\nfamilies = ["decay", "cyclic"]\n'
                    'meaning_low = 0.0\nmeaning_high = 5.0\nmeaning = "a rate"\n'
                    'reciprocal_bound_attr = "CO_OCCURRENCE_WEIGHT_CAP"\n')
    assert load_catalog(path).resolve("x").family == "decay"
