"""The ratchet on a real Dask cluster equals the local pool's, decision for decision and number
for number, also when a cluster worker is SIGKILLed mid-run.

The cluster is separate processes, as on other machines: ``dask scheduler`` and two ``dask
worker``s (one thread, no nanny) on 127.0.0.1, on ports the OS picks; each worker gets its own
embedded Redis from tuner's plugin. Every process started here is killed by process group when
the module's tests end, whatever happened. Small settings keep each ratchet to seconds.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import require_server

ROOT = Path(__file__).resolve().parents[1]
RATCHET = ["ratchet", "--constants", "WILSON_CI_THRESHOLD,decay_per_hop", "--trials", "3",
           "--batch", "6", "--bank-size", "20", "--held-out", "20", "--confirm-size", "20",
           "--json"]
TIMING_KEYS = {"seconds", "date"}  # wall-clock fields: all that may differ between equal runs


def _engine_installed() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require_server(_engine_installed(), "Dask distributed (the cluster extra)",
                   'install it with .venv/bin/pip install -e ".[cluster]"')
    from tuner.evaluation.local_cluster import local_cluster

    logs = tmp_path_factory.mktemp("cluster-logs")  # kept by pytest for a failure's reader
    with local_cluster(2, cwd=str(ROOT), logs=logs) as running:
        yield running


def start_ratchet(tmp: Path, name: str, *where: str) -> subprocess.Popen:
    env = {**os.environ, "TUNER_RESULT_CACHE": "off"}
    env.pop("TUNER_CLUSTER", None)
    with open(tmp / f"{name}.json", "w") as out, open(tmp / f"{name}.err", "w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tuner.cli", *RATCHET, *where,
             "--storage", f"sqlite:///{tmp / (name + '.db')}"],
            cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True)


def ledger_of(process: subprocess.Popen, tmp: Path, name: str, timeout: float = 240) -> dict:
    try:
        process.wait(timeout=timeout)
    finally:
        if process.returncode is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, (tmp / f"{name}.err").read_text()
    return without_timing(json.loads((tmp / f"{name}.json").read_text()))


def without_timing(value: object) -> object:
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


@pytest.fixture(scope="module")
def pool_ledger(cluster, tmp_path_factory):
    """The local pool's ledger (2 worker processes), the reference every cluster run meets."""
    tmp = tmp_path_factory.mktemp("pool")
    return ledger_of(start_ratchet(tmp, "pool", "--workers", "2"), tmp, "pool")


def test_the_cluster_ratchet_equals_the_local_pools(cluster, pool_ledger, tmp_path):
    ledger = ledger_of(start_ratchet(tmp_path, "cluster", "--cluster", cluster.address),
                       tmp_path, "cluster")
    assert [r["decision"] for r in ledger["records"]] == \
        [r["decision"] for r in pool_ledger["records"]]
    assert ledger == pool_ledger
    assert _profilers_running(cluster) == {False}  # tuner's plugin stopped Dask's profiler


def _profilers_running(cluster) -> set[bool]:
    from distributed import Client

    with Client(cluster.address, set_as_default=False, timeout=30) as client:
        running = client.run(lambda dask_worker: "profile" in dask_worker.periodic_callbacks)
    return set(running.values())


def test_a_worker_killed_mid_run_loses_nothing(cluster, pool_ledger, tmp_path):
    from distributed import Client

    run = start_ratchet(tmp_path, "killed", "--cluster", cluster.address)
    try:
        with Client(cluster.address, set_as_default=False, timeout=30) as client:
            victim = _wait_until_busy(client, "w0", run)
            cluster.kill_worker(0)
            assert run.poll() is None, "the run ended before its worker was killed"
            ledger = ledger_of(run, tmp_path, "killed")
            assert victim not in client.scheduler_info(n_workers=-1)["workers"]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert ledger == pool_ledger


def _wait_until_busy(client, name: str, run: subprocess.Popen, timeout: float = 120) -> str:
    """The address of worker ``name`` once it has been running the ratchet's tasks for a
    while (some results handed back, more in hand): the moment to kill it."""
    deadline = time.monotonic() + timeout
    busy_since = None
    while time.monotonic() < deadline and run.poll() is None:
        workers = client.scheduler_info(n_workers=-1)["workers"]
        address = next(a for a, w in workers.items() if w.get("name") == name)
        if client.processing([address])[address]:
            busy_since = busy_since or time.monotonic()
            if time.monotonic() - busy_since > 3:
                return address
        time.sleep(0.2)
    pytest.fail("worker w0 never ran a task of the ratchet")


