"""Every core: worker processes give exactly the values one process gives."""

import optuna
import pytest

from tuner.evaluation.workers import TooFewDatabasesError, worker_urls


def test_each_worker_url_differs_only_in_its_database():
    assert worker_urls(None, 2) == [None, None]
    assert worker_urls("redis://u:p@h:6379/3", 2, databases=16) == [
        "redis://u:p@h:6379/4", "redis://u:p@h:6379/5"]
    assert worker_urls("redis://h:6379", 1, databases=16) == ["redis://h:6379/1"]
    assert worker_urls("redis://h:6379/3?db=7&ssl_cert_reqs=none", 1, databases=16) == [
        "redis://h:6379/8?ssl_cert_reqs=none"]  # redis-py reads ?db= before the path
    assert worker_urls("unix:///tmp/r.sock?db=2", 2, databases=16) == [
        "unix:///tmp/r.sock?db=3", "unix:///tmp/r.sock?db=4"]


@pytest.mark.parametrize("databases", [16, 3, 32])
def test_workers_never_share_a_database_for_any_base_and_worker_count(databases):
    """Distinct, never the parent's, never db 0, on the server: or refused, and only when the
    server really has too few databases."""
    from redis.connection import parse_url

    for base in range(databases):
        room = databases - 1 - (base != 0)  # every database but db 0 and the parent's
        for workers in range(1, databases + 2):
            url = f"redis://h:6379/{base}"
            if workers > room:
                with pytest.raises(TooFewDatabasesError, match=f"--workers {room} or fewer"):
                    worker_urls(url, workers, databases=databases)
                continue
            dbs = [parse_url(u)["db"] for u in worker_urls(url, workers, databases=databases)]
            assert len(set(dbs)) == workers, (base, workers, dbs)
            assert base not in dbs and 0 not in dbs, (base, workers, dbs)
            assert all(0 < db < databases for db in dbs), (base, workers, dbs)


@pytest.mark.server
def test_too_many_workers_for_the_servers_databases_is_one_clear_error(run, real_redis_url,
                                                                       tmp_path, monkeypatch):
    def started(*args, **kwargs):  # a broken refusal must not run a study on the real server
        pytest.fail("worker processes started although the server has too few databases")

    monkeypatch.setattr("tuner.evaluation.workers.ProcessPoolExecutor", started)
    result = run("optimize", "--constant", "decay_rate", "--trials", "1", "--no-validate",
                 "--redis-url", real_redis_url, "--workers", "16",
                 "--storage", f"sqlite:///{tmp_path / 'refused.db'}")
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1
    assert result.output.startswith("Error: --workers 16 needs 16 Redis databases besides "
                                    "db 0 and db 9 (the parent's), and the server has 16: use "
                                    "--workers 14 or fewer"), result.output


@pytest.mark.usefixtures("popoto_redis")
def test_a_study_is_identical_with_one_and_two_workers(run, tmp_path):
    from scenarios.restore import clear_templates
    from tuner.evaluation.engine import clear_memo

    values = {}
    for workers in ("1", "2"):
        clear_memo()  # else the 2-worker study reads the 1-worker one's memo and runs nothing
        clear_templates()
        storage = f"sqlite:///{tmp_path / f'w{workers}.db'}"
        result = run("optimize", "--constant", "initial_confidence", "--trials", "3",
                     "--batch", "8", "--bank-size", "10", "--storage", storage,
                     "--workers", workers, "--no-validate")
        assert result.exit_code == 0, result.output
        study = optuna.load_study(study_name=optuna.get_all_study_names(storage)[0],
                                  storage=storage)
        values[workers] = [(t.params, t.value, t.user_attrs["ndcg"]) for t in study.trials]
    assert values["1"] == values["2"]
    assert len({v for _, v, _ in values["1"]}) > 1


