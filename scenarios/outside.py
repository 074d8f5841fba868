"""Outside families: worlds nobody here wrote, kept apart from the families the tuner tunes on.

An outside family (the LoCoMo replays, ``scenarios/families/locomo_*.py``) is a robustness
check, never a tuning target by default: the catalog names it per constant under
``outside_families``, separately from ``families``, so no objective, screen or confirmation
reads it. It also needs data the repository does not hold (LoCoMo is CC BY-NC), so it is
*registered* in ``FAMILIES`` (where the runner, the bank and the workers find families) only
while its data is available; without it the family is listed here with a one-line reason.
A generic loop over ``FAMILIES`` (the reach matrix, the sanity table, ``tuner worlds``) thus
never meets a family it cannot run.
"""

from __future__ import annotations

from collections.abc import Callable

from scenarios.families.base import FAMILIES, Family

OUTSIDE_FAMILIES: dict[str, type[Family]] = {}
_REASONS: dict[str, Callable[[], str | None]] = {}


def register_outside(cls: type[Family], unavailable: Callable[[], str | None]) -> type[Family]:
    """Declare ``cls`` an outside family; ``unavailable()`` says why it cannot run (None: it can).

    ``Family.__init_subclass__`` has already put it in ``FAMILIES``; it stays there only while
    it is available.
    """
    OUTSIDE_FAMILIES[cls.name] = cls
    _REASONS[cls.name] = unavailable
    FAMILIES.pop(cls.name, None)
    if unavailable() is None:
        FAMILIES[cls.name] = cls
    return cls


def is_outside(name: str) -> bool:
    return name in OUTSIDE_FAMILIES


def outside_reason(name: str) -> str | None:
    """Why outside family ``name`` cannot run now, in one line; None when it can."""
    if name not in OUTSIDE_FAMILIES:
        return f"{name!r} is not an outside family (known: {', '.join(sorted(OUTSIDE_FAMILIES))})"
    return _REASONS[name]()


def refresh_outside() -> dict[str, str]:
    """Register every available outside family in ``FAMILIES`` and drop the unavailable ones;
    returns ``{name: reason}`` for those left out. Forgets cached worlds and restore templates,
    since a family's data may have changed under the same seeds."""
    missing = {}
    for name, cls in OUTSIDE_FAMILIES.items():
        reason = _REASONS[name]()
        if reason is None:
            FAMILIES[name] = cls
        else:
            FAMILIES.pop(name, None)
            missing[name] = reason
    _forget_cached_worlds()
    return missing


def _forget_cached_worlds() -> None:
    import sys

    runner = sys.modules.get("scenarios.runner")
    if runner is not None:
        runner.clear_world_caches()
    restore = sys.modules.get("scenarios.restore")
    if restore is not None:
        restore.clear_templates()
