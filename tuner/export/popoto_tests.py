"""popoto's own tests, run before and after the patch, before the patch is offered.

popoto's maintainers keep decisions in their tests: ``test_crystallization_from_events`` encodes
the 0.6 boundary of ``WILSON_CI_THRESHOLD``. A patch that breaks such a test is still worth
offering (the test may pin an arbitrary number), but the reviewer must see it first. So, with a
checkout that has tests, the export copies it to a temporary directory, runs the tests that touch
a changed constant (they name it, or assert on its old value; ``--all-tests``: every test) with
this interpreter's pytest, applies the patch to the copy, runs them again, and lists each test
that passed before and fails after, with the constant(s) it pins. The checkout itself is never
touched, and a failing test never blocks the export: it is listed.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tuner.export.patch import Change

DEFAULT_TIMEOUT = 600.0  # seconds per pytest run (before, after)
IGNORED = (".git", ".hg", ".venv", "venv", ".tox", ".nox", "node_modules", "__pycache__",
           "*.pyc", "build", "dist", ".mypy_cache", ".pytest_cache", ".ruff_cache")
OUTCOME = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+)")


@dataclass(frozen=True)
class BrokenTest:
    """A test that passed before the patch and fails after it, and what it pins."""

    test: str  # pytest node id, relative to the checkout
    constants: tuple[str, ...]
    after: str  # "FAILED" or "ERROR"


@dataclass
class TestReport:
    """What ran, how each selected test fared before and after, and what broke."""

    checkout: str
    selected: dict[str, list[str]] = field(default_factory=dict)  # node id -> constants
    before: dict[str, str] = field(default_factory=dict)  # node id -> outcome
    after: dict[str, str] = field(default_factory=dict)
    broken: list[BrokenTest] = field(default_factory=list)
    note: str = ""  # why nothing ran, or what went wrong running it
    all_tests: bool = False
    seconds: float = 0.0

    @property
    def ran(self) -> bool:
        return bool(self.before)

    def failing_before(self) -> list[str]:
        return sorted(t for t, o in self.before.items() if o in ("FAILED", "ERROR"))

    def summary(self) -> str:
        """One line: what ran and what the patch broke."""
        if not self.ran:
            return f"popoto's tests not run: {self.note}" if self.note else \
                "popoto's tests not run"
        which = "all of popoto's tests" if self.all_tests else (
            f"{len(self.selected)} popoto test(s) touching the changed constants")
        if not self.broken:
            return (f"{which}: {len(self.before)} run, none broken by the patch "
                    f"({len(self.failing_before())} failing before it too)")
        return (f"{which}: {len(self.broken)} BROKEN by the patch: "
                + "; ".join(f"{b.test} (pins {', '.join(b.constants)})" for b in self.broken))

    def to_dict(self) -> dict:
        data = asdict(self)
        data["summary"] = self.summary()
        data["failing_before"] = self.failing_before()
        return data


# --------------------------------------------------------------------------- which tests


def checkout_root(package: Path) -> Path | None:
    """The checkout holding popoto's package directory and its tests: ``src/popoto`` -> the
    directory above ``src``; ``popoto`` -> its parent; None when no ``tests`` is in sight."""
    for candidate in (package.parent, package.parent.parent):
        if (candidate / "tests").is_dir():
            return candidate
    return None


def test_files(root: Path) -> list[Path]:
    """popoto's test modules under ``root`` (skipping virtualenvs, caches and VCS data)."""
    skip = {p for p in IGNORED if "*" not in p}
    return sorted(p for pattern in ("test_*.py", "*_test.py") for p in root.rglob(pattern)
                  if not skip.intersection(p.relative_to(root).parts))


def pins(changes: Sequence[Change]) -> dict[str, tuple[str, float]]:
    """Constant -> (the name a test would use, the old value an assertion would hold)."""
    found = {}
    for change in changes:
        name = change.attr.split("(")[-1].rstrip(")") if "(" in change.attr else change.attr
        found[change.constant] = (name, float(change.old))
    return found


