"""Every harness file reaches the harness hash (popoto's version, defaults and source reach
the key too: ``tests/test_fingerprint.py``, on edited copies).

A hash that skipped ``scenarios/families/`` would let a changed family read results scored by
the old one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import scenarios
from tuner.evaluation.fingerprint import harness_hash


def test_every_harness_file_is_in_the_harness_hash(tmp_path, monkeypatch):
    """Edit each ``scenarios/**/*.py`` of a copy of the harness in turn: each edit changes the
    hash, and undoing it restores the hash."""
    copy = tmp_path / "scenarios"
    shutil.copytree(Path(scenarios.__file__).parent, copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(scenarios, "__file__", str(copy / "__init__.py"))
    original = harness_hash()
    files = sorted(copy.rglob("*.py"))
    assert any(path.parent.name == "families" for path in files)
    for path in files:
        text = path.read_text()
        path.write_text(text + "\n# edited\n")
        assert harness_hash() != original, f"{path.relative_to(copy)} is not in the hash"
        path.write_text(text)
    assert harness_hash() == original
