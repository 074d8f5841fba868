"""What scored results depend on besides the values: popoto's version and the scenario harness.

A study's contract (``tuner.studies.contract``) and the disk result cache's key
(``tuner.evaluation.result_cache``) both record them, so a changed harness or popoto is never
mixed with results scored before it.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path


def popoto_version() -> str:
    try:
        return metadata.version("popoto")
    except metadata.PackageNotFoundError:
        return "unknown"


def harness_hash() -> str:
    """Hash of the scenario harness sources (``scenarios/**/*.py``, by relative path)."""
    import scenarios

    root = Path(scenarios.__file__).resolve().parent
    sha = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        sha.update(path.relative_to(root).as_posix().encode() + b"\0")
        sha.update(path.read_bytes() + b"\0")
    return sha.hexdigest()[:16]
