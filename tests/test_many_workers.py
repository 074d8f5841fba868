"""validate, ratchet and sensitivity give with two worker processes exactly what one gives.

``tests/conftest.py`` runs every command in one process (``TUNER_WORKERS=1``); here each
command runs with ``--workers 1`` and ``--workers 2`` on a small bank, each from an empty memo
and no disk cache, and its JSON must be the same but for timings, dates and storage paths. The
two-worker run is checked to have sent scenarios to the pool: with the memo of the first run
left in place, it would have scored nothing and compared the first run with itself.
"""

from __future__ import annotations

import json
import shutil

import pytest

from scenarios.restore import clear_templates
from tuner.evaluation.engine import clear_memo
from tuner.evaluation.workers import WorkerPool

pytestmark = pytest.mark.usefixtures("popoto_redis")

CONSTANT = "decay_per_hop"  # one family; a 4-trial study on this bank reaches validation
SMALL = ("--bank-size", "10", "--batch", "8")
SMALL_POOLS = ("--held-out", "100", "--confirm-size", "100")  # the defaults (800) take minutes
VOLATILE = {"seconds", "date", "storage", "redis"}  # redis: the server's temp socket


def stable(data):
    """``data`` without the keys that differ between two identical runs."""
    if isinstance(data, dict):
        return {k: stable(v) for k, v in data.items() if k not in VOLATILE}
    if isinstance(data, list):
        return [stable(v) for v in data]
    return data


@pytest.fixture
def pool_calls(monkeypatch) -> list[int]:
    """How many scenarios each ``WorkerPool.evaluate_many`` call was given."""
    calls: list[int] = []
    original = WorkerPool.evaluate_many

    def counted(self, requests):
        calls.append(sum(len(seeds) for _, seeds in requests))
        return original(self, requests)

    monkeypatch.setattr(WorkerPool, "evaluate_many", counted)
    return calls


@pytest.fixture
def with_workers(run, pool_calls):
    """Run a command with ``--workers N --json`` from an empty memo; its stable JSON."""

    def invoke(workers: int, *args: str):
        clear_memo()
        clear_templates()
        before = len(pool_calls)
        result = run(*args, "--workers", str(workers), "--json")
        assert result.exit_code == 0, result.output
        assert (len(pool_calls) > before) == (workers > 1), "the pool was (not) used"
        return stable(json.loads(result.stdout))

    return invoke


def test_validate_is_the_same_with_two_workers(run, with_workers, tmp_path):
    db = f"sqlite:///{tmp_path / 'v.db'}"
    study = run("optimize", "--constant", CONSTANT, "--trials", "4", *SMALL, "--storage", db,
                "--no-validate", "--workers", "1")
    assert study.exit_code == 0, study.output
    # each validate claims a fresh confirmation bank from its storage (issue 22): a copy of the
    # storage gives the second run the same study and the same first claim
    shutil.copy(tmp_path / "v.db", tmp_path / "v2.db")
    args = ("validate", "--constant", CONSTANT, "--top", "2", *SMALL, *SMALL_POOLS,
            "--storage")
    one = with_workers(1, *args, db)
    two = with_workers(2, *args, f"sqlite:///{tmp_path / 'v2.db'}")
    assert one == two
    assert one["validation"] is not None, "validation never ran: the comparison is vacuous"


def test_ratchet_is_the_same_with_two_workers(with_workers, tmp_path):
    def ratchet(workers):
        return with_workers(workers, "ratchet", "--constants", CONSTANT, "--trials", "4",
                            "--top", "2", *SMALL, *SMALL_POOLS, "--storage",
                            f"sqlite:///{tmp_path / f'r{workers}.db'}")

    one, two = ratchet(1), ratchet(2)
    assert one == two
    assert one["records"] and one["records"][0]["validation_delta"] is not None


def test_sensitivity_is_the_same_with_two_workers(with_workers, tmp_path):
    def sensitivity(workers):
        return with_workers(workers, "sensitivity", "--constants", CONSTANT, *SMALL,
                            "--storage", f"sqlite:///{tmp_path / f's{workers}.db'}")

    one, two = sensitivity(1), sensitivity(2)
    assert one == two
    (row,) = one["constants"]
    assert row["evaluated"] > 1 and len({p["mean"] for p in row["verdict"]["points"]}) > 1
