"""A scenario that raises reaches the decision: a crash on one side is never read as a gain.

The crashy family ranks the same under every value, but the incumbent (0.2) raises on one
scenario in four; any value above 0.3 does not. Scored as 0, those crashes would look like a
clear gain for the other value: the engine must refuse it with its own reason and the ledger
must name the errors.
"""

import pytest

from tuner.catalog import load_catalog
from tuner.decisions.gate import Reason
from tuner.decisions.ratchet import RatchetSettings, run_ratchet
from tuner.evaluation.engine import BankSpec

pytestmark = pytest.mark.usefixtures("popoto_redis")


@pytest.fixture
def crashy_catalog(monkeypatch, tmp_path):
    from planted import CRASHY_CATALOG, CrashyFamily

    from scenarios.families import FAMILIES

    monkeypatch.setitem(FAMILIES, CrashyFamily.name, CrashyFamily)
    path = tmp_path / "catalog.toml"
    path.write_text(CRASHY_CATALOG)
    return load_catalog(path)


def test_a_value_whose_incumbent_crashes_is_never_accepted_and_the_ledger_names_it(
        crashy_catalog, tmp_path):
    constant = crashy_catalog.resolve("crash_knob")
    settings = RatchetSettings(trials=6, storage=f"sqlite:///{tmp_path / 'crash.db'}", batch=8,
                               bank=BankSpec(size=40, base_seed=3, held_out=200),
                               confirmation=BankSpec(size=200, base_seed=9))
    result = run_ratchet([constant], crashy_catalog, settings=settings)
    record = next(r for r in result.records if r.constant == "crash_knob")
    assert record.decision == "REJECT"
    assert record.reason == Reason.SCENARIO_ERRORS.value, record.detail
    assert "planted crash at crash_knob=0.2" in record.detail
    errors = record.extra["errors"]["screen"]
    assert errors["incumbent"] and not errors["candidate"]
    assert all("planted crash" in e for e in errors["incumbent"].values())
