"""What a scored result depends on: every harness file, and popoto's version, reach the key.

The contract and the result cache are tested elsewhere with these functions replaced; here
they run on real files. A hash that skipped ``scenarios/families/`` would let a changed family
read results scored by the old one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import scenarios
from scenarios.seeds import draw_seed
from tuner.evaluation import fingerprint
from tuner.evaluation.fingerprint import harness_hash
from tuner.evaluation.result_cache import code_fingerprint, result_key


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


def test_the_result_key_changes_with_popotos_version(monkeypatch):
    """The same values and scenario under another popoto are another cache entry."""
    seed = draw_seed("decay", 1)
    code_fingerprint.cache_clear()
    try:
        before = result_key((), seed)
        monkeypatch.setattr(fingerprint, "popoto_version", lambda: "0.0.0-another")
        code_fingerprint.cache_clear()
        assert result_key((), seed) != before
    finally:
        monkeypatch.undo()
        code_fingerprint.cache_clear()
    assert result_key((), seed) == before
