"""Every process a tuner command starts ends when the command ends, however it died.

``kill -9`` runs no cleanup in tuner, so nothing tuner does on the way out can help: the
workers, their embedded redis-servers and multiprocessing's resource tracker must notice the
death themselves. These tests run a real command with two workers, collect every descendant
by walking ``/proc`` (before the kill: orphans are re-parented and no longer found from the
command), SIGKILL the command and require every descendant gone within 5 s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="walks /proc; the parent-death signal is Linux-only")

TUNER = Path(sys.executable).parent / "tuner"
DEADLINE = 5.0  # the promise: every descendant gone within 5 s of the kill
STARTUP = 240.0  # generous: imports and servers of three processes on two shared cores
WORKERS = 2
RUN = ["--constant", "decay_rate", "--trials", "300", "--batch", "5", "--workers", str(WORKERS)]

Identity = tuple[int, str]  # (pid, kernel start time): a recycled pid is another process


def _stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/pid/stat`` after the command name (state is [0], ppid [1])."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _cmdline(pid: int) -> list[str]:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    return []


def descendants(root: int) -> dict[Identity, int]:
    """Every live descendant of ``root``, with its parent's pid."""
    children: dict[int, list[tuple[Identity, int]]] = {}
    for entry in os.listdir("/proc"):
        stat = _stat(int(entry)) if entry.isdigit() else None
        if stat and stat[0] not in "ZX":
            children.setdefault(int(stat[1]), []).append(((int(entry), stat[19]), int(stat[1])))
    found: dict[Identity, int] = {}
    todo = [root]
    while todo:
        for identity, parent in children.get(todo.pop(), []):
            found[identity] = parent
            todo.append(identity[0])
    return found


def alive(identity: Identity) -> bool:
    """Running as the same process: a zombie runs nothing, a new start time is another one."""
    stat = _stat(identity[0])
    return stat is not None and stat[0] not in "ZX" and stat[19] == identity[1]


def describe(identities: object) -> str:
    return "; ".join(f"{pid} {' '.join(_cmdline(pid))[:120]}" for pid, _ in identities)


def is_worker(pid: int) -> bool:
    return "--multiprocessing-fork" in _cmdline(pid)


def is_redis_server(pid: int) -> bool:
    """By the kernel's name: redis-server rewrites its command line to its title."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text().strip() == "redis-server"
    return False


def workers_serving(tree: dict[Identity, int]) -> bool:
    """Both workers are up, each with its own redis-server (and the parent with its own)."""
    workers = {pid for pid, _ in tree if is_worker(pid)}
    server_parents = {parent for (pid, _), parent in tree.items() if is_redis_server(pid)}
    return len(workers) == WORKERS and workers <= server_parents and len(server_parents) > WORKERS


def poll(predicate: Callable[[], object], timeout: float) -> object:
    """``predicate()``'s first true value within ``timeout`` seconds, else its last (false) one."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def kill_all(identities: object) -> None:
    """Never leave a failed test's orphans running (only processes this test started)."""
    for identity in identities:
        if alive(identity):
            with contextlib.suppress(ProcessLookupError):
                os.kill(identity[0], signal.SIGKILL)


def assert_kill_9_leaves_nothing(command: list[str], tmp_path: Path) -> None:
    """Start ``command``, wait for its full tree, SIGKILL it, require every descendant gone."""
    env = {**os.environ, "TUNER_RESULT_CACHE": "off", "TMPDIR": str(tmp_path)}
    env.pop("REDIS_URL", None)
    log = tmp_path / "tuner.log"
    with open(log, "w") as out:
        process = subprocess.Popen([str(TUNER), *command], cwd=tmp_path, env=env,
                                   stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    seen: dict[Identity, int] = {}

    def tree_ready() -> bool:
        seen.update(descendants(process.pid))
        return process.poll() is None and workers_serving(descendants(process.pid))

    try:
        ready = poll(tree_ready, STARTUP)
        tree = descendants(process.pid)
        seen.update(tree)
        named = describe(tree)
    finally:
        process.kill()
        process.wait()
    try:
        assert ready, (f"the command never had {WORKERS} workers with their servers; seen: "
                       f"{describe(seen)}\n{log.read_text()[-3000:]}")
        killed_at = time.monotonic()
        poll(lambda: not any(alive(identity) for identity in tree), DEADLINE)
        print(f"{len(tree)} descendants, checked {time.monotonic() - killed_at:.2f} s after "
              f"kill -9: {named}")
        survivors = [identity for identity in tree if alive(identity)]
        assert not survivors, (f"{len(survivors)} of {len(tree)} descendants still run "
                               f"{DEADLINE:.0f} s after kill -9: {describe(survivors)}")
    finally:
        kill_all(seen)


@pytest.mark.slow
def test_kill_9_of_optimize_ends_its_workers_their_servers_and_the_tracker(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    assert_kill_9_leaves_nothing(["optimize", *RUN, "--no-validate", "--storage", storage],
                                 tmp_path)


@pytest.mark.slow
def test_kill_9_of_a_worker_on_postgresql_ends_everything_it_started(pg_storage, tmp_path):
    assert_kill_9_leaves_nothing(["worker", *RUN, "--storage", pg_storage], tmp_path)


WATCHED = """
import os, sys
from pathlib import Path
from tuner.evaluation.workers import watch_parent
Path(sys.argv[1]).write_text(str(os.getpid()))
watch_parent(os.getppid(), interval=0.1)
"""
MIDDLE = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
time.sleep(600)
"""


def test_the_watchdog_alone_ends_a_process_whose_parent_died(tmp_path):
    """Where no parent-death signal exists: the child below has only the watchdog."""
    pid_file = tmp_path / "child.pid"
    middle = subprocess.Popen([sys.executable, "-c", MIDDLE, WATCHED, str(pid_file)],
                              start_new_session=True)
    child: Identity | None = None
    try:
        poll(lambda: pid_file.exists() and pid_file.read_text(), STARTUP)
        pid = int(pid_file.read_text())
        stat = _stat(pid)
        assert stat is not None and int(stat[1]) == middle.pid
        child = (pid, stat[19])
    finally:
        middle.kill()
        middle.wait()
    try:
        poll(lambda: not alive(child), DEADLINE)
        assert not alive(child), f"the watched child still runs {DEADLINE:.0f} s after"
    finally:
        kill_all([child])


def test_a_worker_whose_parent_is_already_gone_exits_at_once():
    """The parent died before the worker asked for the parent-death signal: it never comes."""
    code = ("from tuner.evaluation.workers import tie_to_parent; tie_to_parent(1); "
            "print('still here')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=STARTUP)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "")


def test_only_the_thread_that_built_a_pool_may_use_it():
    """Its workers are started by the thread that submits, and die when that thread ends."""
    import threading

    from scenarios.seeds import draw_seed
    from tuner.evaluation.workers import WorkerPool

    pool = WorkerPool(2)
    errors: list[BaseException] = []

    def use() -> None:
        try:
            pool.evaluate({}, [draw_seed("decay", 0), draw_seed("decay", 1)])
        except RuntimeError as exc:
            errors.append(exc)

    try:
        thread = threading.Thread(target=use)
        thread.start()
        thread.join()
    finally:
        pool.close()
    assert len(errors) == 1 and "thread that built it" in str(errors[0])
