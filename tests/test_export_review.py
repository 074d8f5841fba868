"""What a maintainer receives beside the patch: popoto's own tests run before and after it, the
pull-request description (``--format pr``) and the ledger's notes (issue 23).

The checkout is a tiny made-up popoto the test writes itself: a ``constants.py`` and a test that
pins ``WILSON_CI_THRESHOLD == 0.6``, as popoto's ``test_crystallization_from_events`` encodes
the 0.6 boundary. Its tests run with this interpreter's pytest in a subprocess (seconds).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from tuner.cli import main
from tuner.decisions.ledger import Ledger, LedgerRecord
from tuner.evaluation.engine import BankSpec
from tuner.export.patch import build_export
from tuner.export.popoto_tests import run_popoto_tests, select_tests

CONSTANTS = textwrap.dedent('''\
    class Defaults:
        DECAY_RATE = 0.1  # the maintainers' reason for 0.1
        WILSON_CI_THRESHOLD = 0.6  # kept for semantic stability; test_policy pins it
''')
TESTS = textwrap.dedent('''\
    from popoto.fields.constants import Defaults


    def test_wilson_boundary():
        assert Defaults.WILSON_CI_THRESHOLD == 0.6


    def test_ci_straddles_the_old_boundary():
        ci = 0.676
        assert ci > 0.6


    class TestDecay:
        def test_decay_default(self):
            assert Defaults.DECAY_RATE == 0.1


    def test_unrelated():
        assert 1 + 1 == 2
''')


def record(constant: str, attr: str, default: float, proposal: float | None,
           decision: str = "ACCEPT", **more) -> LedgerRecord:
    return LedgerRecord(
        constant=constant, attr=attr, default=default, proposal=proposal, decision=decision,
        reason="accepted" if decision == "ACCEPT" else "not significant", detail="",
        train_delta=0.04, validation_delta=0.031, ci_low=0.012, ci_high=0.05, trials=11,
        validation_scenarios=800, study_name=f"{constant}@test", date="2026-12-06", **more)


WILSON = record("WILSON_CI_THRESHOLD", "WILSON_CI_THRESHOLD", 0.6, 0.45)
TD = record("TD_ALPHA", "TD_ALPHA", 0.1, None, decision="REJECT", certificate={
    "bound": 0.006, "text": "no value of the 5 looked at in [0.01, 0.5] beats 0.1 by more than "
                            "0.0060 (95%, 1 family)"})


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "popoto-checkout"
    package = root / "src" / "popoto"
    (package / "fields").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "fields" / "__init__.py").write_text("")
    (package / "fields" / "constants.py").write_text(CONSTANTS)
    (root / "tests").mkdir()
    (root / "tests" / "test_policy.py").write_text(TESTS)
    return root


def test_tests_naming_a_constant_or_asserting_its_old_value_are_selected(checkout):
    export = build_export([WILSON], source_text=CONSTANTS, today="2026-12-07")
    assert select_tests(checkout, export.changes) == {
        "tests/test_policy.py::test_wilson_boundary": ["WILSON_CI_THRESHOLD"],
        "tests/test_policy.py::test_ci_straddles_the_old_boundary": ["WILSON_CI_THRESHOLD"]}
    assert len(select_tests(checkout, export.changes, all_tests=True)) == 4


def test_the_test_pinning_the_old_value_is_reported_broken_and_the_checkout_untouched(checkout):
    package = checkout / "src" / "popoto"
    export = build_export([WILSON], source_text=CONSTANTS, today="2026-12-07")
    report = run_popoto_tests(package, export.changes, export.edited, timeout=120)
    assert report.before == {"tests/test_policy.py::test_wilson_boundary": "PASSED",
                             "tests/test_policy.py::test_ci_straddles_the_old_boundary": "PASSED"}
    assert report.after["tests/test_policy.py::test_wilson_boundary"] == "FAILED"
    assert [(b.test, b.constants) for b in report.broken] == [
        ("tests/test_policy.py::test_wilson_boundary", ("WILSON_CI_THRESHOLD",))]
    assert (package / "fields" / "constants.py").read_text() == CONSTANTS
    everything = run_popoto_tests(package, export.changes, export.edited, all_tests=True,
                                  timeout=120)
    assert len(everything.before) == 4 and len(everything.broken) == 1


@pytest.fixture
def storage(tmp_path: Path) -> str:
    (tmp_path / "studies").mkdir()
    ledger = Ledger(storage=f"sqlite:///{tmp_path / 'studies' / 't.db'}",
                    bank_tag=BankSpec().tag)
    for item in (WILSON, TD):
        ledger.put(item)
    ledger.set_joint({"mean": 0.03, "ci_low": 0.01, "ci_high": 0.05, "n": 800, "ready": True,
                      "confirmation": True, "bank": "b20270101n800",
                      "constants": {"WILSON_CI_THRESHOLD": 0.45}})
    return f"sqlite:///{tmp_path / 'studies' / 't.db'}"


def export(*args: str):
    # --allow-not-ready: the made-up ledger carries no replication record
    return CliRunner().invoke(main, ["export", "--allow-not-ready", *args],
                              catch_exceptions=False)


def test_export_lists_the_broken_test_in_summary_pr_and_ledger(checkout, storage, tmp_path):
    patch = tmp_path / "p.patch"
    done = export("--out", str(patch), "--storage", storage, "--popoto-src", str(checkout))
    assert done.exit_code == 0, done.output
    assert ("  BROKEN BY THE PATCH tests/test_policy.py::test_wilson_boundary (FAILED; pins "
            "WILSON_CI_THRESHOLD)") in done.output.splitlines()
    assert "+    WILSON_CI_THRESHOLD = 0.45  # kept for semantic stability; test_policy pins it" \
        in patch.read_text()

    pr = tmp_path / "pr.md"
    done = export("--format", "pr", "--out", str(pr), "--storage", storage, "--popoto-src",
                  str(checkout))
    assert done.exit_code == 0, done.output
    text = pr.read_text()
    assert ("| WILSON_CI_THRESHOLD | `src/popoto/fields/constants.py:3` (WILSON_CI_THRESHOLD) | "
            "0.6 → 0.45 | +0.0310 [+0.0120, +0.0500], 800 scenarios, bank seed 20270101 | 11 |"
            ) in text
    assert "- `tests/test_policy.py::test_wilson_boundary` (FAILED), pins WILSON_CI_THRESHOLD" \
        in text
    assert "| TD_ALPHA | 0.1 | REJECT (not significant) | no value of the 5 looked at" in text

    ledger = tmp_path / "ledger.json"
    done = export("--format", "ledger", "--out", str(ledger), "--storage", storage,
                  "--popoto-src", str(checkout))
    assert done.exit_code == 0, done.output
    payload = json.loads(ledger.read_text())
    assert [b["test"] for b in payload["popoto_tests"]["broken"]] == [
        "tests/test_policy.py::test_wilson_boundary"]
    assert set(payload["popoto_calls"]) == {"WILSON_CI_THRESHOLD", "TD_ALPHA"}


def test_the_pr_description_reads_robustness_replication_and_bank_when_present():
    from tuner.export.pull_request import pr_markdown

    export = build_export([WILSON], source_text=CONSTANTS, today="2026-12-07")
    robust = {"verdict": "conditional", "conditions": "a later shape"}  # unreadable in detail
    accepted = {**WILSON.to_dict(), "robustness": robust, "confirmation_bank": {"base_seed": 42},
                "replication": {"mean": 0.02, "ci_low": 0.01, "ci_high": 0.03, "n": 300,
                                "bank": "b7n100", "replicated": True}}
    text = pr_markdown([accepted, TD.to_dict()], {}, changes=export.changes, today="2026-12-07",
                       ledger_name="ledger")
    assert "| 0.6 → 0.45 | +0.0310 [+0.0120, +0.0500], 800 scenarios, bank seed 42 | 11 |" in text
    assert "- WILSON_CI_THRESHOLD: replicated on bank b7n100: +0.0200 [+0.0100, +0.0300] over " \
           "300 scenarios" in text
    assert "### Robustness over world variants\n\n- **WILSON_CI_THRESHOLD**: conditional" in text
    assert "Not run: export with `--popoto-src CHECKOUT`" in text
    assert "### Robustness" not in pr_markdown([WILSON], {}, changes=export.changes,
                                               today="2026-12-07", ledger_name="ledger")
