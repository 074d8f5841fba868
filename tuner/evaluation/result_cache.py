"""Scenario results kept on disk, so no later process scores the same (values, scenario) again.

A result depends on the scenario seed, the values applied (by number), the scenario harness,
tuner's override mechanism and popoto's state: its version, every ``Defaults`` number and the
source of every popoto module (``tuner.evaluation.fingerprint``). The key hashes all of them, so
an edited harness, popoto default or popoto source file never reads a stale result. Resuming
a study, validating in another process, the ratchet's confirmation check and a sensitivity
sweep all reuse what any earlier command scored.
Outages are never cached (they propagate before anything is stored); failed scenarios are,
because they fail the same way every time.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

from scenarios import ScenarioResult, ScenarioSeed
from tuner.evaluation.fingerprint import code_fingerprint

SCHEMA = "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, result TEXT NOT NULL)"


def result_key(values_key: tuple, seed: ScenarioSeed) -> str:
    """The result's key: the harness, tuner's override code, popoto's state, the values, the seed.

    ``values_key`` (``engine.values_key``) already carries popoto's state digest and every applied
    number; ``code_fingerprint`` adds the harness and the override code (and the state again, so
    a key is complete even for a caller that built its own values key).
    """
    text = json.dumps([code_fingerprint(), values_key, seed.to_dict()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _result(data: dict) -> ScenarioResult:
    return ScenarioResult(**{**data, "top": tuple(data["top"])})


class ResultCache:
    """A SQLite table of results by key; safe to share between processes on one machine."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)
        self._db.commit()

    def get_many(self, keys: list[str]) -> dict[str, ScenarioResult]:
        found: dict[str, ScenarioResult] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, result FROM results WHERE key IN ({marks})", chunk)
                found.update((k, _result(json.loads(v))) for k, v in rows)
        return found

    def put_many(self, items: dict[str, ScenarioResult]) -> None:
        if not items:
            return
        rows = [(k, json.dumps(r.to_dict())) for k, r in items.items()]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?)", rows)
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