def test_a_scenario_always_goes_to_the_same_worker():
    """Templates live in the worker that wrote them: routing must be a pure function of the
    scenario, and spread scenarios over every worker."""
    from scenarios.seeds import draw_seed
    from tuner.evaluation.workers import WorkerPool

    pool = WorkerPool(2)
    try:
        seeds = [draw_seed("decay", i) for i in range(20)]
        first = [pool.worker_of(s) for s in seeds]
        assert first == [pool.worker_of(s) for s in reversed(seeds)][::-1]
        assert set(first) == {0, 1}
        groups = pool.assign(seeds)
        assert sorted(p for g in groups.values() for p in g) == list(range(20))
        assert sorted(len(g) for g in groups.values()) == [10, 10]
        assert sum(first[p] == w for w, g in groups.items() for p in g) >= 15
    finally:
        pool.close()


def test_an_idle_worker_takes_the_busiest_workers_last_chunks():
    """Work stealing: a worker runs its own chunks in order, then takes the *last* chunk of the
    fullest queue, so a slow half never leaves the other worker idle; every position is handed
    out exactly once."""
    from tuner.evaluation.workers import ChunkQueues

    queues = ChunkQueues({0: list(range(8)), 1: [8, 9]}, pieces=4)
    assert queues.take(1) == [8] and queues.take(1) == [9]
    assert queues.take(1) == [7]  # worker 1 is out of its own: the tail of worker 0's
    assert queues.take(0) == [0, 1] and queues.take(0) == [2, 3]
    assert queues.take(1) == [6] and queues.take(0) == [4] and queues.take(0) == [5]
    assert queues.take(0) is None and queues.take(1) is None
    assert ChunkQueues({}, pieces=4).take(0) is None


def test_a_large_request_is_cut_into_guided_chunks_ending_in_single_scenarios():
    """A request ends with one worker on its last chunk while the other waits: chunks take a
    quarter of what is left (never over ``limit``, so a request of several value sets does not
    make them longer) and end in single scenarios, in order, each position once."""
    from tuner.evaluation.workers import ChunkQueues

    queues = ChunkQueues({0: list(range(100))}, pieces=4, limit=16)
    chunks = []
    while (chunk := queues.take(0)) is not None:
        chunks.append(chunk)
    assert [len(c) for c in chunks] == [16, 16, 16, 13, 10, 8, 6, 4, 3, 2, 2, 1, 1, 1, 1]
    assert [i for c in chunks for i in c] == list(range(100))


def test_every_family_of_a_comparison_goes_to_the_pool_in_one_request():
    """One request per family left a core idle at the end of each; a 7-family trial waited
    seven times. The families are split back in order, each with its own seeds."""
    from decision_fakes import evaluation

    from tuner.evaluation.engine import evaluate_families

    requests = []

    def fake(values, seeds):
        requests.append([s.label for s in seeds])
        return evaluation({s.label: 0.1 * i for i, s in enumerate(seeds)})

    class Seed:
        def __init__(self, label):
            self.label = label

    pools = {"decay": [Seed("d0"), Seed("d1")], "cyclic": [Seed("c0")], "write_filter": []}
    out = evaluate_families({}, pools, evaluate=fake)
    assert requests == [["d0", "d1", "c0"]]
    assert list(out) == ["decay", "cyclic", "write_filter"]
    assert [r.label for r in out["cyclic"].results] == ["c0"] and not out["write_filter"].results


class RecordingPool:
    """A stand-in worker pool: records every request it is sent (value sets and labels) and
    scores a seed by (number of values set, seed index), so candidate and reference differ."""

    def __init__(self) -> None:
        self.requests: list[list[tuple[dict, list[str]]]] = []

    def evaluate_many(self, requests):
        from scenarios.runner import ScenarioResult

        self.requests.append([({c.name: v for c, v in values.items()},
                               [s.label for s in seeds]) for values, seeds in requests])
        return [ScenarioResult(label=s.label, ndcg=0.01 * (s.seed_id % 7) + 0.1 * len(values),
                               spearman=0.0, top=(), seconds=0.0)
                for values, seeds in requests for s in seeds]


