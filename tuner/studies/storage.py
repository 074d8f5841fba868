"""Where studies live, and how several processes share one: heartbeats, retries, exact totals.

- An RDB URL (``sqlite:///``, ``postgresql://``, ``mysql://``) opens Optuna's ``RDBStorage`` with
  heartbeats: a worker that dies mid-trial (SIGKILL, lost machine) stops beating, and after the
  grace period Optuna fails its trial and ``RetryHeartbeatStaleTrialCallback`` queues the same
  parameters again for whichever worker asks next.
- A ``redis://`` URL opens Optuna's ``JournalStorage`` over ``JournalRedisBackend``, which has no
  heartbeat in Optuna 5. So tuner also keeps its own on every storage (a ``tuner_heartbeat``
  system attr each running trial refreshes) and retries trials whose beat went stale the same
  way. ``redis://host:6379/2?prefix=NAME`` keeps the journal under keys ``NAME:*`` only, so
  several journals (users, test runs) share one database without touching each other's keys.
  On an RDB it also catches a RUNNING trial that never beat at all (a process that died
  before its first beat), which Optuna's heartbeat never fails.
- ``--trials`` is a study-wide total: a trial created after the total is already taken (by
  trials completed or running anywhere) is pruned before it evaluates anything, so workers on
  many machines finish with exactly that many complete trials.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import warnings
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import optuna
from optuna.trial import TrialState

HEARTBEAT_ENV = "TUNER_HEARTBEAT"  # "interval,grace" in seconds (tests shorten them)
DEFAULT_HEARTBEAT = (10, 30)
MAX_RETRY = 3
JOURNAL_SCHEMES = ("redis://", "rediss://")
RDB_SCHEMES = ("sqlite:", "postgresql", "mysql")


def heartbeat_settings() -> tuple[int, int]:
    """(interval, grace) in whole seconds, from ``$TUNER_HEARTBEAT`` or the defaults."""
    raw = os.environ.get(HEARTBEAT_ENV)
    if not raw:
        return DEFAULT_HEARTBEAT
    interval, _, grace = raw.partition(",")
    every = max(1, int(interval))
    return every, max(every + 1, int(grace or 3 * every))


def is_journal(url: str) -> bool:
    return url.startswith(JOURNAL_SCHEMES)


@functools.lru_cache(maxsize=16)
def open_storage(url: str, *, heartbeat: bool = True) -> optuna.storages.BaseStorage:
    """One storage object per URL per process (its engine and connections are reused).

    ``heartbeat=False`` for readers and for ask/tell users (grid sweeps, reports), which
    Optuna's RDB heartbeat does not serve.
    """
    interval, grace = heartbeat_settings()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if is_journal(url):
            return _journal_storage(url)
        if url.startswith(RDB_SCHEMES) and heartbeat:
            return _rdb_storage(url, interval, grace)
        return optuna.storages.get_storage(url)


def _journal_storage(url: str) -> optuna.storages.BaseStorage:
    """Optuna's journal over Redis, under the URL's ``?prefix=`` (redis-py must not see it)."""
    import redis
    from optuna.storages.journal import JournalRedisBackend, JournalStorage

    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = "".join(value for key, value in query if key == "prefix")
    plain = urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in query
                                                        if k != "prefix"])))
    redis.Redis.from_url(plain, socket_connect_timeout=3).ping()  # fail here, not later
    return JournalStorage(JournalRedisBackend(plain, prefix=prefix))


def _rdb_storage(url: str, interval: int, grace: int) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage with heartbeats; a schema race between workers is retried.

    Workers started together on a fresh database all try to create Optuna's tables; the
    losers see a duplicate-key or already-exists error, and on a second try the tables are
    there.
    """
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(
                url, heartbeat_interval=interval, grace_period=grace,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=MAX_RETRY),
            )
        except (IntegrityError, ProgrammingError):
            if attempt == 2:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def reap_stale_trials(study: optuna.Study) -> None:
    """Fail (and queue again) the trials of workers that stopped beating."""
    storage = study._storage
    if isinstance(storage, optuna.storages.RDBStorage) and storage.is_heartbeat_enabled():
        optuna.storages.fail_stale_trials(study)
    _reap_by_tuner_heartbeat(study)


