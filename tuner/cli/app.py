"""The ``tuner`` command group; each command module registers itself on it.

No command prints a traceback: bad input is a usage error (one line, exit 2, raised by the
commands), and anything unexpected becomes one line on stderr with exit 1 and a hint to rerun
with ``tuner --debug`` (or ``TUNER_DEBUG=1``), which lets the traceback through.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

# Commands that never touch Optuna: they stay fast (``tests/test_cli.py`` checks what they load).
LIGHT_COMMANDS = frozenset({"constants", "list", "worlds"})
EXIT_UNEXPECTED = 1
DEBUG_ENV = "TUNER_DEBUG"


class TunerGroup(click.Group):
    """A group that turns an unexpected exception into one line (see the module docstring)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort,
                KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place every unexpected error lands
            if debugging(ctx):
                raise
            click.echo(unexpected_line(exc, ctx), err=True)
            sys.exit(EXIT_UNEXPECTED)


def debugging(ctx: click.Context) -> bool:
    if ctx.meta.get("tuner.debug"):
        return True
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def unexpected_line(exc: BaseException, ctx: click.Context) -> str:
    """``Error: unexpected ValueError: ... (a bug in tuner; rerun as `tuner --debug check ...`
    or with TUNER_DEBUG=1 to see the traceback)``, passwords masked, on one line."""
    from tuner.infra.urls import mask_secrets

    message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    what = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    command = ctx.invoked_subcommand or "COMMAND"
    return mask_secrets(f"Error: unexpected {what} (rerun as `tuner --debug {command} ...` or "
                        f"with {DEBUG_ENV}=1 to see the traceback)")


def _remember_debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    ctx.meta["tuner.debug"] = value
    return value


@click.group(cls=TunerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tuner")
@click.option("--debug", is_flag=True, expose_value=False, is_eager=True,
              callback=_remember_debug,
              help=f"Show the traceback of an unexpected error (also {DEBUG_ENV}=1).")
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