def test_a_worker_that_cannot_start_its_redis_says_so_in_one_line(cluster):
    """A worker joining once a run has registered tuner's plugin: it leaves the cluster."""
    from distributed import Client

    from tuner.evaluation.cluster import PLUGIN_NAME, RedisPerWorker

    with Client(cluster.address, set_as_default=False, timeout=30) as client:
        client.register_plugin(RedisPerWorker(), name=PLUGIN_NAME)
    log = cluster.logs / "broken.log"
    env = {**os.environ, "REDIS_URL": "redis://tuner:s3cret@127.0.0.1:1/9"}
    with open(log, "wb") as out:
        broken = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", cluster.address,
             "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    cluster.workers.append(broken)  # killed with the cluster if it does not leave
    broken.wait(timeout=60)  # it leaves the cluster: the process ends
    lines = [line for line in log.read_text().splitlines() if "cannot start its Redis" in line]
    assert len(lines) == 1, log.read_text()
    assert lines[0].startswith("tuner: cluster worker tcp://127.0.0.1:")
    assert "cannot reach Redis at redis://tuner:***@127.0.0.1:1/9" in lines[0]
    assert "s3cret" not in log.read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:{port}",
                                     "tcp://tuner:s3cret@127.0.0.1:{port}",
                                     "nonsense://nowhere"])
def test_an_unreachable_cluster_is_one_line_and_exit_2(monkeypatch, tmp_path, address):
    require_server(_engine_installed(), "Dask distributed (the cluster extra)",
                   'install it with .venv/bin/pip install -e ".[cluster]"')
    from tuner.cli import main
    from tuner.evaluation import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 2.0)
    monkeypatch.setenv("TUNER_CLUSTER", address.format(port=_free_port()))
    result = CliRunner().invoke(main, ["sweep", "--constant", "decay_per_hop", "--values",
                                       "0.1,0.2", "--batch", "3", "--bank-size", "10",
                                       "--storage", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot reach the cluster"), lines
    assert "s3cret" not in result.output and "Traceback" not in result.output


def test_the_default_commands_load_no_engine():
    """Without --cluster nothing imports Dask: the default install needs no cluster."""
    code = ("import sys\n"
            "from tuner.cli import main\n"
            "from tuner.evaluation.workers import worker_pool\n"
            "import tuner.evaluation.engine\n"
            "with worker_pool(1):\n"
            "    pass\n"
            "assert not [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr


def test_without_the_cluster_extra_cluster_is_one_line():
    """``--cluster`` on an install without Dask: what to install, not an ImportError (in a
    fresh process, where blocking the import of ``distributed`` blocks all of it)."""
    code = ("import sys\n"
            "sys.modules['distributed'] = sys.modules['dask'] = None\n"
            "from tuner.evaluation.workers import NoClusterEngineError, worker_pool\n"
            "try:\n"
            "    with worker_pool(2, cluster='tcp://127.0.0.1:8786'):\n"
            "        pass\n"
            "except NoClusterEngineError as exc:\n"
            "    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert 'pip install -e ".[cluster]"' in done.stdout, done.stdout


def test_a_worker_unlike_the_parent_is_refused(monkeypatch):
    """A worker with another harness or popoto would mix numbers: it fails the run instead."""
    require_server(_engine_installed(), "Dask distributed (the cluster extra)",
                   'install it with .venv/bin/pip install -e ".[cluster]"')
    from tuner.evaluation import cluster
    from tuner.evaluation.cluster import ClusterError
    from tuner.evaluation.fingerprint import code_fingerprint

    monkeypatch.setitem(cluster._WORKER, "target", None)
    with pytest.raises(ClusterError, match="has no Redis"):
        cluster._check_worker(code_fingerprint())
    monkeypatch.setitem(cluster._WORKER, "target", object())
    cluster._check_worker(code_fingerprint())  # the same code: accepted
    with pytest.raises(ClusterError, match="runs another scenario harness"):
        cluster._check_worker("0123456789abcdef")


def test_guided_tasks_cover_every_scenario_once_and_end_in_single_ones():
    """A large home group goes out in few tasks (Dask's ~3 ms is paid per task), at most
    TASK_LIMIT scenarios each and largest first, ending in single scenarios so a request's tail
    stays one scenario long; every position lands in exactly one task of its own home."""
    require_server(_engine_installed(), "Dask distributed (the cluster extra)",
                   'install it with .venv/bin/pip install -e ".[cluster]"')
    from tuner.evaluation.chunks import guided_sizes
    from tuner.evaluation.cluster import TASK_LIMIT, TASK_SHARE, _guided_tasks

    def sizes(n: int) -> list[int]:
        return guided_sizes(n, share=TASK_SHARE, limit=TASK_LIMIT)

    for n in (1, 2, 5, 25, 100, 600):
        assert sum(sizes(n)) == n and sizes(n) == sorted(sizes(n), reverse=True), sizes(n)
        assert max(sizes(n)) <= TASK_LIMIT and sizes(n)[-1] == 1, sizes(n)
    assert len(sizes(600)) < 600 / 6  # few tasks for a large request
    homes = ["a" if i % 3 else "b" for i in range(50)]
    tasks = _guided_tasks(list(range(50)), homes)
    assert sorted(i for _, task in tasks for i in task) == list(range(50))
    assert all(homes[i] == home for home, task in tasks for i in task)
