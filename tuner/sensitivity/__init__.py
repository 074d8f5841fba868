"""Sensitivity: every constant on a fixed grid beside popoto's own sweep (``tuner
sensitivity``): popoto's grids, the spread and its bootstrap CI, the verdict and its table."""
