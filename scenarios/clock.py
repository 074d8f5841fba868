"""A frozen wall clock for popoto: a scenario's "now" is one instant, fresh or restored.

A scenario dates its records against ``ctx.now``; popoto reads ``time.time()`` again whenever it
scores, touches or resolves. On the wall clock, a fresh run's records are therefore older at
query time by however long its own saves took, and a restored run's by however long ago its
template was written: at steep decay that moves near-ties, so results would depend on machine
speed. Inside ``frozen_clock(at)`` popoto's ``time.time()`` starts at ``at`` and advances one
microsecond per call, so it still moves (popoto and the families tell a touch or a resolve from
the one before by its timestamp) but the same calls always read the same times. Every loaded
``popoto`` module that imported ``time`` sees a stand-in whose ``time()`` is frozen, and so does
a function-local ``import time`` (popoto's query path has one), through ``sys.modules``.
Modules that imported ``time`` at their top (redis-py, Optuna's heartbeat thread) keep the real
one; everything is put back in ``finally``. Monotonic clocks and ``sleep`` stay real.
"""

from __future__ import annotations

import sys
import time as _time
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

TICK_SECONDS = 1e-6


class _FrozenTime(ModuleType):
    """Stands in for the ``time`` module: ``time()`` ticks from ``at``; the rest is the real one.

    A module (not a plain object): C code that imports ``time`` while the clock is frozen (a
    first ``strptime``, say) checks that it got one.
    """

    def __init__(self, at: float) -> None:
        super().__init__("time")
        self._at = at
        self._calls = 0

    def time(self) -> float:
        self._calls += 1
        return self._at + self._calls * TICK_SECONDS

    def time_ns(self) -> int:
        return int(self.time() * 1e9)

    def __getattr__(self, name: str) -> Any:
        return getattr(_time, name)


_HOLDERS: tuple[int, list[ModuleType]] = (-1, [])


def _popoto_time_holders() -> list[ModuleType]:
    """popoto's modules that imported ``time`` at their top; rescanned only when a module was
    loaded since (this runs twice per scenario, and ``sys.modules`` holds thousands)."""
    global _HOLDERS
    if _HOLDERS[0] != len(sys.modules):
        holders = [
            module
            for name, module in list(sys.modules.items())
            if (name == "popoto" or name.startswith("popoto."))
            and module is not None
            and getattr(module, "__dict__", {}).get("time") is _time
        ]
        _HOLDERS = (len(sys.modules), holders)
    return _HOLDERS[1]


@contextmanager
def frozen_clock(at: float) -> Iterator[None]:
    """popoto's ``time.time()`` ticks from ``at`` for the block."""
    import popoto  # noqa: F401 - loaded with the real clock, not inside the block

    holders = _popoto_time_holders()
    frozen = _FrozenTime(at)
    try:
        for module in holders:
            module.time = frozen  # type: ignore[attr-defined]
        sys.modules["time"] = frozen  # type: ignore[assignment]
        yield
    finally:
        sys.modules["time"] = _time
        for module in holders:
            module.time = _time  # type: ignore[attr-defined]
        _unfreeze_modules_loaded_inside()


def _unfreeze_modules_loaded_inside() -> None:
    """A module first imported inside the block (a lazily loaded popoto recipe) bound the
    stand-in as its ``time``; give it the real one, or it would keep a stale frozen clock for
    the life of the process."""
    if _HOLDERS[0] == len(sys.modules):
        return
    for module in list(sys.modules.values()):
        if isinstance(getattr(module, "__dict__", {}).get("time"), _FrozenTime):
            module.time = _time  # type: ignore[attr-defined]
