"""Run the ``tuner`` CLI with the test-only families registered, for tests that need a fresh
interpreter (another popoto on PYTHONPATH): ``python tests/tuner_with_planted.py ARGS``."""

from planted import PlantedDecayFamily, RandomEffectFamily

from scenarios.families import FAMILIES
from tuner.cli import main

FAMILIES[PlantedDecayFamily.name] = PlantedDecayFamily
FAMILIES[RandomEffectFamily.name] = RandomEffectFamily

if __name__ == "__main__":
    main()
