"""Guided chunk sizes: how a request is cut for the local pool and for the Dask cluster.

Both end a request the same way: one worker finishes its last piece while the others wait.
Guided self-scheduling keeps that last piece one scenario long while the first pieces stay
large, so round trips (the local pool's) or per-task overheads (Dask's ~3 ms) stay few.
"""

from __future__ import annotations


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
