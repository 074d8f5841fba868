"""What a cached result and a study contract are keyed by, shown with real edits of real files.

Nothing here replaces ``code_fingerprint``, ``harness_hash`` or ``popoto_version``: each case
copies the package it edits (the scenario harness, tuner, popoto) into a temporary directory,
edits one real file there, and computes the result key and the study contract in a fresh
interpreter that imports the copy first (``PYTHONPATH``). A control copy with no edit gives the
key of this process, so every difference comes from the edit alone. A key that ignored
``scenarios/families/``, ``overrides.py``, popoto's defaults or popoto's other sources would
fail here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import popoto
import pytest

import scenarios
import tuner
from tuner.catalog import REPO_CATALOG, load_catalog
from tuner.evaluation.engine import BankSpec, values_key
from tuner.evaluation.result_cache import result_key
from tuner.studies.contract import contract_changes, study_contract

WILSON = load_catalog().resolve("WILSON_CI_THRESHOLD")
SEED = BankSpec(size=10).pools("policy_cache")[0][0]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")
PROBE = """
import json, popoto, scenarios, tuner
from tuner.catalog import load_catalog
from tuner.evaluation.engine import BankSpec, values_key
from tuner.evaluation.result_cache import result_key
from tuner.studies.contract import study_contract
wilson = load_catalog().resolve("WILSON_CI_THRESHOLD")
seed = BankSpec(size=10).pools("policy_cache")[0][0]
print(json.dumps({
    "key": result_key(values_key({wilson: 0.8}), seed),
    "base_key": result_key(values_key({}), seed),
    "memo": [values_key({wilson: 0.8}), values_key({})],
    "contract": study_contract(wilson),
    "loaded": [popoto.__file__, scenarios.__file__, tuner.__file__],
}))
"""


def here() -> dict:
    """The same figures in this process, on the installed popoto and this checkout."""
    return {"key": result_key(values_key({WILSON: 0.8}), SEED),
            "base_key": result_key(values_key({}), SEED),
            "memo": [values_key({WILSON: 0.8}), values_key({})],
            "contract": study_contract(WILSON)}


def copy_packages(root: Path, *names: str) -> Path:
    """Copies of the named packages (``popoto``, ``scenarios``, ``tuner``) under ``root``."""
    sources = {"popoto": Path(popoto.__file__).parent, "scenarios": Path(scenarios.__file__)
               .parent, "tuner": Path(tuner.__file__).parent}
    for name in names:
        shutil.copytree(sources[name], root / name, ignore=IGNORE)
    if "tuner" in names:  # the copy's shipped catalog, where tuner finds it (parents[2])
        (root / "studies").mkdir()
        shutil.copy(REPO_CATALOG, root / "studies" / "popoto.toml")
    return root


def probe(root: Path, *expect_loaded_from: str, prelude: str = "") -> dict:
    """The figures in a fresh interpreter importing first from ``root``, then from the very
    checkout this test runs (not whatever tuner is installed: a mutated copy must probe
    itself)."""
    checkout = Path(tuner.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(root), str(checkout)))}
    done = subprocess.run([sys.executable, "-c", prelude + PROBE], env=env, capture_output=True,
                          text=True, check=True, cwd=root)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    loaded = dict(zip(("popoto", "scenarios", "tuner"), result.pop("loaded"), strict=True))
    for name in expect_loaded_from:
        assert Path(loaded[name]).is_relative_to(root), f"{name} was not imported from the copy"
    result["memo"] = [[m[0], [tuple(i) for i in m[1]]] for m in result["memo"]]
    return result


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    path.write_text(text.replace(old, new))


def append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + line)


def memo(figures: dict) -> list:
    return [[m[0], [tuple(i) for i in m[1]]] for m in figures["memo"]]


@pytest.fixture(scope="module")
def baseline() -> dict:
    return here()


def test_unedited_copies_give_this_process_s_key_and_contract(tmp_path, baseline):
    """The control: copying alone changes nothing, so the cases below measure their edit; nor
    do an editor's swap file and a stray leftover in a checkout being edited."""
    root = copy_packages(tmp_path, "popoto", "scenarios", "tuner")
    (root / "popoto" / "fields" / ".constants.py.swp").write_bytes(b"\0swap")
    (root / "popoto" / "fields" / "constants.py.orig").write_text("WILSON_CI_THRESHOLD = 0.9\n")
    copied = probe(root, "popoto", "scenarios", "tuner")
    assert copied["key"] == baseline["key"]
    assert copied["memo"] == memo(baseline)
    assert contract_changes(baseline["contract"], copied["contract"]) == []