def _reap_by_tuner_heartbeat(study: optuna.Study) -> None:
    _interval, grace = heartbeat_settings()
    now = time.time()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        beat = trial.system_attrs.get("tuner_heartbeat")
        started = trial.datetime_start.timestamp() if trial.datetime_start else now
        if now - (beat if beat is not None else started) <= grace:
            continue
        if not study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
            continue  # another worker reaped it first
        retries = int(trial.user_attrs.get("retries", 0))
        if retries < MAX_RETRY:
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number,
                                                          "retries": retries + 1})


class TrialHeartbeat:
    """Refresh a running trial's ``tuner_heartbeat`` every interval until the trial ends."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial) -> None:
        self.study, self.trial = study, trial
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        interval, _grace = heartbeat_settings()
        while True:
            self.study._storage.set_trial_system_attr(self.trial._trial_id, "tuner_heartbeat",
                                                      time.time())
            if self._stop.wait(interval):
                return

    def __enter__(self) -> TrialHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def taken_before(study: optuna.Study, number: int) -> int:
    """Trials that hold a slot of the study-wide total ahead of trial ``number``."""
    live = (TrialState.COMPLETE, TrialState.RUNNING)
    return sum(1 for t in study.get_trials(deepcopy=False, states=live) if t.number < number)


def within_total(objective: Callable[[optuna.Trial], float], study: optuna.Study,
                 total: int, started: list[int] | None = None,
                 ) -> Callable[[optuna.Trial], float]:
    """Wrap ``objective``: prune a trial born after the total was taken; beat while it runs.
    Each trial's id is appended to ``started`` (the trials this process ran)."""

    def run(trial: optuna.Trial) -> float:
        if started is not None:
            started.append(trial._trial_id)
        with TrialHeartbeat(study, trial):  # beat first: counting the others can be slow
            if taken_before(study, trial.number) >= total:
                raise optuna.TrialPruned(f"the study already holds {total} trials")
            return objective(trial)

    return run


def run_to_total(study: optuna.Study, objective: Callable[[optuna.Trial], float], total: int,
                 *, callbacks: list | None = None, poll: float = 1.0) -> None:
    """Work on ``study`` until it holds ``total`` complete trials, whoever completes them.

    While other workers' running trials fill the remaining slots, wait (reaping any that stop
    beating, whose slots then open again) instead of starting surplus trials.
    """
    started: list[int] = []
    wrapped = within_total(objective, study, total, started)
    try:
        _optimize_to_total(study, wrapped, total, callbacks=callbacks, poll=poll)
    except KeyboardInterrupt:
        fail_if_running(study, started)
        raise


def fail_if_running(study: optuna.Study, trial_ids: list[int]) -> None:
    """Fail this process's trials an interrupt left RUNNING.

    Optuna fails a trial interrupted inside the objective, but not one interrupted while its
    result is being stored (``tell``): that one would stay RUNNING until a heartbeat reaps it,
    holding a slot of the total.
    """
    for trial_id in trial_ids:
        try:
            if study._storage.get_trial(trial_id).state == TrialState.RUNNING:
                study._storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except (optuna.exceptions.UpdateFinishedTrialError, KeyError):
            continue  # finished (or reaped) meanwhile: nothing to fail


def _optimize_to_total(study: optuna.Study, wrapped: Callable[[optuna.Trial], float],
                       total: int, *, callbacks: list | None, poll: float) -> None:
    while True:
        reap_stale_trials(study)
        done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        if done >= total:
            return
        running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
        if done + running >= total:
            time.sleep(poll)
            continue
        try:  # one trial per ask, the total checked before each: a worker never asks for a
            # trial the others already filled (at most one pruned trial per worker, from a race)
            study.optimize(wrapped, n_trials=1, callbacks=callbacks, catch=())
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker reaped our trial as stale and queued it again: go on
