"""Sweeps: a grid of values scored on the same train scenarios (``tuner sweep``): the grid
plan, running it as a study, the report (curve, cliffs) and its text view."""