@pytest.fixture
def recording_pool():
    from tuner.evaluation.engine import clear_memo, set_worker_pool

    pool = RecordingPool()
    clear_memo()
    previous = set_worker_pool(pool)
    try:
        yield pool
    finally:
        set_worker_pool(previous)
        clear_memo()


def _two_constants():
    from tuner.catalog import load_catalog

    catalog = load_catalog()
    return catalog.resolve("WILSON_CI_THRESHOLD"), catalog.resolve("decay_per_hop")


def test_both_sides_of_a_comparison_go_to_the_pool_in_one_request(recording_pool):
    """A candidate and its reference asked the pool twice, and each request ended with a core
    idle; now one request carries both value sets, and the memo answers a second ask."""
    from scenarios.seeds import draw_seed
    from tuner.decisions.comparison import compare_values

    wilson, _ = _two_constants()
    seeds = {"cyclic": [draw_seed("cyclic", i) for i in range(3)]}
    comparison = compare_values({wilson: 0.4}, {}, seeds)
    assert len(recording_pool.requests) == 1
    (sent,) = recording_pool.requests
    assert [values for values, _ in sent] == [{"WILSON_CI_THRESHOLD": 0.4}, {}]
    assert [labels for _, labels in sent] == [[s.label for s in seeds["cyclic"]]] * 2
    assert comparison.mean == pytest.approx(0.1)
    compare_values({wilson: 0.4}, {}, seeds)
    assert len(recording_pool.requests) == 1


def test_every_open_test_of_a_confirmation_round_goes_to_the_pool_in_one_request(
        recording_pool):
    """A confirmation round of m values sent 2m requests; now it sends one, and each test's
    looks read exactly the scenarios they would have asked for alone."""
    from scenarios.seeds import draw_seed
    from tuner.decisions.comparison import compare_values, comparison_requests
    from tuner.decisions.confirmation import Candidate, confirm
    from tuner.decisions.sequential import SeedPool, SequentialComparison
    from tuner.decisions.stages import StageRules

    def test_of(constant, value, family):
        pool = SeedPool((family,), 200, lambda f, n: [draw_seed(f, i) for i in range(n)])
        candidate = {constant: value}
        return SequentialComparison(
            pool, lambda seeds, level: compare_values(candidate, {}, seeds, level=level),
            requests=lambda seeds: comparison_requests(candidate, {}, seeds))

    wilson, hop = _two_constants()
    candidates = {"w": Candidate(wilson, 0.4, test_of(wilson, 0.4, "cyclic")),
                  "h": Candidate(hop, 0.8, test_of(hop, 0.8, "co_occurrence"))}
    results = confirm(candidates, alpha=0.05,
                      rules=StageRules(min_improvement=0.005, harm_margin=0.02))
    assert all(r.passed for r in results.values())  # +0.1 on every scenario
    first = recording_pool.requests[0]
    assert [values for values, _ in first] == [  # the shared incumbent once, both families
        {"WILSON_CI_THRESHOLD": 0.4}, {}, {"decay_per_hop": 0.8}]
    assert [len(labels) for _, labels in first] == [50, 100, 50]
    looks = max(len(c.test.records) for c in candidates.values())
    assert len(recording_pool.requests) == looks  # one request a round, never one a test


def test_a_full_memo_is_emptied_without_losing_what_the_request_had_memoised(
        recording_pool, monkeypatch):
    """Emptying the memo at its limit drops results this very request was about to read from
    it: they are asked for again, never looked up after they are gone."""
    from scenarios.seeds import draw_seed
    from tuner.evaluation import engine

    wilson, _ = _two_constants()
    seeds = [draw_seed("cyclic", i) for i in range(4)]
    engine.evaluate_values({}, seeds[:2])
    monkeypatch.setattr(engine, "MEMO_LIMIT", 5)
    first, second = engine.evaluate_many([({}, seeds), ({wilson: 0.4}, seeds)])
    assert [r.label for r in first.results] == [s.label for s in seeds]
    assert [r.label for r in second.results] == [s.label for s in seeds]
    assert [len(labels) for _, labels in recording_pool.requests[-1]] == [4, 4]
