"""A Dask cluster of separate local processes: a scheduler and N workers on 127.0.0.1.

The same two commands one runs on other machines (``dask scheduler``, ``dask worker ADDRESS``),
started here as child processes on free ports, for the tests and the benchmark. Every process
runs in its own session and is killed by process group on the way out, whatever happened, so
neither a worker nor its embedded Redis outlives the block.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT = 60.0  # a loaded 2-core machine takes seconds to import distributed


@dataclass
class LocalCluster:
    """The scheduler's address and the processes started (workers by index)."""

    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)
    logs: Path = Path()

    def kill_worker(self, index: int) -> None:
        """SIGKILL worker ``index`` and its process group (as if its machine died)."""
        _kill_group(self.workers[index])


@contextmanager
def local_cluster(workers: int = 2, *, env: Mapping[str, str] | None = None,
                  cwd: str | None = None, logs: Path | None = None) -> Iterator[LocalCluster]:
    """Start a scheduler and ``workers`` workers (one thread, no nanny each); kill them all
    on exit. ``env`` is added to each worker's environment (which has no ``REDIS_URL``).
    The processes' logs go to ``logs`` (kept), else to a temporary directory (removed)."""
    keep = logs is not None
    logs = logs if logs is not None else Path(tempfile.mkdtemp(prefix="tuner-cluster-"))
    started: list[subprocess.Popen] = []
    try:
        scheduler_file = logs / "scheduler.json"
        scheduler = _start([sys.executable, "-m", "distributed.cli.dask_scheduler",
                            "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                            "--scheduler-file", str(scheduler_file)],
                           logs / "scheduler.log", os.environ, cwd)
        started.append(scheduler)
        address = _wait_for_address(scheduler_file, scheduler, logs / "scheduler.log")
        cluster = LocalCluster(address=address, scheduler=scheduler, logs=logs)
        for index in range(workers):
            worker = _start([sys.executable, "-m", "distributed.cli.dask_worker", address,
                             "--nthreads", "1", "--no-nanny", "--no-dashboard",
                             "--host", "127.0.0.1", "--name", f"w{index}"],
                            logs / f"worker{index}.log", _worker_env(env), cwd)
            started.append(worker)
            cluster.workers.append(worker)
        _wait_for_workers(address, workers)
        yield cluster
    finally:
        for process in reversed(started):
            _kill_group(process)
        if not keep:
            shutil.rmtree(logs, ignore_errors=True)


def _worker_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    """This environment without ``REDIS_URL`` (workers on one machine sharing one database
    would race on popoto's global keys: each starts its embedded server), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return {**env, **(extra or {})}


def _start(command: list[str], log: Path, env: Mapping[str, str],
           cwd: str | None) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=dict(env), cwd=cwd,
                                start_new_session=True)


def _wait_for_address(path: Path, process: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the scheduler exited: {log.read_text()[-500:]}")
        try:
            return str(json.loads(path.read_text())["address"])
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    raise RuntimeError(f"the scheduler wrote no address within {START_TIMEOUT:.0f} s")


def _wait_for_workers(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, timeout=START_TIMEOUT, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=START_TIMEOUT)


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the process's group (not yet reaped, so its pid is still its own)."""
    if process.returncode is None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()
