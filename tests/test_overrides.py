"""Overrides reach every read mode and always restore, even when the block raises."""

import pytest

from tuner.catalog import load_catalog
from tuner.evaluation.overrides import OverrideError, applied_constants


def test_call_time_constant_is_set_and_restored(catalog):
    from popoto.fields.constants import Defaults

    wf = catalog.resolve("WF_MIN_THRESHOLD")
    with applied_constants({wf: 0.42}):
        assert Defaults.WF_MIN_THRESHOLD == 0.42
    assert Defaults.WF_MIN_THRESHOLD == 0.1


def test_module_aliases_are_patched_and_restored_on_error(catalog):
    import popoto.fields.observation as observation
    from popoto.fields.constants import Defaults

    acted = catalog.resolve("ACTED_CONFIDENCE_SIGNAL")
    with pytest.raises(RuntimeError), applied_constants({acted: 0.3}):
        assert observation.ACTED_CONFIDENCE_SIGNAL == 0.3
        assert Defaults.ACTED_CONFIDENCE_SIGNAL == 0.3
        raise RuntimeError("trial blew up")
    assert observation.ACTED_CONFIDENCE_SIGNAL == 0.9
    assert Defaults.ACTED_CONFIDENCE_SIGNAL == 0.9


def test_constructor_captured_constant_reaches_fields_built_inside(catalog):
    from popoto.fields.decaying_sorted_field import DecayingSortedField

    with applied_constants({catalog.resolve("decay_rate"): 0.7}):
        inside = DecayingSortedField()
    assert inside.decay_rate == 0.7
    assert DecayingSortedField().decay_rate == 0.1


def test_argument_only_constant_is_handed_over_not_set(catalog):
    delta = catalog.resolve("delta")
    with applied_constants({delta: 0.2}) as arguments:
        assert arguments == {"delta": 0.2}


def test_int_constants_are_coerced(catalog):
    from popoto.fields.constants import Defaults

    events = catalog.resolve("MIN_EVENTS_FOR_CRYSTALLIZATION")
    with applied_constants({events: 4.6}):
        assert Defaults.MIN_EVENTS_FOR_CRYSTALLIZATION == 5


def test_values_popoto_would_reject_are_refused(catalog):
    weight = catalog.resolve("initial_weight")
    with pytest.raises(OverrideError, match="must be <= CO_OCCURRENCE_WEIGHT_CAP"), \
            applied_constants({weight: 1.5}):
        pass


def test_nothing_is_left_patched_after_every_catalog_constant(catalog):
    from popoto.fields.constants import Defaults

    before = {c.attr: getattr(Defaults, c.attr) for c in load_catalog() if c.attr}
    with applied_constants({c: c.low for c in catalog}):
        pass
    assert {a: getattr(Defaults, a) for a in before} == before