def test_an_edited_scenario_family_file_changes_key_and_contract(tmp_path, baseline):
    root = copy_packages(tmp_path, "scenarios")
    append(root / "scenarios" / "families" / "policy_cache.py", "WORLD_EDITED = True\n")
    edited = probe(root, "scenarios")
    assert edited["key"] != baseline["key"]
    (change,) = contract_changes(baseline["contract"], edited["contract"])
    assert change.startswith("scenario harness (scenarios/ sources) ")


def test_edited_override_code_changes_key_and_contract(tmp_path, baseline):
    root = copy_packages(tmp_path, "tuner")
    append(root / "tuner" / "evaluation" / "overrides.py", "OVERRIDES_EDITED = True\n")
    edited = probe(root, "tuner")
    assert edited["key"] != baseline["key"]
    (change,) = contract_changes(baseline["contract"], edited["contract"])
    assert change.startswith("tuner's override code (tuner/evaluation/overrides.py) ")


def test_an_edited_popoto_default_changes_key_and_contract_naming_it(tmp_path, baseline):
    """The stale-score case: WILSON_CI_THRESHOLD's default becomes the value under test."""
    root = copy_packages(tmp_path, "popoto")
    edit(root / "popoto" / "fields" / "constants.py", "    WILSON_CI_THRESHOLD = 0.6  #",
         "    WILSON_CI_THRESHOLD = 0.8  #")
    edited = probe(root, "popoto")
    assert edited["key"] != baseline["key"]
    assert contract_changes(baseline["contract"], edited["contract"]) == [
        "popoto default WILSON_CI_THRESHOLD 0.6 -> 0.8",
        "popoto source changed: fields/constants.py"]
    # keyed by the numbers in force: 0.8 applied is popoto's own number now, so it is the same
    # run as applying nothing, and neither is the run of 0.8 over the old default of 0.6
    applied, nothing = edited["memo"]
    assert applied == nothing and applied[0] != memo(baseline)[0][0]


def test_a_default_changed_before_tuner_runs_changes_key_and_contract(tmp_path, baseline):
    """No source edit: popoto's number is set when the process starts (a site customisation,
    or a popoto that reads a default from the environment). Only the ``Defaults`` snapshot
    can see it, so a key without it would serve the old default's scores."""
    prelude = ("from popoto.fields.constants import Defaults\n"
               "Defaults.WILSON_CI_THRESHOLD = 0.8\n")
    edited = probe(tmp_path, prelude=prelude)
    assert edited["key"] != baseline["key"]
    # the default's own score (nothing applied) must not be served from before the change
    assert edited["base_key"] != baseline["base_key"]
    assert contract_changes(baseline["contract"], edited["contract"]) == [
        "popoto default WILSON_CI_THRESHOLD 0.6 -> 0.8"]


def test_edited_popoto_code_changes_key_and_contract_naming_the_file(tmp_path, baseline):
    root = copy_packages(tmp_path, "popoto")
    edit(root / "popoto" / "fields" / "co_occurrence_field.py", "        delta=0.05,\n",
         "        delta=0.06,\n")
    edited = probe(root, "popoto")
    assert edited["key"] != baseline["key"]
    assert contract_changes(baseline["contract"], edited["contract"]) == [
        "popoto default argument delta 0.05 -> 0.06",
        "popoto source changed: fields/co_occurrence_field.py"]


def test_another_popoto_version_changes_key_and_contract(tmp_path, baseline):
    """A distribution found first on the path is the one ``importlib.metadata`` reports."""
    info = tmp_path / "popoto-1.11.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: popoto\nVersion: 1.11.0\n")
    edited = probe(tmp_path)
    assert edited["key"] != baseline["key"]
    assert contract_changes(baseline["contract"], edited["contract"]) == [
        "popoto 1.10.1 -> 1.11.0"]
