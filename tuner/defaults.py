"""Every default a command line shows, in one module that imports nothing.

``tuner --help`` must start fast: option declarations read their defaults from here, not from
the modules that do the work (those pull in Optuna, numpy and popoto). The working modules
import these same names, so each default has one home.
"""

DEFAULT_STORAGE = "sqlite:///studies/tuner.db"
DEFAULT_RESULT_CACHE = "studies/results.sqlite"  # scenario results kept between commands
DEFAULT_TRIALS = 40
DEFAULT_RATCHET_TRIALS = 30
DEFAULT_BATCH = 20
DEFAULT_SEED = 0
DEFAULT_BANK_SIZE = 100
DEFAULT_BASE_SEED = 20261123  # scenarios.seeds.DEFAULT_BASE_SEED (a test pins the equality)
DEFAULT_VALIDATION_FRACTION = 0.5  # 50 train / 50 held-out per family: enough to see 0.01
CONFIRMATION_BASE_SEED = 20270101  # a bank no decision ever looks at: the final joint check
CONFIRMATION_SIZE = 50
DEFAULT_ALPHA = 0.05
DEFAULT_MIN_IMPROVEMENT = 0.01
DEFAULT_TOP = 3
