"""Many workers on one study: exact study-wide totals, and a SIGKILLed worker's trial retried.

On the machine's real PostgreSQL (Optuna's RDB storage with heartbeats) and real Redis
(Optuna's journal over JournalRedisBackend, with tuner's own heartbeat, under a key prefix of
its own). Each worker is a separate ``tuner worker`` process with its own embedded Redis for
scenarios.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
from conftest import require_server
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[1]
JOURNAL_URL = os.environ.get("TUNER_TEST_JOURNAL_URL", "redis://127.0.0.1:6379/13")
WORKER = ["worker", "--constant", "initial_confidence", "--batch", "4", "--bank-size", "10",
          "--workers", "1"]


def start_worker(storage: str, trials: int, log: Path) -> subprocess.Popen:
    """A worker process; its output goes to ``log`` (a pipe would be held open by anything
    the worker leaves behind when it is killed)."""
    env = {**os.environ, "TUNER_HEARTBEAT": "1,8"}  # generous grace: a busy CI machine
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tuner.cli", *WORKER, "--trials", str(trials),
             "--storage", storage], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def finish(process: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    process.wait(timeout=timeout)
    assert process.returncode == 0, f"worker failed:\n{log.read_text()}"


def the_study(storage: str) -> optuna.Study:
    from tuner.studies.storage import open_storage

    handle = open_storage(storage)
    names = [n for n in optuna.get_all_study_names(storage=handle)]
    assert len(names) == 1, names
    return optuna.load_study(study_name=names[0], storage=handle)


def wait_for_running_trial(storage: str, timeout: float = 120) -> None:
    """Until some trial after the baseline is RUNNING: the moment to kill its worker."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            trials = the_study(storage).get_trials(deepcopy=False)
        except (AssertionError, KeyError, Exception):  # noqa: BLE001 - not created yet
            trials = []
        if any(t.state == TrialState.RUNNING and t.number >= 1 for t in trials):
            return
        time.sleep(0.05)
    pytest.fail("no trial started within the timeout")


def freeze_mid_trial(process: subprocess.Popen, storage: str,
                     timeout: float = 180) -> optuna.trial.FrozenTrial:
    """SIGSTOP ``process`` while it is provably inside a trial's evaluation; return the trial.

    A trial RUNNING with its parameter (suggested before the evaluation) and without
    ``sampled_seeds`` (the first of the nine attrs it records after the evaluation) still has
    several writes and its COMPLETE to send; once the process is stopped
    at most one write already in flight can land, so the trial can no longer finish. Killing
    the process then kills it mid-trial. When the stop lands elsewhere (between trials, or while
    the trial records), the process is continued and the next trial is tried. Trial 1 is never
    the one: its value is the seeded sampler's first draw, which the next worker's sampler
    would draw again, so a retry that lost the parameters would pass unseen.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        wait_for_running_trial(storage)
        os.kill(process.pid, signal.SIGSTOP)
        caught = [t for t in the_study(storage).get_trials(deepcopy=False)
                  if t.state == TrialState.RUNNING and t.number >= 2 and t.params
                  and "sampled_seeds" not in t.user_attrs]
        if caught:
            return caught[0]
        os.kill(process.pid, signal.SIGCONT)
        time.sleep(0.05)
    pytest.fail("never caught a trial mid-evaluation")


@pytest.fixture
def journal_storage():
    """A journal under a prefix of its own: other test runs and users of the same database
    keep their keys, and only this journal's keys are deleted afterwards."""
    import redis

    try:
        client = redis.Redis.from_url(JOURNAL_URL, socket_connect_timeout=3)
        client.ping()
        reachable, why = True, ""
    except Exception as exc:  # noqa: BLE001
        reachable, why = False, str(exc)
    require_server(reachable, f"a real Redis at {JOURNAL_URL}", why)
    prefix = f"tuner-test-{uuid.uuid4().hex}"
    yield f"{JOURNAL_URL}?prefix={prefix}"
    from tuner.studies.storage import open_storage

    open_storage.cache_clear()
    own = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    assert own, "the journal must have been written under its prefix"
    client.delete(*own)
    client.close()


@pytest.mark.parametrize("backend", ["pg_storage", "journal_storage"])
def test_two_workers_finish_exactly_the_requested_total(backend, request, tmp_path):
    """Each worker checks the study-wide total before asking for a trial, so at most one
    empty (pruned) trial per worker remains beside the complete ones (it used to be ~15)."""
    storage = request.getfixturevalue(backend)
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = [start_worker(storage, 16, log) for log in logs]
    for worker, log in zip(workers, logs, strict=True):
        finish(worker, log)
    trials = the_study(storage).get_trials(deepcopy=False)
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 16
    assert not any(t.state == TrialState.RUNNING for t in trials)
    assert sum(t.state != TrialState.COMPLETE for t in trials) <= 2, \
        [(t.number, t.state.name) for t in trials if t.state != TrialState.COMPLETE]


@pytest.mark.parametrize("backend", ["pg_storage", "journal_storage"])
def test_a_sigkilled_workers_trial_is_retried_and_the_study_completes(backend, request,
                                                                      tmp_path):
    """The worker is killed while its trial is provably mid-evaluation (``freeze_mid_trial``):
    that trial is failed as stale, run again with the same parameters, and the study still
    completes exactly its total."""
    storage = request.getfixturevalue(backend)
    doomed = start_worker(storage, 5, tmp_path / "doomed.log")
    try:
        watched = freeze_mid_trial(doomed, storage)
    finally:
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=30)
    survivor_log = tmp_path / "survivor.log"
    finish(start_worker(storage, 5, survivor_log), survivor_log)
    trials = the_study(storage).get_trials(deepcopy=False)
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 5
    assert trials[watched.number].state == TrialState.FAIL, \
        "the killed worker's trial must have been failed as stale"
    assert not any(t.state == TrialState.RUNNING for t in trials)
    retried = [t for t in trials if t.state == TrialState.COMPLETE and watched.number in (
        t.user_attrs.get("retry_of"), t.system_attrs.get("failed_trial"))]
    assert len(retried) == 1, "the stale trial's parameters must have been run again, once"
    assert retried[0].params == watched.params == trials[watched.number].params
