"""What a scored result depends on besides the values applied: popoto's state and tuner's code.

A score is a function of the scenario seed, the values applied, and everything else that was in
force when it ran:

- popoto's *state*: its version, every ``Defaults`` value (the numbers a constant not under test
  takes) and the source of every popoto module (an edited checkout installed with
  ``pip install -e`` counts: the files hashed are the ones ``import popoto`` loads);
- the scenario harness (``scenarios/**/*.py``) and tuner's override code (how a value reaches
  popoto).

The disk result cache (``tuner.evaluation.result_cache``), the memo (``engine.values_key``), the
grid studies' per-point stamps and every study's contract (``tuner.studies.contract``) are all
built from these, so an edit to popoto's defaults or code never reads a score made before it,
and a resumed study names what changed ("popoto default WILSON_CI_THRESHOLD 0.6 -> 0.8",
"popoto source changed: fields/constants.py").

Cost: hashing popoto 1.10.1's 131 source files (3.9 MB) takes 15-70 ms (idle to busy 2-core
machine) and the ``Defaults`` snapshot well under 1 ms; both are taken once per process (popoto
cannot change under a running process: its modules are already imported) and cached.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

# What popoto runs: its modules, and any script or extension a module could load. Editor swap
# files, patch leftovers and bytecode caches in a checkout being edited are not its source.
SOURCE_SUFFIXES = (".py", ".lua", ".so", ".pyd")
LISTED_FILES = 3  # source changes named in a message before "and N more"
OVERRIDES_FILE = Path(__file__).with_name("overrides.py")


def popoto_version() -> str:
    try:
        return metadata.version("popoto")
    except metadata.PackageNotFoundError:
        return "unknown"


def digest(value: object) -> str:
    """A short, stable hash of any JSON-able value (dict keys sorted)."""
    canonical = json.dumps(value, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def tree_hashes(root: Path) -> dict[str, str]:
    """Every source file under ``root`` (``SOURCE_SUFFIXES``, hidden ones aside) -> a hash of
    its bytes, by path relative to ``root``."""
    found = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.suffix not in SOURCE_SUFFIXES or not path.is_file() \
                or any(part.startswith(".") for part in relative.parts):
            continue
        found[relative.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return found


def popoto_root() -> Path:
    """The directory ``import popoto`` loads from: site-packages, or an editable checkout."""
    import popoto

    return Path(popoto.__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def popoto_source() -> dict[str, str]:
    """The source popoto runs from, file by file (``fields/constants.py`` -> hash)."""
    return tree_hashes(popoto_root())


@functools.lru_cache(maxsize=1)
def popoto_defaults() -> dict[str, Any]:
    """Every public ``Defaults`` value in force for this process, JSON-canonical.

    Taken once per process, before any value is applied (``applied_constants`` asks for it
    first), so it holds popoto's own numbers (its source's, or whatever set them before tuner
    ran) and never an override in progress.
    """
    from popoto.fields.constants import Defaults

    values = {name: value for name, value in vars(Defaults).items()
              if not name.startswith("_") and not callable(value)
              and not isinstance(value, classmethod | staticmethod | property)}
    return json.loads(json.dumps(values, sort_keys=True, default=repr))


def argument_defaults(constants: Iterable[Any]) -> dict[str, Any]:
    """The frozen default argument of every catalog constant read that way, by name."""
    from tuner.catalog.model import argument_default

    return {c.name: argument_default(c.argument) for c in constants
            if c.argument and not c.attr}


@functools.lru_cache(maxsize=1)
def popoto_state() -> dict[str, Any]:
    """popoto as this process runs it: version, ``Defaults`` numbers and source hashes."""
    return {"version": popoto_version(), "defaults": popoto_defaults(),
            "source": popoto_source()}


@functools.lru_cache(maxsize=1)
def state_digest() -> str:
    return digest(popoto_state())


def harness_hash(root: Path | None = None) -> str:
    """Hash of the scenario harness sources (``scenarios/**/*.py``, by relative path)."""
    if root is None:
        import scenarios

        root = Path(scenarios.__file__).resolve().parent
    sha = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        sha.update(path.relative_to(root).as_posix().encode() + b"\0")
        sha.update(path.read_bytes() + b"\0")
    return sha.hexdigest()[:16]


def override_hash() -> str:
    """Hash of tuner's override code (``overrides.py``): how a value is made to reach popoto."""
    return hashlib.sha256(OVERRIDES_FILE.read_bytes()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Everything but the values and the seed: harness, override code and popoto's state."""
    return digest([harness_hash(), override_hash(), state_digest()])


# --------------------------------------------------------------------------- naming changes


def value_changes(label: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``label NAME old -> new`` for every name whose value differs (added/removed say so)."""
    changes = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            changes.append(f"{label} {name} added ({new[name]!r})")
        elif name not in new:
            changes.append(f"{label} {name} removed (was {old[name]!r})")
        elif old[name] != new[name]:
            changes.append(f"{label} {name} {old[name]!r} -> {new[name]!r}")
    return changes


def source_changes(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """``popoto source changed: fields/constants.py`` (and added/removed files), shortened."""
    changes = []
    for verb, names in (
        ("changed", [n for n in sorted(set(old) & set(new)) if old[n] != new[n]]),
        ("added", sorted(set(new) - set(old))),
        ("removed", sorted(set(old) - set(new))),
    ):
        if names:
            shown = ", ".join(names[:LISTED_FILES])
            more = f" and {len(names) - LISTED_FILES} more" if len(names) > LISTED_FILES else ""
            changes.append(f"popoto source {verb}: {shown}{more}")
    return changes
