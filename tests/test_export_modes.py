"""Export every accepted value where popoto reads it, in one patch; and the other formats.

Each read mode of the catalog is patched on a copy of the installed popoto laid out as a
checkout (``src/popoto``), applied with the real ``git apply``, and the copy is imported in a
fresh interpreter to see the new value where popoto's code reads it: the ``Defaults`` attribute,
the module alias bound at import, the default argument frozen into a signature.
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
from test_export import (
    SOURCE,
    TODAY,
    export,
    fill_ledger,
    record,
    require_tool,
    run_tool,
    storage,  # noqa: F401 - a fixture
)

from tuner.catalog import load_catalog
from tuner.decisions.ledger_file import read_ledger_file
from tuner.export.patch import build_export

INSTALLED = Path(popoto.__file__).parent
CATALOG = load_catalog()
# One catalog constant per read mode, and the value the ratchet "accepted" for it.
BY_MODE = {"K": ("decay_rate", 0.25), "A": ("WILSON_CI_THRESHOLD", 0.7),
           "C": ("_wf_min_threshold", 0.15), "A+D": ("TD_ALPHA", 0.2), "arg": ("delta", 0.08),
           "dead": ("CHI_SQUARED_P_THRESHOLD", 0.01)}
# What the patched copy must show, read in a fresh interpreter after importing it.
PROBE = """
import inspect, json, popoto
from popoto.fields.constants import Defaults
from popoto.fields.co_occurrence_field import CoOccurrenceField
import popoto.recipes.policy_cache as pc
print(json.dumps({
    "file": popoto.__file__,
    "DECAY_RATE": Defaults.DECAY_RATE, "WF_MIN_THRESHOLD": Defaults.WF_MIN_THRESHOLD,
    "CHI_SQUARED_P_THRESHOLD": Defaults.CHI_SQUARED_P_THRESHOLD,
    "WILSON alias": pc.WILSON_CI_THRESHOLD,
    "update_q_value(alpha)": inspect.signature(pc.update_q_value).parameters["alpha"].default,
    "strengthen(delta)": inspect.signature(CoOccurrenceField.strengthen).parameters["delta"]
        .default,
}))
"""


def accepted(name: str, value: float):
    constant = CATALOG.resolve(name)
    return record(constant.name, constant.attr, constant.default(), value)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the installed popoto laid out as popoto's repository: <root>/src/popoto."""
    root = tmp_path / "popoto-checkout"
    shutil.copytree(INSTALLED, root / "src" / "popoto",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


def probe(src: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, check=True, cwd=src)
    values = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(values.pop("file")).is_relative_to(src), "imported the installed popoto"
    return values


def test_every_read_mode_exports_as_one_patch_that_applies_and_imports(checkout, tmp_path):
    git = require_tool("git")
    records = [accepted(name, value) for name, value in BY_MODE.values()]
    arguments = {c.name: c.argument for c in CATALOG if c.argument}
    root = checkout / "src" / "popoto"
    result = build_export(records, source_text=SOURCE, today=TODAY, arguments=arguments,
                          root=root)
    assert result.skipped == ()
    assert {(c.file, c.attr) for c in result.changes} == {
        ("src/popoto/fields/constants.py", "DECAY_RATE"),
        ("src/popoto/fields/constants.py", "WILSON_CI_THRESHOLD"),
        ("src/popoto/fields/constants.py", "WF_MIN_THRESHOLD"),
        ("src/popoto/fields/constants.py", "TD_ALPHA"),
        ("src/popoto/fields/constants.py", "CHI_SQUARED_P_THRESHOLD"),
        ("src/popoto/fields/co_occurrence_field.py", "CoOccurrenceField.strengthen(delta)")}
    assert "\n--- a/src/popoto/fields/co_occurrence_field.py\n" in result.patch
    assert "\n+        # tuner 2026-05-01: 0.05 -> 0.08, train +0.0800" in result.patch
    assert "\n+        delta=0.08,\n" in result.patch
    before = probe(root.parent)
    patch_file = tmp_path / "all.patch"
    patch_file.write_text(result.patch)
    subprocess.run([git, "init", "-q"], cwd=checkout, check=True)
    run_tool([git, "apply", "--check"], checkout, patch_file)
    run_tool([git, "apply"], checkout, patch_file)
    assert before == {"DECAY_RATE": 0.1, "WF_MIN_THRESHOLD": 0.1,
                      "CHI_SQUARED_P_THRESHOLD": 0.05, "WILSON alias": 0.6,
                      "update_q_value(alpha)": 0.1, "strengthen(delta)": 0.05}
    assert probe(root.parent) == {"DECAY_RATE": 0.25, "WF_MIN_THRESHOLD": 0.15,
                           "CHI_SQUARED_P_THRESHOLD": 0.01, "WILSON alias": 0.7,
                           "update_q_value(alpha)": 0.2, "strengthen(delta)": 0.08}


def test_a_signature_that_is_not_a_literal_is_listed_and_the_rest_still_applies(checkout):
    root = checkout / "src" / "popoto"
    target = root / "fields" / "co_occurrence_field.py"
    text = target.read_text()
    target.write_text(text.replace("        delta=0.05,\n", "        delta=DELTA,\n", 1))
    line = text.splitlines().index("        delta=0.05,") + 1
    result = build_export([accepted("delta", 0.08), accepted("WILSON_CI_THRESHOLD", 0.7)],
                          source_text=SOURCE, today=TODAY, root=root,
                          arguments={"delta": CATALOG.resolve("delta").argument})
    assert [c.attr for c in result.changes] == ["WILSON_CI_THRESHOLD"]
    (skipped,) = result.skipped
    assert (skipped.constant, skipped.where) == (
        "delta", f"src/popoto/fields/co_occurrence_field.py:{line}")
    assert skipped.why == ("CoOccurrenceField.strengthen(delta) in fields/co_occurrence_field.py "
                           "is `DELTA`, not a plain numeric literal; edit it by hand")


def test_a_signature_repeating_a_defaults_number_is_patched_with_it(tmp_path):
    """Mode D with an attribute: the number lives in constants.py and, as a literal of its own,
    in the signature; both change."""
    root = tmp_path / "popoto"
    (root / "fields").mkdir(parents=True)
    constants = "class Defaults:\n    X = 0.5  # old\n"
    (root / "fields" / "constants.py").write_text(constants)
    (root / "fields" / "thing.py").write_text("def f(a, x=0.5):\n    return x\n")
    result = build_export([record("x", "X", 0.5, 0.75)], source_text=constants, today=TODAY,
                          root=root, arguments={"x": "popoto.fields.thing:f:x"}, layout="wheel")
    assert [(c.file, c.attr, c.new) for c in result.changes] == [
        ("popoto/fields/constants.py", "X", "0.75"), ("popoto/fields/thing.py", "f(x)", "0.75")]


def test_cli_exports_the_mixed_set_as_one_patch(storage, checkout, tmp_path):  # noqa: F811
    """The case that exported nothing at all: an attribute and a default argument accepted."""
    fill_ledger(storage, accepted("WILSON_CI_THRESHOLD", 0.7), accepted("delta", 0.08))
    out = tmp_path / "p.patch"
    result = export("--out", str(out), "--storage", storage, "--popoto-src", str(checkout))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:3] == [
        f"wrote {out}: 2 constant(s) of {checkout / 'src/popoto/fields/constants.py'} and 1 "
        "other file(s)", "  WILSON_CI_THRESHOLD: 0.6 -> 0.7",
        "  CoOccurrenceField.strengthen(delta): 0.05 -> 0.08"]


