"""A password given in a URL never shows up in anything tuner prints or stores.

The machine's PostgreSQL trusts local connections, so a storage URL *with* a password works and
tuner runs its whole path on it: optimize + validation (summary, user attrs, dashboard note),
sweep, ratchet (ledger), report pages and export. Then every printed line, every study and
trial attribute in the database and every written file is searched for the password.
"""

from __future__ import annotations

import json
import uuid

import pytest
from conftest import require_server

from tuner.infra.urls import mask_secrets, mask_url

SECRET = "pw-Zq81x"


def test_mask_url_and_text():
    assert mask_url(f"redis://u:{SECRET}@host:6379/3") == "redis://u:***@host:6379/3"
    assert mask_url("redis://127.0.0.1:6379/1") == "redis://127.0.0.1:6379/1"
    assert mask_url("unix:///tmp/x/redis.sock?db=1") == "unix:///tmp/x/redis.sock?db=1"
    assert mask_url(f"postgresql://u:p@{SECRET}@h/db") == "postgresql://u:***@h/db"
    text = f"boom: connect failed (dsn: host=x password={SECRET} user=u)"
    assert SECRET not in mask_secrets(text) and "password=***" in mask_secrets(text)
    assert mask_secrets(f"auth failed: {SECRET}", [f"redis://:{SECRET}@h/1"]) == (
        "auth failed: ***")


@pytest.fixture
def pg_storage():
    """A fresh PostgreSQL database, reached with a password in the URL (trust auth ignores it)."""
    try:
        import psycopg

        admin = psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres",
                                connect_timeout=3, autocommit=True)
        reachable, why = True, ""
    except Exception as exc:  # noqa: BLE001 - driver missing or server down: skip loudly
        reachable, why = False, f"{type(exc).__name__}: {exc}"
    require_server(reachable, "PostgreSQL on 127.0.0.1:5432 (user postgres) and psycopg", why)
    name = f"tuner_secrets_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://postgres:{SECRET}@127.0.0.1:5432/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


def _stored_text(storage: str) -> str:
    import optuna

    handle = optuna.storages.get_storage(storage)
    dumps = []
    for summary in optuna.get_all_study_summaries(storage=handle):
        study_id = handle.get_study_id_from_name(summary.study_name)
        dumps.append(json.dumps([handle.get_study_user_attrs(study_id),
                                 handle.get_study_system_attrs(study_id)], default=str))
        for trial in handle.get_all_trials(study_id, deepcopy=False):
            dumps.append(json.dumps([trial.user_attrs, trial.system_attrs], default=str))
    return "\n".join(dumps)


# optimize validates too: small pools keep the test about secrets, not statistics
pools = ("--held-out", "20", "--confirm-size", "20")


@pytest.mark.server
def test_no_output_or_stored_value_contains_the_password(run, tmp_path, pg_storage):
    small = ("--bank-size", "10", "--batch", "3", "--storage", pg_storage)
    results = [
        run("optimize", "--constant", "decay_rate", "--trials", "2", "--top", "1", *pools,
            *small),
        run("optimize", "--constant", "decay_rate", "--trials", "2", "--top", "1", "--json",
            *pools, *small),
        run("sweep", "--constant", "decay_rate", "--values", "0.1,0.5", *small),
        run("sweep", "--constant", "decay_rate", "--values", "0.1,0.5", "--json", *small),
        run("ratchet", "--constants", "CHI_SQUARED_P_THRESHOLD", "--trials", "2", "--top", "1",
            *small),
        run("report", "--storage", pg_storage, "--bank-size", "10", "--out",
            str(tmp_path / "html")),
        run("export", "--storage", pg_storage, "--bank-size", "10", "--out",
            str(tmp_path / "p.patch")),
    ]
    for result in results:
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output
    assert "postgres:***@127.0.0.1:5432" in results[0].output
    assert "postgres:***@127.0.0.1:5432" in _stored_text(pg_storage)
    assert SECRET not in _stored_text(pg_storage)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".js"]
    assert len(written) >= 3
    for path in written:
        assert SECRET not in path.read_text(errors="replace"), path


@pytest.mark.server
def test_a_redis_password_never_shows_on_successful_runs_or_in_sensitivity(
        run, tmp_path, pg_storage, real_redis_url):
    """The machine's Redis has no password and accepts the default user with any, so
    scenarios really run there through a URL that carries one: optimize (text and JSON, with
    validation) and sensitivity (text and JSON) succeed and print neither password."""
    scheme, rest = real_redis_url.split("://", 1)
    redis_url = f"{scheme}://default:{SECRET}@{rest}"
    small = ("--bank-size", "10", "--batch", "3", "--storage", pg_storage, "--redis-url",
             redis_url)
    results = [
        run("optimize", "--constant", "decay_factor", "--trials", "2", "--top", "1", *pools,
            *small),
        run("optimize", "--constant", "decay_factor", "--trials", "3", "--top", "1", "--json",
            *pools, *small),
        run("sensitivity", "--constants", "decay_factor", *small),
        run("sensitivity", "--constants", "decay_factor", "--json", *small),
    ]
    for result in results:
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output
    assert "default:***@" in results[3].output  # the JSON names the Redis it ran on, masked
    assert SECRET not in _stored_text(pg_storage)
