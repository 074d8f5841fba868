"""Evaluation: applying values to popoto (overrides) and scoring scenarios under them: the
memo and disk result cache, worker processes, the code fingerprint, and the reach probe."""
