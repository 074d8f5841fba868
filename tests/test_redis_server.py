"""Where popoto's data lives: the embedded default, a real server, and refusals."""

import os

import pytest

from tuner.infra.redis_server import (
    RedisUnavailableError,
    _version_tuple,
    check_server,
    redis_target,
    resolve_url,
)


def test_embedded_server_starts_binds_popoto_and_stops():
    from popoto.redis_db import get_REDIS_DB

    from tuner.infra.redis_server import bind_popoto

    with redis_target(None) as target:
        assert target.embedded and target.url.startswith("unix://")
        socket_path = target.url[len("unix://"):].split("?")[0]
        assert get_REDIS_DB().ping()
        assert os.path.exists(socket_path)
    assert not os.path.exists(socket_path)
    with pytest.raises(RedisUnavailableError):
        check_server(target.url)
    bind_popoto("redis://127.0.0.1:1/1")  # leave popoto pointing nowhere live, explicitly


def test_embedded_server_stops_on_keyboard_interrupt():
    with pytest.raises(KeyboardInterrupt), redis_target(None) as target:
        raise KeyboardInterrupt
    with pytest.raises(RedisUnavailableError):
        check_server(target.url)


def test_url_resolution_prefers_the_flag_then_the_environment(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://env:6379/2")
    assert resolve_url("redis://flag:6379/3") == "redis://flag:6379/3"
    assert resolve_url(None) == "redis://env:6379/2"
    monkeypatch.delenv("REDIS_URL")
    assert resolve_url(None) is None


def test_unreachable_url_is_one_clear_error():
    with pytest.raises(RedisUnavailableError,
                       match=r"^cannot reach Redis at redis://127.0.0.1:1/1: "):
        check_server("redis://127.0.0.1:1/1")


@pytest.mark.parametrize("version,ok", [("6.2.14", True), ("7.0.15", True), ("6.0.9", False),
                                        ("5.0.7", False), ("7.2.4-valkey", True)])
def test_version_gate(version, ok):
    assert (_version_tuple(version) >= (6, 2)) is ok


@pytest.mark.server
def test_real_redis_server_runs_a_scenario_and_touches_nothing_else(real_redis_url):
    """On a user's server: scenarios run, leave no keys, and never touch foreign keys."""
    import redis

    from scenarios import evaluate_scenario
    from scenarios.seeds import draw_seed

    client = redis.Redis.from_url(real_redis_url)
    client.set("user:precious", "keep me")
    try:
        before = set(client.keys("*"))
        with redis_target(real_redis_url) as target:
            assert not target.embedded and target.version >= "6.2"
            result = evaluate_scenario(draw_seed("decay", 4))
        assert result.error is None and result.ndcg > 0
        assert set(client.keys("*")) == before
        assert client.get("user:precious") == b"keep me"
    finally:
        client.delete("user:precious")


def test_rebinding_to_another_server_forgets_loaded_lua_scripts(popoto_redis):
    """popoto queues pipelined EVALSHA for scripts it believes loaded: a new server lacks them."""
    from scenarios import evaluate_scenario
    from scenarios.seeds import draw_seed
    from tuner.infra.redis_server import bind_popoto

    seed = draw_seed("policy_cache", 0)
    assert evaluate_scenario(seed).error is None  # loads popoto's scripts on the session server
    with redis_target(None):  # a second, empty server
        assert evaluate_scenario(seed).error is None
    bind_popoto(popoto_redis.url)
    assert evaluate_scenario(seed).error is None
