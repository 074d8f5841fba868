"""The ratchet and what follows it: run the ratchet, export its accepted values."""

from __future__ import annotations

import click

from tuner.catalog import UnknownConstantError
from tuner.cli.app import main
from tuner.cli.common import (
    banks_or_fail,
    catalog_option,
    emit_json,
    fail,
    gate_options,
    incumbent_options,
    incumbent_or_fail,
    interruptible,
    json_option,
    ledger_tag_of,
    load_catalog_or_fail,
    note_url,
    redis_or_fail,
    robustness_option,
    stage_reporter,
    storage_or_fail,
    study_options,
    workers_option,
)
from tuner.defaults import (
    DEFAULT_BANK_SIZE,
    DEFAULT_BASE_SEED,
    DEFAULT_RATCHET_TRIALS,
    DEFAULT_STORAGE,
)
from tuner.infra.urls import mask_secrets, mask_url


@main.command("ratchet")
@click.option("--tier", type=click.Choice(["1", "2", "3", "all"]), default="all",
              show_default=True, help="Which tier's constants to run.")
@click.option("--constants", "names", default=None,
              help="Comma-separated constants instead of a tier.")
@click.option("--trials", type=click.IntRange(min=1), default=DEFAULT_RATCHET_TRIALS,
              show_default=True, help="Completed trials per constant.")
@study_options
@gate_options
@incumbent_options
@workers_option
@robustness_option
def ratchet_command(
    tier: str, names: str | None, trials: int, seed: int, batch: int, storage: str,
    redis_url: str | None, bank_size: int, base_seed: int, catalog_path: str | None,
    as_json: bool, incumbent_pairs: tuple[str, ...], incumbent_file: str | None,
    top: int, min_improvement: float, alpha: float, screen_alpha: float, harm_margin: float,
    held_out: int, confirm_size: int, confirm_base_seed: int | None, reuse_bank: bool,
    robustness: bool = True,
) -> None:
    """Search, screen, confirm and gate every constant; certify the ones not accepted."""
    import time

    from tuner.decisions.ledger import LedgerRecord
    from tuner.decisions.ratchet import RatchetSettings, run_ratchet, select_constants
    from tuner.decisions.ratchet import summary_text as ratchet_summary_text
    from tuner.decisions.stages import StageRules

    catalog = load_catalog_or_fail(catalog_path)
    wanted = [n.strip() for n in names.split(",") if n.strip()] if names else []
    if names is not None and not wanted:
        fail(f"--constants {names!r} names no constant; give comma-separated names")
    try:
        constants = select_constants(catalog, tier=tier, names=wanted)
    except UnknownConstantError as exc:
        fail(str(exc))
    incumbent = incumbent_or_fail(catalog, incumbent_pairs, incumbent_file)
    bank, confirmation = banks_or_fail(bank_size, base_seed, held_out, confirm_size,
                                       confirm_base_seed)
    storage_or_fail(storage)
    settings = RatchetSettings(
        trials=trials, storage=storage, seed=seed, batch=batch, bank=bank,
        confirmation=confirmation, confirm_size=confirm_size, reuse_bank=reuse_bank,
        min_improvement=min_improvement, alpha=alpha, screen_alpha=screen_alpha, top=top,
        rules=StageRules(min_improvement=min_improvement, harm_margin=harm_margin),
        robustness=robustness)
    started = time.perf_counter()

    def on_record(record: LedgerRecord, resumed: bool) -> None:
        if not as_json:
            state = "already decided" if resumed else f"{record.trials} trials"
            click.echo(f"  {record.constant}: {record.decision} ({record.reason}; {state})",
                       err=True)

    with redis_or_fail(redis_url), interruptible(storage):
        result = run_ratchet(constants, catalog, settings=settings, incumbent=incumbent,
                             on_record=on_record, progress=stage_reporter(not as_json))
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
@click.option("--format", "output_format",
              type=click.Choice(["patch", "config", "ledger", "pr"]),
              default="patch", show_default=True,
              help="patch: a diff of popoto's source; config: start-up Python lines for a "
                   "deployment; ledger: the ledger as JSON for `tuner check`; pr: the "
                   "pull-request description (Markdown) to paste with the patch.")
@click.option("--all-tests", is_flag=True,
              help="With --popoto-src CHECKOUT: run all of popoto's tests before and after the "
                   "patch, not only those naming a changed constant or asserting its old value.")
@click.option("--test-timeout", type=click.FloatRange(min=1.0), default=600.0,
              show_default=True, help="Seconds each run of popoto's tests may take.")
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
@incumbent_options
def export_command(
    out_path: str, output_format: str, all_tests: bool, test_timeout: float,
    popoto_src: str | None, layout: str, storage: str,
    artifact_dir: str | None, bank_size: int, base_seed: int, allow_not_ready: bool,
    catalog_path: str | None, as_json: bool, incumbent_pairs: tuple[str, ...],
    incumbent_file: str | None,
) -> None:
    """Write the ledger's accepted values: a patch of popoto, start-up lines, or the ledger."""
    import datetime
    from pathlib import Path

    from tuner.export.proposals import ExportError, outcome_text, run_export

    catalog = load_catalog_or_fail(catalog_path)
    try:
        outcome = run_export(
            out=Path(out_path), storage=storage,
            bank_tag=ledger_tag_of(catalog, bank_size, base_seed, incumbent_pairs,
                                   incumbent_file),
            popoto_src=popoto_src, layout=layout, artifact_dir=artifact_dir,
            today=datetime.date.today().isoformat(), allow_not_ready=allow_not_ready,
            output_format=output_format, catalog=catalog, where=mask_url(storage),
            all_tests=all_tests, test_timeout=test_timeout,
        )
    except ExportError as exc:
        fail(str(exc))
        raise
    if as_json:
        emit_json(outcome.to_dict())
    else:
        click.echo(mask_secrets(outcome_text(outcome, storage)))
