"""Studies: the Optuna side of one constant: the paired objective, running and resuming a
study, storages (heartbeats, study-wide totals) and the contract checked on every resume."""
