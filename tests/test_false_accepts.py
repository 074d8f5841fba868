"""The gate's false-accept rate, measured: a constant with no true effect is (almost) never
accepted, and an inert one never is.

The random-effect constant reshuffles rankings by its value, so its studies never collapse and
its trials' values differ; only the statistics stand between it and an ACCEPT.
"""

import pytest

from tuner.catalog import load_catalog
from tuner.decisions.validation import validate_study
from tuner.evaluation.engine import BankSpec
from tuner.studies.study import open_study, run_study

pytestmark = pytest.mark.usefixtures("popoto_redis")

STUDY_SEEDS = range(20)
BANK = BankSpec(size=60)  # 30 train and 30 held-out scenarios per family


def study_and_validate(constant, storage, seed):
    name = f"{constant.name}-{seed}"
    run_study(constant, trials=12, storage=storage, seed=seed, batch=10, bank=BANK,
              study_name=name)
    study = open_study(constant, storage=storage, seed=seed, batch=10, bank=BANK,
                       study_name=name)
    return validate_study(study, constant, bank=BANK)


def test_a_random_effect_is_accepted_at_most_once_in_twenty_study_seeds(random_effect,
                                                                        catalog_path, tmp_path):
    constant = load_catalog(catalog_path).resolve("random_knob")
    storage = f"sqlite:///{tmp_path / 'random.db'}"
    results = [study_and_validate(constant, storage, seed) for seed in STUDY_SEEDS]
    assert not any(r.collapsed for r in results), "the random effect must change rankings"
    validated = [r for r in results if r.validation is not None]
    assert len(validated) >= 5, "too few proposals reached validation to measure anything"
    accepted = [r.proposal for r in results if r.decision.accept]
    assert len(accepted) <= 1, f"accepted {len(accepted)} of 20 no-effect proposals: {accepted}"
