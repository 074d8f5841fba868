"""The ``tuner`` command group; each command module registers itself on it."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tuner")
def main() -> None:
    """Tune popoto's behavioural constants with Optuna on real popoto over real Redis."""
