"""tuner: Optuna studies over popoto's behavioural constants, judged on held-out scenarios."""

__version__ = "0.1.0"
