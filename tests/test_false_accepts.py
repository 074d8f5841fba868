"""The false-accept rate, measured on independent draws: a constant with no true effect is not
accepted, and an inert one never is.

The random-effect constant reshuffles rankings by its value, so its studies never collapse and
its trials' values differ; only the statistics stand between it and an ACCEPT. Every run draws
its own decision bank and its own confirmation bank (fresh base seeds), so the 20 runs are 20
independent chances to be fooled, not one shared default result looked at 20 times.
(``benchmarks/bench_power.py`` runs the same at production settings, 40+ times.)
"""

import pytest

from tuner.catalog import load_catalog
from tuner.decisions.validation import validate_study
from tuner.evaluation.engine import BankSpec
from tuner.studies.study import open_study, run_study

pytestmark = pytest.mark.usefixtures("popoto_redis")

RUNS = range(20)


def null_run(constant, storage, run):
    bank = BankSpec(size=60, base_seed=1000 + run, held_out=200)
    confirmation = BankSpec(size=200, base_seed=5000 + run)
    name = f"{constant.name}-{run}"
    run_study(constant, trials=10, storage=storage, seed=run, batch=10, bank=bank,
              study_name=name)
    study = open_study(constant, storage=storage, seed=run, batch=10, bank=bank,
                       study_name=name)
    return validate_study(study, constant, bank=bank, confirmation=confirmation)


def test_a_random_effect_is_not_accepted_in_twenty_independent_runs(random_effect,
                                                                    catalog_path, tmp_path):
    constant = load_catalog(catalog_path).resolve("random_knob")
    storage = f"sqlite:///{tmp_path / 'random.db'}"
    results = [null_run(constant, storage, run) for run in RUNS]
    assert not any(r.collapsed for r in results), "the random effect must change rankings"
    screened = [r for r in results if r.screen is not None]
    assert len(screened) >= 5, "too few proposals reached the screen to measure anything"
    accepted = [r.proposal for r in results if r.decision.accept]
    assert accepted == [], f"accepted {len(accepted)} of 20 no-effect proposals: {accepted}"
    # every refusal says how much any value could gain; the noise puts it near zero
    assert all(r.certificate is not None for r in results)
