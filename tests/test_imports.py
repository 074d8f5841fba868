"""The import structure: every module imports on its own, no circles, imports point one way.

Layers, lowest first (``docs/architecture.md``): a module may import its own layer or a lower
one, never a higher one; modules of one layer (e.g. ``decisions`` and ``sweeps``) may import
each other as long as no circle forms, between modules or between tuner's packages.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tuner", "scenarios")

LAYERS: dict[str, int] = {
    "scenarios": 0,  # the frozen harness: never imports tuner
    "tuner": 1,  # the package itself (a docstring and a version)
    "tuner.defaults": 1,
    "tuner.catalog": 2,
    "tuner.infra": 2,
    "tuner.evaluation": 3,
    "tuner.studies": 4,
    "tuner.decisions": 5,
    "tuner.sweeps": 5,
    "tuner.sensitivity": 5,
    "tuner.export": 5,
    "tuner.views": 6,
    "tuner.cli": 7,
}
# Package __init__ files that may import: the catalog re-exports its public names, the CLI
# registers its command groups, scenarios and its families expose the harness.
IMPORTING_INITS = {"tuner.catalog", "tuner.cli", "scenarios", "scenarios.families"}


def module_files() -> dict[str, Path]:
    """Every module of tuner/ and scenarios/ by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return dict(sorted(found.items()))


MODULES = module_files()


def layer_of(module: str) -> tuple[str, int]:
    """The most specific entry of ``LAYERS`` that contains ``module``."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return prefix, LAYERS[prefix]
    raise AssertionError(f"{module} has no layer in LAYERS: add its package there")


def _resolve(name: str) -> str | None:
    """The module of ours that importing ``name`` loads (its longest known prefix)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in MODULES:
            return prefix
    return None


def imports_of(module: str) -> set[str]:
    """Our modules that ``module`` imports anywhere: at top level, in functions, for typing."""
    tree = ast.parse(MODULES[module].read_text())
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(_resolve(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # ``from pkg import mod`` loads pkg.mod; ``from mod import name`` loads mod.
                target = f"{base}.{alias.name}"
                found.add(target if target in MODULES else _resolve(base))
    found.discard(None)
    found.discard(module)
    return found  # type: ignore[return-value]


def import_graph() -> dict[str, set[str]]:
    return {module: imports_of(module) for module in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_between_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_no_import_cycle_between_tuner_packages():
    packages: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        if module.startswith("tuner."):
            here = layer_of(module)[0]
            packages.setdefault(here, set()).update(
                layer_of(t)[0] for t in targets
                if t.startswith("tuner.") and layer_of(t)[0] != here)
    cycle = find_cycle(packages)
    assert cycle is None, "packages import each other: " + " -> ".join(cycle)


def test_no_module_imports_a_higher_layer():
    upward = []
    for module, targets in import_graph().items():
        package, level = layer_of(module)
        for target in sorted(targets):
            target_package, target_level = layer_of(target)
            if target_level > level:
                upward.append(f"{module} ({package}, layer {level}) imports {target} "
                              f"({target_package}, layer {target_level})")
    assert not upward, "\n".join(upward)


def test_package_inits_hold_only_a_docstring():
    """No re-exports (they make circles and slow imports) except where listed."""
    for module, path in MODULES.items():
        if path.name != "__init__.py" or module in IMPORTING_INITS:
            continue
        body = ast.parse(path.read_text()).body
        assert body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant), \
            f"{module} has no docstring saying what the package owns"
        assert not [n for n in body if isinstance(n, ast.Import | ast.ImportFrom)], \
            f"{module} imports; package __init__ files hold only a docstring"


# Runs in a fresh interpreter. Sorted order, one after another, then each module alone: every
# module of ours is dropped from sys.modules before it is imported, so a module that only imports
# once some other module of ours is loaded (what a circle breaks) fails here.
IMPORT_SCRIPT = """
import importlib, json, sys, traceback
names = json.loads(sys.argv[1])
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except Exception:
        failed["in order: " + name] = traceback.format_exc(limit=3)
for name in names:
    for loaded in [m for m in sys.modules if m.split(".")[0] in ("tuner", "scenarios")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed["alone: " + name] = traceback.format_exc(limit=3)
print(json.dumps(failed))
"""


def test_every_module_imports_in_sorted_order_and_alone_in_a_fresh_interpreter():
    names = [m for m in MODULES if not m.endswith("__main__")]  # __main__ runs the CLI
    done = subprocess.run([sys.executable, "-c", IMPORT_SCRIPT, json.dumps(names)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    failed = json.loads(done.stdout.strip().splitlines()[-1])
    assert not failed, "\n".join(f"{name}:\n{trace}" for name, trace in failed.items())


def test_the_checks_see_a_circle():
    """The cycle finder and the graph builder catch what they are for."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert "tuner.catalog.errors" in imports_of("tuner.catalog.checks")
    assert "tuner.evaluation.engine" in imports_of("tuner.evaluation.workers")  # in a function
