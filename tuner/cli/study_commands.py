"""Commands around one study: optimize, worker (join from anywhere), validate."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from tuner.catalog import Constant
from tuner.cli.app import main
from tuner.cli.common import (
    banks_or_fail,
    emit_json,
    fail,
    gate_options,
    incumbent_options,
    incumbent_or_fail,
    interruptible,
    load_catalog_or_fail,
    progress_reporter,
    redis_or_fail,
    resolve_or_fail,
    stage_reporter,
    storage_or_fail,
    study_options,
    workers_option,
)
from tuner.defaults import (
    DEFAULT_ALPHA,
    DEFAULT_TRIALS,
)

if TYPE_CHECKING:
    from tuner.decisions.validation import ValidationResult
    from tuner.evaluation.engine import BankSpec


@main.command("optimize")
@click.option("--constant", "constant_name", required=True, help="Constant name, any spelling.")
@click.option("--trials", type=click.IntRange(min=1), default=DEFAULT_TRIALS, show_default=True,
              help="Completed trials the study should hold (a rerun continues up to this).")
@click.option("--study-name", default=None, help="Default: derived from constant and bank.")
@click.option("--no-validate", is_flag=True, help="Skip validation and the gate at the end.")
@study_options
@gate_options
@incumbent_options
@workers_option
def optimize_command(
    constant_name: str, trials: int, study_name: str | None, no_validate: bool, seed: int,
    batch: int, storage: str, redis_url: str | None, bank_size: int, base_seed: int,
    catalog_path: str | None, as_json: bool, incumbent_pairs: tuple[str, ...],
    incumbent_file: str | None, **judging: Any,
) -> None:
    """Run (or resume) the Optuna study of one constant, then validate and gate it."""
    from tuner.studies.study import run_study

    catalog = load_catalog_or_fail(catalog_path)
    constant = resolve_or_fail(catalog, constant_name)
    incumbent = incumbent_or_fail(catalog, incumbent_pairs, incumbent_file)
    bank, confirmation = banks_or_fail(bank_size, base_seed, judging.pop("held_out"),
                                       judging.pop("confirm_size"),
                                       judging.pop("confirm_base_seed"))
    storage_or_fail(storage)
    on_trial, close_bar = progress_reporter(trials, sys.stderr.isatty() and not as_json)
    validation = None
    with redis_or_fail(redis_url) as target, interruptible(storage, close_bar):
        summary = run_study(
            constant, trials=trials, storage=storage, study_name=study_name, seed=seed,
            batch=batch, bank=bank, baseline=incumbent, on_trial=on_trial,
        )
        close_bar()
        if not no_validate:
            validation = validate_and_record(
                constant, storage=storage, study_name=summary.study_name, seed=seed,
                batch=batch, bank=bank, confirmation=confirmation, incumbent=incumbent,
                progress=stage_reporter(not as_json), **judging)
    if as_json:
        emit_json({**summary.to_dict(), "redis": target.description,
                   "validation": validation.to_dict() if validation else None})
        return
    from tuner.views.formatting import study_summary_text, validation_text

    click.echo(study_summary_text(summary, redis=target.description))
    if validation:
        click.echo(validation_text(validation))


@main.command("worker")
@click.option("--constant", "constant_name", required=True, help="Constant name, any spelling.")
@click.option("--trials", type=click.IntRange(min=1), default=DEFAULT_TRIALS, show_default=True,
              help="Complete trials the study should hold, counted over every worker.")
@click.option("--study-name", default=None, help="Default: derived from constant and bank.")
@study_options
@incumbent_options
@workers_option
def worker_command(
    constant_name: str, trials: int, study_name: str | None, seed: int, batch: int,
    storage: str, redis_url: str | None, bank_size: int, base_seed: int,
    catalog_path: str | None, as_json: bool, incumbent_pairs: tuple[str, ...],
    incumbent_file: str | None,
) -> None:
    """Join a study from any machine that reaches its storage, until it holds --trials.

    Start the same command (same constant, seed, batch and bank) on as many machines as you
    like; each scores scenarios on its own Redis; then run `tuner validate` once.
    """
    from tuner.evaluation.engine import BankSpec
    from tuner.studies.study import run_study

    catalog = load_catalog_or_fail(catalog_path)
    constant = resolve_or_fail(catalog, constant_name)
    incumbent = incumbent_or_fail(catalog, incumbent_pairs, incumbent_file)
    storage_or_fail(storage)
    bank = BankSpec(size=bank_size, base_seed=base_seed)
    with redis_or_fail(redis_url) as target, interruptible(storage):
        summary = run_study(constant, trials=trials, storage=storage, study_name=study_name,
                            seed=seed, batch=batch, bank=bank, baseline=incumbent)
    if as_json:
        emit_json({**summary.to_dict(), "redis": target.description})
    else:
        click.echo(f"worker done: {summary.study_name} holds {summary.trials_completed} "
                   f"complete trials of {trials} ({summary.seconds:.1f} s here)")


def validate_and_record(constant: Constant, *, storage: str, study_name: str | None, seed: int,
                        batch: int, bank: BankSpec, confirmation: BankSpec,
                        incumbent: dict[Constant, float], top: int, min_improvement: float,
                        alpha: float = DEFAULT_ALPHA, screen_alpha: float,
                        harm_margin: float,
                        progress: Callable[[str], None] | None = None) -> ValidationResult:
    from tuner.decisions.stages import StageRules
    from tuner.decisions.validation import record_validation, validate_study
    from tuner.studies.study import open_study

    study = open_study(constant, storage=storage, study_name=study_name, seed=seed,
                       batch=batch, bank=bank, baseline=incumbent)
    rules = StageRules(min_improvement=min_improvement, harm_margin=harm_margin)
    result = validate_study(study, constant, bank=bank, incumbent=incumbent,
                            confirmation=confirmation, top=top,
                            min_improvement=min_improvement, alpha=alpha,
                            screen_alpha=screen_alpha, rules=rules, progress=progress)
    record_validation(study, result)
    return result


@main.command("validate")
@click.option("--constant", "constant_name", required=True, help="Constant name, any spelling.")
@click.option("--study-name", default=None, help="Default: derived from constant and bank.")
@study_options
@gate_options
@incumbent_options
@workers_option
def validate_command(
    constant_name: str, study_name: str | None, seed: int, batch: int, storage: str,
    redis_url: str | None, bank_size: int, base_seed: int, catalog_path: str | None,
    as_json: bool, incumbent_pairs: tuple[str, ...], incumbent_file: str | None,
    **judging: Any,
) -> None:
    """Validate a finished study on held-out seeds, confirm and gate its proposal."""
    import optuna

    from tuner.studies.study import study_name_for

    catalog = load_catalog_or_fail(catalog_path)
    constant = resolve_or_fail(catalog, constant_name)
    incumbent = incumbent_or_fail(catalog, incumbent_pairs, incumbent_file)
    bank, confirmation = banks_or_fail(bank_size, base_seed, judging.pop("held_out"),
                                       judging.pop("confirm_size"),
                                       judging.pop("confirm_base_seed"))
    name = study_name or study_name_for(constant, bank, incumbent)
    storage_or_fail(storage)
    from tuner.studies.storage import open_storage

    if name not in optuna.get_all_study_names(storage=open_storage(storage)):
        fail(f"no study {name!r} in {storage}; run `tuner optimize --constant "
             f"{constant.name}` first")
    with redis_or_fail(redis_url), interruptible(storage):
        result = validate_and_record(constant, storage=storage, study_name=name, seed=seed,
                                     batch=batch, bank=bank, confirmation=confirmation,
                                     incumbent=incumbent,
                                     progress=stage_reporter(not as_json), **judging)
    if as_json:
        emit_json(result.to_dict())
    else:
        from tuner.views.formatting import validation_text

        click.echo(validation_text(result))