def test_config_format_sets_every_value_where_popoto_reads_it(storage, tmp_path):  # noqa: F811
    ledger = fill_ledger(storage, accepted("WILSON_CI_THRESHOLD", 0.7), accepted("delta", 0.08),
                         accepted("decay_rate", 0.25))
    ledger.set_joint({**ledger.joint(), "incumbent": {"TD_ALPHA": 0.2}})
    out = tmp_path / "startup.py"
    result = export("--out", str(out), "--storage", storage, "--format", "config")
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "Defaults.WILSON_CI_THRESHOLD = 0.7  # tuner 2026-05-01: train +0.0800" in text
    assert "popoto.recipes.policy_cache.WILSON_CI_THRESHOLD = 0.7  # alias bound at import" in text
    assert "# delta = 0.08: an argument only (no Defaults attribute): pass delta=0.08 to " \
           "CoOccurrenceField.strengthen (popoto.fields.co_occurrence_field)" in text
    assert "Defaults.TD_ALPHA = 0.2  # incumbent" in text
    check = (f"exec(open({str(out)!r}).read())\n"
             "import popoto.recipes.policy_cache as pc\n"
             "print(Defaults.WILSON_CI_THRESHOLD, pc.WILSON_CI_THRESHOLD, Defaults.DECAY_RATE, "
             "pc.TD_ALPHA, Defaults.TD_ALPHA)")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["0.7", "0.7", "0.25", "0.2", "0.2"]


def test_ledger_format_round_trips_for_tuner_check(storage, tmp_path):  # noqa: F811
    ledger = fill_ledger(storage, accepted("WILSON_CI_THRESHOLD", 0.7),
                         record("TD_ALPHA", "TD_ALPHA", 0.1, 0.3, decision="REJECT"))
    out = tmp_path / "popoto-ledger.json"
    result = export("--out", str(out), "--storage", storage, "--format", "ledger", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["values"] == {"WILSON_CI_THRESHOLD": 0.7}
    snapshot = read_ledger_file(out)
    assert [r["constant"] for r in snapshot.records] == ["WILSON_CI_THRESHOLD", "TD_ALPHA"]
    assert snapshot.joint == ledger.joint() and snapshot.bank == "b20261123n100"
    assert snapshot.meta["source"] == f"tuner-ratchet-ledger@b20261123n100 in {storage}"
