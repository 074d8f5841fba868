"""Where popoto's data lives: the embedded default, a real server, and refusals."""

import os
import uuid

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
def test_real_redis_server_runs_a_scenario_and_touches_nothing_else(real_redis_url,
                                                                    monkeypatch):
    """On a user's server: scenarios run, leave none of their keys, and never touch foreign ones.

    Only this test's own keys are looked at (its sentinels and the model classes its scenario
    built): another test run or a user may be writing to the same database meanwhile.
    """
    import redis

    from scenarios import evaluate_scenario
    from scenarios.families.base import RunContext
    from scenarios.seeds import draw_seed

    built: list[str] = []
    build = RunContext.model

    def recording(self, role, fields, bases=()):
        model = build(self, role, fields, bases)
        built.append(model.__name__)
        return model

    monkeypatch.setattr(RunContext, "model", recording)
    client = redis.Redis.from_url(real_redis_url)
    mine = f"tuner-test-{uuid.uuid4().hex}"
    sentinels = {f"{mine}:precious": "keep me", f"{mine}:Memory:1": "a popoto-like key"}
    client.mset(sentinels)
    try:
        with redis_target(real_redis_url) as target:
            assert not target.embedded and target.version >= "6.2"
            result = evaluate_scenario(draw_seed("decay", 4))
        assert result.error is None and result.ndcg > 0
        assert built, "the scenario built no model class: nothing was checked"
        left = [key for name in built for key in client.scan_iter(match=f"*{name}*")]
        assert left == []
        assert {k: client.get(k) for k in sentinels} == {k: v.encode()
                                                         for k, v in sentinels.items()}
    finally:
        client.delete(*sentinels)


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
