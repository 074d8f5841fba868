"""The ratchet and what follows it: run the ratchet, export its accepted values."""

from __future__ import annotations

import click

from tuner.catalog import UnknownConstantError
from tuner.cli.app import main
from tuner.cli.common import (
    catalog_option,
    emit_json,
    fail,
    gate_options,
    interruptible,
    json_option,
    load_catalog_or_fail,
    note_url,
    redis_or_fail,
    storage_or_fail,
    study_options,
    workers_option,
)
from tuner.defaults import (
    CONFIRMATION_BASE_SEED,
    CONFIRMATION_SIZE,
    DEFAULT_BANK_SIZE,
    DEFAULT_BASE_SEED,
    DEFAULT_RATCHET_TRIALS,
    DEFAULT_STORAGE,
)
from tuner.infra.urls import mask_secrets, mask_url


@main.command("ratchet")
@click.option("--tier", type=click.Choice(["1", "2", "3", "all"]), default="all",
              show_default=True, help="Which tier's constants to run, in catalog order.")
@click.option("--constants", "names", default=None,
              help="Comma-separated constants instead of a tier, in this order.")
@click.option("--trials", type=click.IntRange(min=1), default=DEFAULT_RATCHET_TRIALS,
              show_default=True, help="Completed trials per constant.")
@click.option("--confirm-base-seed", type=int, default=CONFIRMATION_BASE_SEED,
              show_default=True,
              help="Base seed of the confirmation bank (must differ from --base-seed).")
@click.option("--confirm-size", type=click.IntRange(min=10), default=CONFIRMATION_SIZE,
              show_default=True, help="Seeds per family in the confirmation bank.")
@study_options
@gate_options
@workers_option
def ratchet_command(
    tier: str, names: str | None, trials: int, confirm_base_seed: int, confirm_size: int,
    seed: int, batch: int, storage: str, redis_url: str | None, bank_size: int,
    base_seed: int, catalog_path: str | None, as_json: bool, top: int,
    min_improvement: float, alpha: float,
) -> None:
    """optimize -> validate -> gate for each constant; accepted values carry forward."""
    import time

    from tuner.decisions.ledger import LedgerRecord
    from tuner.decisions.ratchet import run_ratchet, select_constants
    from tuner.decisions.ratchet import summary_text as ratchet_summary_text
    from tuner.evaluation.engine import BankSpec

    catalog = load_catalog_or_fail(catalog_path)
    wanted = [n.strip() for n in names.split(",") if n.strip()] if names else []
    if names is not None and not wanted:
        fail(f"--constants {names!r} names no constant; give comma-separated names")
    try:
        constants = select_constants(catalog, tier=tier, names=wanted)
    except UnknownConstantError as exc:
        fail(str(exc))
    bank = BankSpec(size=bank_size, base_seed=base_seed)
    if confirm_base_seed == base_seed:
        fail(f"--confirm-base-seed must differ from --base-seed (both {base_seed}): the "
             "confirmation bank must be one no decision has looked at")
    confirmation = BankSpec(size=confirm_size, base_seed=confirm_base_seed)
    storage_or_fail(storage)
    started = time.perf_counter()

    def on_record(record: LedgerRecord, resumed: bool) -> None:
        if not as_json:
            state = "already decided" if resumed else f"{record.trials} trials"
            click.echo(f"  {record.constant}: {record.decision} ({record.reason}; {state})",
                       err=True)

    with redis_or_fail(redis_url), interruptible(storage):
        result = run_ratchet(constants, catalog, trials=trials, storage=storage, seed=seed,
                             batch=batch, bank=bank, confirmation=confirmation,
                             min_improvement=min_improvement, alpha=alpha, top=top,
                             on_record=on_record)
    result.seconds = round(time.perf_counter() - started, 1)
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(ratchet_summary_text(result))
        click.echo(f"({len(result.records)} constants, {trials} trials each, "
                   f"{result.seconds:.0f} s)")


@main.command("export")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="File to write (an empty patch when nothing was accepted).")
@click.option("--format", "output_format", type=click.Choice(["patch", "config", "ledger"]),
              default="patch", show_default=True,
              help="patch: a diff of popoto's source; config: start-up Python lines for a "
                   "deployment; ledger: the ledger as JSON for `tuner check`.")
@click.option("--popoto-src", default=None, type=click.Path(exists=True),
              help="popoto checkout, or its fields/constants.py (default: the installed one).")
@click.option("--layout", type=click.Choice(["repo", "wheel"]), default="repo",
              show_default=True,
              help="Paths for a checkout (src/popoto/...) or an installed wheel (popoto/...).")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, envvar="TUNER_STORAGE",
              callback=note_url, help="Optuna storage URL holding the ratchet ledger.")
@click.option("--artifact-dir", default=None,
              help="Artifact store for the dashboard (default: artifacts/ next to a SQLite DB, "
                   "else studies/artifacts).")
@click.option("--bank-size", type=click.IntRange(min=10), default=DEFAULT_BANK_SIZE,
              show_default=True, help="Seeds per family of the ledger's scenario bank.")
@click.option("--base-seed", type=int, default=DEFAULT_BASE_SEED, show_default=True,
              help="Base seed of the ledger's scenario bank.")
@click.option("--allow-not-ready", is_flag=True,
              help="Export even when no joint check confirmed the accepted set as it stands, "
                   "or it marked the set not ready.")
@catalog_option
@json_option
def export_command(
    out_path: str, output_format: str, popoto_src: str | None, layout: str, storage: str,
    artifact_dir: str | None, bank_size: int, base_seed: int, allow_not_ready: bool,
    catalog_path: str | None, as_json: bool,
) -> None:
    """Write the ledger's accepted values: a patch of popoto, start-up lines, or the ledger."""
    import datetime
    from pathlib import Path

    from tuner.evaluation.engine import BankSpec
    from tuner.export.proposals import ExportError, outcome_text, run_export

    catalog = load_catalog_or_fail(catalog_path)
    try:
        outcome = run_export(
            out=Path(out_path), storage=storage, bank_tag=BankSpec(bank_size, base_seed).tag,
            popoto_src=popoto_src, layout=layout, artifact_dir=artifact_dir,
            today=datetime.date.today().isoformat(), allow_not_ready=allow_not_ready,
            output_format=output_format, catalog=catalog, where=mask_url(storage),
        )
    except ExportError as exc:
        fail(str(exc))
        raise
    if as_json:
        emit_json(outcome.to_dict())
    else:
        click.echo(mask_secrets(outcome_text(outcome, storage)))
