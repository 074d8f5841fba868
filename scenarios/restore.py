"""Restore a scenario's setup instead of re-seeding it.

A fresh popoto scenario spends most of its time writing records one ``save()`` at a time
(``../shared/docs/performance-facts.md``: setup and cleanup are ~95% of it). A phased family
(``scenarios.families.base.PhasedFamily``) splits its run into a setup that only the values
named in ``setup_reads`` can change and a finish that the values under test can. The first
evaluation of a (scenario, setup values) pair runs the setup, then ``DUMP``s every key of its
namespace into a per-process *template* (one pipeline); later evaluations ``RESTORE`` those
keys (one pipeline), build the evaluation's own model class under the template's class name
(so constructor-captured values are the evaluation's), rebind copies of the saved instances to
it, and run only the finish. ``tests/test_restore.py`` proves restored equals fresh.

Every phased run, fresh or restored, runs under ``scenarios.clock.frozen_clock`` at the
scenario's "now" (a restored one at its template's), so restored records are exactly as old as
freshly written ones, however long ago the template was written. Templates are kept in this
process, keyed by the Redis server they were dumped from (a dump restores only into a compatible
server); beyond ``TEMPLATE_LIMIT`` the least recently used go, which bounds memory.
"""

from __future__ import annotations

import copy
import os
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from scenarios.clock import frozen_clock
from scenarios.families.base import PhasedFamily, Prepared, Ranking, RunContext
from scenarios.world import World

TEMPLATE_LIMIT = 1024  # ~0.2 MiB each (dumps and saved instances): a bank's worth per process


@dataclass(frozen=True)
class Template:
    """One scenario's setup, as dumped: what to restore and what ``finish`` needs."""

    now: float
    class_names: tuple[str, ...]
    dumps: tuple[tuple[bytes, bytes], ...]
    prepared: Prepared


_TEMPLATES: OrderedDict[tuple, Template] = OrderedDict()


def restore_enabled() -> bool:
    """Restore unless ``TUNER_RESTORE=off`` (fresh runs only: the reference path)."""
    return os.environ.get("TUNER_RESTORE", "on").strip().lower() not in {"off", "0", "no"}


def clear_templates() -> None:
    """Forget every template (a rebind to another server, or tests that count setups)."""
    _TEMPLATES.clear()


def template_count() -> int:
    return len(_TEMPLATES)


def run_phased(
    family: PhasedFamily,
    world: World,
    ctx: RunContext,
    arguments: Mapping[str, float],
    *,
    restore: bool,
) -> Ranking:
    """Run ``world`` through ``family`` under a frozen clock, restoring its setup if asked.

    Fresh or restored, popoto's clock is frozen at the scenario's "now" (``scenarios.clock``)
    and restarts there for the finish, so a restored run is exactly a fresh one: same ages,
    same timestamps, same scores.
    """
    if not restore:
        with frozen_clock(ctx.now):
            model = family.build_model(world, ctx)
            prepared = family.setup(world, ctx, model)
        with frozen_clock(ctx.now):
            return family.finish(world, ctx, model, prepared)
    key = _template_key(family, world, arguments)
    template = _TEMPLATES.get(key)
    if template is None:
        with frozen_clock(ctx.now):
            model = family.build_model(world, ctx)
            prepared = family.setup(world, ctx, model)
        _remember(key, _capture(ctx, prepared))
        with frozen_clock(ctx.now):
            return family.finish(world, ctx, model, prepared)
    _TEMPLATES.move_to_end(key)
    ctx.now = template.now
    ctx.reuse_names = list(template.class_names)
    _restore(template.dumps)
    with frozen_clock(ctx.now):
        model = family.build_model(world, ctx)
        return family.finish(world, ctx, model, rebind(template.prepared, model))


def _template_key(family: PhasedFamily, world: World, arguments: Mapping[str, float]) -> tuple:
    from popoto.redis_db import get_REDIS_DB

    server = repr(sorted(
        (k, v) for k, v in get_REDIS_DB().connection_pool.connection_kwargs.items()
        if isinstance(v, str | int | float)
    ))
    reads = tuple((name, arguments.get(name)) for name in sorted(family.setup_reads))
    return (server, world.seed, reads)


def _remember(key: tuple, template: Template) -> None:
    _TEMPLATES[key] = template
    while len(_TEMPLATES) > TEMPLATE_LIMIT:
        _TEMPLATES.popitem(last=False)


def _capture(ctx: RunContext, prepared: Prepared) -> Template:
    """DUMP every key of the scenario's namespace in one pipeline (before ``finish`` runs)."""
    from popoto.redis_db import get_REDIS_DB

    client = get_REDIS_DB()
    keys = namespace_keys(client, ctx.class_names, ctx.extra_cleanup_patterns)
    pipe = client.pipeline(transaction=False)
    for k in keys:
        pipe.dump(k)
    payloads = pipe.execute() if keys else []
    dumps = tuple((k, p) for k, p in zip(keys, payloads, strict=True) if p is not None)
    return Template(
        now=ctx.now,
        class_names=tuple(ctx.class_names),
        dumps=dumps,
        prepared=rebind(prepared, None),
    )


def _restore(dumps: tuple[tuple[bytes, bytes], ...]) -> None:
    """RESTORE every dumped key in one pipeline (no TTL: scenario keys carry none)."""
    from popoto.redis_db import get_REDIS_DB

    pipe = get_REDIS_DB().pipeline(transaction=False)
    for key, payload in dumps:
        pipe.restore(key, 0, payload, replace=True)
    pipe.execute()


def namespace_keys(client, class_names, extra_patterns=()) -> list[bytes]:
    """Every key of the given model classes (and extra patterns), deduplicated, in scan order."""
    patterns = [f"*{name}*" for name in class_names] + list(extra_patterns)
    found = (key for pattern in patterns for key in client.scan_iter(match=pattern, count=1000))
    return list(dict.fromkeys(found))


def rebind(prepared: Prepared, model: type | None) -> Prepared:
    """A copy of ``prepared`` whose instances are of class ``model`` (kept when None).

    Instance state is plain data (field values, the saved key, the saved field values); one
    level of containers is copied so a ``finish`` that mutates it leaves the template intact.
    """
    instances = []
    for inst in prepared.instances:
        clone = object.__new__(model or type(inst))
        clone.__dict__.update(
            {k: copy.copy(v) if isinstance(v, dict | list | set) else v
             for k, v in inst.__dict__.items()}
        )
        instances.append(clone)
    return Prepared(instances=instances, state=copy.deepcopy(prepared.state))
