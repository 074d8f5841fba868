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
    unspent_or_fail,
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
                                       judging["confirm_size"],
                                       judging.pop("confirm_base_seed"))
    storage_or_fail(storage)
    unspent_or_fail(storage, confirmation, judging["reuse_bank"])
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
                progress=stage_reporter(not as_json), command="optimize", **judging)
    origin = proposal_origin(summary.best_value, validation) if validation else None
    if as_json:
        emit_json({**summary.to_dict(), "redis": target.description,
                   "validation": validation.to_dict() if validation else None,
                   "proposal_origin": origin})
        return
    from tuner.views.formatting import study_summary_text, validation_text

    click.echo(study_summary_text(summary, redis=target.description))
    if validation:
        click.echo(validation_text(validation))
    if origin:
        click.echo(f"  why        {origin}")


def proposal_origin(best: float | None, result: Any) -> str | None:
    """Why the proposal is not the study's best, rule by rule (None when it is the best).

    The study's best is scored on its own trial's sample only; the proposal is chosen on train
    by re-scoring the top trials on the whole pools, then moved inside the search range (edge
    rule), to a plateau's middle, or away from a cliff (cliff margin).
    """
    from tuner.views.formatting import fmt_value

    proposal = getattr(result, "proposal", None)
    if proposal is None or best is None or proposal == best:
        return None
    candidates = list(getattr(result, "candidates", None) or [])
    rescored = [c for c in candidates if not (c.get("inside") or c.get("plateau"))]
    steps = []
    if rescored:
        top = max(rescored, key=lambda c: c.get("train", float("-inf")))
        if top.get("value") != best:
            steps.append(f"re-scoring the top {len(rescored)} trial values on the whole train "
                         f"pools picked {fmt_value(top['value'])} (top-k re-score)")
    evidence = getattr(result, "evidence", None)
    edge = getattr(evidence, "bound_from", None)
    if edge is not None:
        inside = next((c["value"] for c in candidates if c.get("inside")), None)
        steps.append(f"{fmt_value(edge)} sat on the {getattr(evidence, 'bound', None) or 'search'}"
                     f" edge of the search range, so the best value inside it"
                     + (f", {fmt_value(inside)}," if inside is not None else "")
                     + " was taken (edge rule)")
    plateau = next((c["value"] for c in candidates if c.get("plateau")), None)
    if plateau is not None:
        steps.append(f"train is flat around it: the plateau's middle {fmt_value(plateau)} "
                     "(plateau rule)")
    margin = getattr(result, "margin_from", None)
    if margin is not None:
        steps.append(f"{fmt_value(margin)} sat next to a cliff on train: moved away to "
                     f"{fmt_value(proposal)} (cliff margin)")
    reasons = "; then ".join(steps) or "chosen on the whole train pools, not the trial samples"
    return (f"proposal {fmt_value(proposal)}, not the study's best {fmt_value(best)}: "
            f"{reasons}")


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
                            seed=seed, batch=batch, bank=bank, baseline=incumbent,
                            prefetch_queued=False)
    if as_json:
        emit_json({**summary.to_dict(), "redis": target.description})
    else:
        click.echo(f"worker done: {summary.study_name} holds {summary.trials_completed} "
                   f"complete trials of {trials} ({summary.seconds:.1f} s here)")


def validate_and_record(constant: Constant, *, storage: str, study_name: str | None, seed: int,
                        batch: int, bank: BankSpec, confirmation: BankSpec | None,
                        incumbent: dict[Constant, float], top: int, min_improvement: float,
                        alpha: float = DEFAULT_ALPHA, screen_alpha: float,
                        harm_margin: float, confirm_size: int | None = None,
                        reuse_bank: bool = False, command: str = "validate",
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
                            screen_alpha=screen_alpha, rules=rules, progress=progress,
                            reuse_bank=reuse_bank, command=command,
                            **({"confirm_size": confirm_size} if confirm_size else {}))
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
                                       judging["confirm_size"],
                                       judging.pop("confirm_base_seed"))
    name = study_name or study_name_for(constant, bank, incumbent)
    storage_or_fail(storage)
    unspent_or_fail(storage, confirmation, judging["reuse_bank"])
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
