"""The ``tuner`` command group; each command module registers itself on it."""

from __future__ import annotations

import click

# Commands that never touch Optuna: they stay fast (``tests/test_cli.py`` checks what they load).
LIGHT_COMMANDS = frozenset({"constants", "list"})


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tuner")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Tune popoto's behavioural constants with Optuna on real popoto over real Redis."""
    if ctx.invoked_subcommand not in LIGHT_COMMANDS:
        quiet_optuna()


def quiet_optuna() -> None:
    """Optuna's INFO lines ("Using an existing study ...") would interleave with every
    command's own output; each command says what happened itself, so Optuna says only
    warnings, whatever the command."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
