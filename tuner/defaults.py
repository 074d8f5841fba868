"""Every default a command line shows, in one module that imports nothing.

``tuner --help`` must start fast: option declarations read their defaults from here, not from
the modules that do the work (those pull in Optuna, numpy and popoto). The working modules
import these same names, so each default has one home.
"""

DEFAULT_STORAGE = "sqlite:///studies/tuner.db"
DEFAULT_RESULT_CACHE = "studies/results.sqlite"  # scenario results kept between commands
DEFAULT_TRIALS = 40
DEFAULT_RATCHET_TRIALS = 11  # incumbent + 4 grid values + 6 TPE trials per constant
DEFAULT_BATCH = 20
DEFAULT_SEED = 0
DEFAULT_BANK_SIZE = 100
DEFAULT_BASE_SEED = 20261123  # scenarios.seeds.DEFAULT_BASE_SEED (a test pins the equality)
DEFAULT_VALIDATION_FRACTION = 0.5  # 50 train / 50 held-out per family: enough to see 0.01
# Held-out scenarios per family a sequential validation may walk (looks at 50, 62, 78, ...,
# each 1.25 times the last; the anytime tests make looks free). docs/statistics.md has the
# power arithmetic of the betting test at these sizes.
DEFAULT_HELD_OUT = 800
CONFIRMATION_BASE_SEED = 20270101  # a bank no search or screen ever looks at: confirmation
# The confirmation pool: +0.03 at the noisiest measured SD (0.19) is confirmed at alpha / 9
# in 91% of draws by 1,200 scenarios (71% by 800); a clear effect stops far earlier.
CONFIRMATION_SIZE = 1200
ROBUSTNESS_BASE_SEED = 20270303  # world variants of accepted values: a bank no decision saw
DEFAULT_ALPHA = 0.05  # family-wise false-accept rate of a run (Holm over confirmations)
DEFAULT_SCREEN_ALPHA = 0.10  # the screen is a filter: its false passes cost looks, not accepts
DEFAULT_MIN_IMPROVEMENT = 0.005  # below this a change is not worth a patch
DEFAULT_HARM_MARGIN = 0.02  # every family must show it loses less than this (non-inferiority)
DEFAULT_TARGET_EFFECT = 0.02  # the effect the design is powered for (80%)
DEFAULT_CERTIFICATE_CONFIDENCE = 0.95
DEFAULT_TOP = 2  # the grid values are exact on train already; re-score the best two
