"""Guided chunk sizes: how a request is cut for the local pool and for the Dask cluster.

Both end a request the same way: one worker finishes its last piece while the others wait.
Guided self-scheduling keeps that last piece one scenario long while the first pieces stay
large, so round trips (the local pool's) or per-task overheads (Dask's ~3 ms) stay few.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def guided_sizes(n: int, *, share: int, limit: int) -> list[int]:
    """Chunk sizes for ``n`` scenarios (guided self-scheduling): each takes ``1/share`` of
    what is left, at most ``limit``, at least 1. A request ends with one worker finishing its
    last chunk while the other waits; ending in single scenarios keeps that wait one scenario
    long, while the large first chunks keep the round trips few."""
    sizes, left = [], n
    while left > 0:
        size = max(1, min(limit, -(-left // share)))
        sizes.append(size)
        left -= size
    return sizes


def guided_chunks(items: Sequence[T], *, share: int, limit: int) -> list[list[T]]:
    """``items`` cut in order into chunks of ``guided_sizes``."""
    out, start = [], 0
    for size in guided_sizes(len(items), share=share, limit=limit):
        out.append(list(items[start:start + size]))
        start += size
    return out