def select_tests(root: Path, changes: Sequence[Change], *,
                 all_tests: bool = False) -> dict[str, list[str]]:
    """Node id -> the changed constants the test touches (by name, or by the old value in one
    of its assertions); every test with ``all_tests`` (touching nothing: an empty list)."""
    wanted = pins(changes)
    selected: dict[str, list[str]] = {}
    for path in test_files(root):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        rel = path.relative_to(root).as_posix()
        for node_id, function in _tests_in(tree, rel):
            touched = [c for c, (name, old) in wanted.items() if _touches(function, name, old)]
            if touched or all_tests:
                selected[node_id] = touched
    return selected


def _tests_in(tree: ast.Module, rel: str) -> Iterable[tuple[str, ast.AST]]:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test"):
            yield f"{rel}::{node.name}", node
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and \
                        item.name.startswith("test"):
                    yield f"{rel}::{node.name}::{item.name}", item


def _touches(function: ast.AST, name: str, old: float) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and node.id == name:
            return True
        if isinstance(node, ast.Attribute) and node.attr == name:
            return True
        if isinstance(node, ast.Assert) and any(
                isinstance(c, ast.Constant) and isinstance(c.value, int | float)
                and not isinstance(c.value, bool) and float(c.value) == old
                for c in ast.walk(node.test)):
            return True
    return False


# --------------------------------------------------------------------------- running them


def run_popoto_tests(package: Path, changes: Sequence[Change], edited: Mapping[str, str], *,
                     all_tests: bool = False, timeout: float = DEFAULT_TIMEOUT) -> TestReport:
    """Run the tests touching ``changes`` on a copy of the checkout, before and after the patch.

    ``package`` is popoto's package directory in the checkout (``.../src/popoto``); ``edited``
    maps each patched file (relative to it) to its text after the patch.
    """
    root = checkout_root(package)
    if root is None:
        return TestReport(checkout=str(package), note=f"no tests/ next to {package}",
                          all_tests=all_tests)
    report = TestReport(checkout=str(root), all_tests=all_tests)
    report.selected = select_tests(root, changes, all_tests=all_tests)
    if not report.selected:
        report.note = "no test names a changed constant or asserts on its old value"
        return report
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tuner-popoto-tests-") as tmp:
        copy = Path(tmp) / "checkout"
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)
        package_dir = copy / package.relative_to(root)
        ids = sorted(report.selected)
        report.before, note = _pytest(copy, package_dir, ids, timeout)
        for file, text in edited.items():
            (package_dir / file).write_text(text, encoding="utf-8")
        report.after, note_after = _pytest(copy, package_dir, ids, timeout)
        report.note = "; ".join(n for n in (note, note_after) if n)
    report.seconds = round(time.perf_counter() - started, 1)
    report.broken = [BrokenTest(test, tuple(report.selected.get(_function_id(test), ())), after)
                     for test, after in sorted(report.after.items())
                     if after in ("FAILED", "ERROR") and report.before.get(test) == "PASSED"]
    return report


def _function_id(node_id: str) -> str:
    """``tests/t.py::test_x[0.6]`` -> ``tests/t.py::test_x`` (what the selection names)."""
    return node_id.split("[", 1)[0]


def _pytest(copy: Path, package_dir: Path, ids: list[str],
            timeout: float) -> tuple[dict[str, str], str]:
    """Outcome per node id of one pytest run on the copy (this interpreter, a subprocess)."""
    args = [sys.executable, "-m", "pytest", "-rA", "-q", "--no-header", "-p", "no:cacheprovider",
            "-o", "addopts=", "-W", "ignore::DeprecationWarning"]
    if not (package_dir / "pytest_plugin.py").is_file():
        args += ["-p", "no:popoto"]  # the installed popoto's plugin would import another popoto
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(package_dir.parent), env.get("PYTHONPATH", "")])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    try:
        done = subprocess.run([*args, *ids], cwd=copy, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {}, f"pytest timed out after {timeout:.0f} s"
    outcomes = {}
    for line in done.stdout.splitlines():
        match = OUTCOME.match(line)
        if match:
            outcomes[match.group(2)] = match.group(1)
    if not outcomes:
        tail = (done.stdout.strip().splitlines() or done.stderr.strip().splitlines() or [""])
        return {}, f"pytest reported no outcome (exit {done.returncode}: {tail[-1][:200]})"
    return outcomes, ""
