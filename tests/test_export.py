"""``tuner export``: the ledger's accepted proposals as a patch people review and apply.

The patch is checked the way people will use it: ``git apply`` and ``patch -p1`` on a copy of
the installed popoto, then importing the copy to see the new values. Those tools are real
requirements; when one is missing the test skips loudly, and fails under CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import optuna
import popoto
import pytest
from click.testing import CliRunner
from conftest import require_server

from tuner.cli import main
from tuner.decisions.ledger import Ledger, LedgerRecord
from tuner.evaluation.engine import BankSpec
from tuner.export.patch import ExportError, build_export, build_patch
from tuner.export.proposals import locate_source

INSTALLED = Path(popoto.__file__).parent
SOURCE = (INSTALLED / "fields" / "constants.py").read_text(encoding="utf-8")
EVIDENCE = "train +0.0800, validation +0.0500 [+0.0300, +0.0700], 40 trials"


def evidence(indent: str, old: str, new: str, date: str = "2026-05-01") -> str:
    """The tuner's own comment line, above the changed value."""
    return f"{indent}# tuner {date}: {old} -> {new}, {EVIDENCE}"
TODAY = "2026-06-01"


def record(constant: str, attr: str | None, default: float, proposal: float | None,
           decision: str = "ACCEPT", **overrides) -> LedgerRecord:
    fields = dict(
        constant=constant, attr=attr, default=default, proposal=proposal, decision=decision,
        reason="accepted" if decision == "ACCEPT" else "no_gain", detail="", train_delta=0.08,
        validation_delta=0.05, ci_low=0.03, ci_high=0.07, trials=40, validation_scenarios=15,
        study_name=f"{constant}@test", date="2026-05-01T12:34:56",
        replication=REPLICATED if decision == "ACCEPT" else None,  # issue 22: export needs it
    )
    fields.update(overrides)
    return LedgerRecord(**fields)


REPLICATED = {"bank": "b21270104n800", "n": 100, "mean": 0.03, "ci_low": 0.01, "ci_high": 0.05,
              "replicated": True, "reason": ""}


DECAY = record("decay_rate", "DECAY_RATE", 0.1, 0.1337291823)
ACTED = record("ACTED_CYCLE_STRENGTHEN_FACTOR", "ACTED_CYCLE_STRENGTHEN_FACTOR", 1.2, 1.5)
MIN_EVENTS = record("MIN_EVENTS_FOR_CRYSTALLIZATION", "MIN_EVENTS_FOR_CRYSTALLIZATION", 3, 5.0)
TD_REJECTED = record("TD_ALPHA", "TD_ALPHA", 0.1, 0.3, decision="REJECT")


def changed_lines(patch: str) -> tuple[list[str], list[str]]:
    """(removed, added) body lines of a unified diff, without the file headers."""
    body = [line for line in patch.splitlines() if not line.startswith(("---", "+++"))]
    return ([line[1:] for line in body if line.startswith("-")],
            [line[1:] for line in body if line.startswith("+")])


# -- build_patch on the real constants.py -------------------------------------------------------

def test_single_line_constant_changes_the_value_only_and_keeps_the_maintainers_comment():
    removed, added = changed_lines(build_patch([DECAY], source_text=SOURCE, today=TODAY))
    assert removed == ["    DECAY_RATE = 0.1  # best from sweep 2026-04-20, variance=0.067, "
                       "prior=0.1 (stable)"]
    assert added == [evidence("    ", "0.1", "0.133729"),
                     "    DECAY_RATE = 0.133729  # best from sweep 2026-04-20, variance=0.067, "
                     "prior=0.1 (stable)"]


def test_wilson_keeps_its_reasons_and_the_test_it_names_and_applies_to_popoto_1_10_1(
        wheel_copy, tmp_path):
    """popoto's comment on WILSON_CI_THRESHOLD records why 0.6 was kept and which test pins
    it; the patch must keep it word for word (issue 23) and still apply to popoto 1.10.1."""
    wilson = record("WILSON_CI_THRESHOLD", "WILSON_CI_THRESHOLD", 0.6, 0.45)
    patch = build_patch([wilson], source_text=SOURCE, layout="wheel", today=TODAY)
    (old,), added = changed_lines(patch)
    assert "semantic stability" in old and "test_crystallization_from_events" in old
    assert added == [evidence("    ", "0.6", "0.45"),
                     old.replace("WILSON_CI_THRESHOLD = 0.6  #", "WILSON_CI_THRESHOLD = 0.45  #")]
    assert popoto.__version__ == "1.10.1"
    patch_file = tmp_path / "wilson.patch"
    patch_file.write_text(patch)
    run_tool([require_tool("git"), "apply", "--check"], wheel_copy, patch_file)
    run_tool([require_tool("git"), "apply", "--check"], INSTALLED.parent, patch_file)  # read-only


def test_parenthesized_constant_keeps_its_parentheses_and_indentation():
    patch = build_patch([ACTED], source_text=SOURCE, today=TODAY)
    removed, added = changed_lines(patch)
    assert removed == ["        1.2  # empirically inert (sweep 2026-04-20, variance=0.0)"]
    assert added == [evidence("        ", "1.2", "1.5"),
                     "        1.5  # empirically inert (sweep 2026-04-20, variance=0.0)"]
    assert "\n     ACTED_CYCLE_STRENGTHEN_FACTOR = (\n-        1.2" in patch
    assert "\n+        1.5  # empirically inert (sweep 2026-04-20, variance=0.0)\n     )\n" in patch


def test_only_accepted_records_appear_and_ints_stay_ints():
    export = build_export([TD_REJECTED, DECAY, MIN_EVENTS], source_text=SOURCE, today=TODAY)
    assert [(c.attr, c.old, c.new) for c in export.changes] == [
        ("DECAY_RATE", "0.1", "0.133729"), ("MIN_EVENTS_FOR_CRYSTALLIZATION", "3", "5")]
    removed, added = changed_lines(export.patch)
    assert len(removed) == 2 and len(added) == 4
    assert not any("TD_ALPHA" in line for line in removed + added)
    assert evidence("    ", "3", "5") in added
    assert any(line.startswith("    MIN_EVENTS_FOR_CRYSTALLIZATION = 5  # empirically inert")
               for line in added)


@pytest.mark.parametrize("layout, path", [("repo", "src/popoto/fields/constants.py"),
                                          ("wheel", "popoto/fields/constants.py")])
def test_layouts_name_the_file_with_a_and_b_prefixes(layout, path):
    patch = build_patch([DECAY], source_text=SOURCE, layout=layout, today=TODAY)
    assert f"\n--- a/{path}\n+++ b/{path}\n@@ " in patch
    assert patch.startswith(f"tuner export {TODAY}: 1 accepted proposal(s) for {path}\n")


def test_nothing_accepted_gives_an_empty_patch():
    assert build_patch([TD_REJECTED], source_text=SOURCE, today=TODAY) == ""


def test_missing_evidence_prints_n_a_and_a_record_without_date_uses_today():
    bare = record("decay_rate", "DECAY_RATE", 0.1, 0.2, train_delta=None, ci_low=None,
                  ci_high=None, date="")
    _, added = changed_lines(build_patch([bare], source_text=SOURCE, today=TODAY))
    assert added[0] == ("    # tuner 2026-06-01: 0.1 -> 0.2, train n/a, validation +0.0500 "
                        "[n/a, n/a], 40 trials")


# -- refusals --------------------------------------------------------------------------------

def test_refuses_when_the_source_value_is_not_the_studied_default():
    stale = record("decay_rate", "DECAY_RATE", 0.3, 0.2)
    with pytest.raises(ExportError) as info:
        build_patch([stale], source_text=SOURCE, today=TODAY, source_name="constants.py")
    assert str(info.value) == (
        "Defaults.DECAY_RATE is 0.1 in constants.py but the ledger's study ran against 0.3; "
        "rerun `tuner ratchet` against this popoto")


def test_an_attribute_the_source_does_not_have_is_listed_and_the_rest_patched():
    ghost = record("ghost", "NO_SUCH_CONSTANT", 0.1, 0.2)
    export = build_export([ghost, DECAY], source_text=SOURCE, today=TODAY)
    assert [c.attr for c in export.changes] == ["DECAY_RATE"]
    (skipped,) = export.skipped
    line = SOURCE.splitlines().index("class Defaults:") + 1
    assert (skipped.constant, skipped.file, skipped.line) == (
        "ghost", "src/popoto/fields/constants.py", line)
    assert skipped.why.startswith("Defaults.NO_SUCH_CONSTANT is not assigned in ")
    assert f"  NOT PATCHED ghost -> 0.2 (src/popoto/fields/constants.py:{line}): " in \
        export.patch.split("\n\n")[0]


def test_an_argument_constant_the_catalog_does_not_locate_is_listed_not_blocking():
    delta = record("delta", None, 0.05, 0.1)
    export = build_export([DECAY, delta], source_text=SOURCE, today=TODAY)
    assert [c.attr for c in export.changes] == ["DECAY_RATE"]
    (skipped,) = export.skipped
    assert skipped.constant == "delta" and "the catalog does not locate" in skipped.why


@pytest.mark.parametrize("line, shown", [
    ("    X = float('inf')  # c\n", "`float('inf')`"),
    ("    X = True\n", "`True`"),
])
def test_values_that_are_not_numeric_literals_are_listed_with_file_and_line(line, shown):
    source = f"class Defaults:\n    Y = 1.0\n{line}"
    export = build_export([record("x", "X", 1.0, 2.0), record("y", "Y", 1.0, 3.0)],
                          source_text=source, today=TODAY)
    assert [c.attr for c in export.changes] == ["Y"]
    (skipped,) = export.skipped
    assert (skipped.file, skipped.line) == ("src/popoto/fields/constants.py", 3)
    assert skipped.why == (f"Defaults.X in fields/constants.py is {shown}, not a plain numeric "
                           "literal; edit it by hand")


def test_a_whole_number_constant_with_a_fractional_proposal_is_listed():
    export = build_export([record("m", "MIN_EVENTS_FOR_CRYSTALLIZATION", 3, 4.5)],
                          source_text=SOURCE, today=TODAY)
    assert export.patch == "" and export.changes == ()
    (skipped,) = export.skipped
    assert "is not a whole number" in skipped.why and skipped.line == next(
        n for n, text in enumerate(SOURCE.splitlines(), 1)
        if "MIN_EVENTS_FOR_CRYSTALLIZATION = " in text)


# -- synthetic sources: the edges of the format -----------------------------------------------

def test_a_value_without_comment_stays_without_and_annotations_and_signs_survive():
    source = "class Defaults:\n    A: float = -0.5\n    B = (\n        2.0\n    )\n"
    patch = build_patch([record("a", "A", -0.5, -0.25), record("b", "B", 2.0, 3.0)],
                        source_text=source, layout="wheel", today=TODAY)
    _, added = changed_lines(patch)
    assert added == [evidence("    ", "-0.5", "-0.25"), "    A: float = -0.25",
                     evidence("        ", "2.0", "3.0"), "        3.0"]


def test_a_backslash_continued_value_gets_the_evidence_above_the_statement():
    """A comment line inside a backslash continuation would end the statement early."""
    source = "class Defaults:\n    X = \\\n        1.0  # why\n"
    patch = build_patch([record("x", "X", 1.0, 2.0)], source_text=source, today=TODAY)
    _, added = changed_lines(patch)
    assert added == [evidence("    ", "1.0", "2.0"), "        2.0  # why"]
    assert f"+{evidence('    ', '1.0', '2.0')}\n     X = \\\n-        1.0" in patch


def test_a_last_line_without_newline_is_marked_for_the_patch_tools():
    source = "class Defaults:\n    X = 1.0  # old"
    patch = build_patch([record("x", "X", 1.0, 2.0)], source_text=source, today=TODAY)
    assert patch.endswith(f"+{evidence('    ', '1.0', '2.0')}\n+    X = 2.0  # old\n"
                          "\\ No newline at end of file\n")


def test_locate_source_accepts_a_checkout_a_package_root_or_the_file(tmp_path):
    checkout = tmp_path / "checkout" / "src" / "popoto" / "fields"
    checkout.mkdir(parents=True)
    (checkout / "constants.py").write_text(SOURCE)
    assert locate_source(tmp_path / "checkout") == checkout / "constants.py"
    assert locate_source(checkout / "constants.py") == checkout / "constants.py"
    assert locate_source(INSTALLED.parent) == INSTALLED / "fields" / "constants.py"
    assert locate_source(None).samefile(INSTALLED / "fields" / "constants.py")
    with pytest.raises(ExportError, match="no popoto constants.py under"):
        locate_source(tmp_path)


# -- the patch applies with the real tools ------------------------------------------------------

def require_tool(name: str) -> str:
    path = shutil.which(name)
    require_server(path is not None, f"the `{name}` command",
                   f"`{name}` is not on PATH (apt-get install -y {name})")
    return path or name


def run_tool(args: list[str], cwd: Path, patch_file: Path) -> None:
    """Run git/patch reading the patch on stdin; never climbs into an enclosing git repo."""
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(cwd.parent)}
    done = subprocess.run(args, cwd=cwd, input=patch_file.read_bytes(), capture_output=True,
                          env=env, check=False)
    assert done.returncode == 0, (args, done.stdout.decode(), done.stderr.decode())


@pytest.fixture
def wheel_copy(tmp_path: Path) -> Path:
    """The installed popoto copied as a wheel lays it out: <root>/popoto/..."""
    root = tmp_path / "site"
    shutil.copytree(INSTALLED, root / "popoto",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


def imported_values(root: Path, attrs: list[str]) -> dict:
    """Import popoto from ``root`` in a fresh interpreter and read ``Defaults``."""
    code = ("import json, popoto; from popoto.fields.constants import Defaults; "
            f"print(json.dumps({{'file': popoto.__file__, 'values': {{a: [getattr(Defaults, a), "
            f"type(getattr(Defaults, a)).__name__] for a in {attrs!r}}}}}))")
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                          text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(result["file"]).is_relative_to(root), "imported the installed popoto, not the copy"
    return result["values"]


def test_wheel_patch_applies_with_git_and_patch_and_imports_the_new_values(wheel_copy, tmp_path):
    git, patch_cmd = require_tool("git"), require_tool("patch")
    patch_file = tmp_path / "proposals.patch"
    patch_file.write_text(build_patch([DECAY, ACTED, MIN_EVENTS, TD_REJECTED],
                                      source_text=SOURCE, layout="wheel", today=TODAY))
    run_tool([git, "apply", "--check"], wheel_copy, patch_file)
    run_tool([patch_cmd, "-p1", "--dry-run"], wheel_copy, patch_file)
    run_tool([patch_cmd, "-p1"], wheel_copy, patch_file)
    values = imported_values(wheel_copy, ["DECAY_RATE", "ACTED_CYCLE_STRENGTHEN_FACTOR",
                                          "MIN_EVENTS_FOR_CRYSTALLIZATION", "TD_ALPHA"])
    assert values == {"DECAY_RATE": [0.133729, "float"],
                      "ACTED_CYCLE_STRENGTHEN_FACTOR": [1.5, "float"],
                      "MIN_EVENTS_FOR_CRYSTALLIZATION": [5, "int"], "TD_ALPHA": [0.1, "float"]}


def test_repo_patch_applies_to_a_checkout_with_git_and_patch(tmp_path):
    git, patch_cmd = require_tool("git"), require_tool("patch")
    checkout = tmp_path / "popoto-checkout"
    target = checkout / "src" / "popoto" / "fields" / "constants.py"
    target.parent.mkdir(parents=True)
    target.write_text(SOURCE)
    subprocess.run([git, "init", "-q"], cwd=checkout, check=True)
    patch_file = tmp_path / "proposals.patch"
    patch_file.write_text(build_patch([DECAY, ACTED], source_text=SOURCE, today=TODAY))
    run_tool([git, "apply", "--check"], checkout, patch_file)
    run_tool([patch_cmd, "-p1", "--dry-run"], checkout, patch_file)
    run_tool([git, "apply"], checkout, patch_file)
    assert target.read_text() == SOURCE.replace(
        "    DECAY_RATE = 0.1  # best from sweep 2026-04-20, variance=0.067, prior=0.1 (stable)",
        evidence("    ", "0.1", "0.133729") + "\n    DECAY_RATE = 0.133729  # best from sweep "
        "2026-04-20, variance=0.067, prior=0.1 (stable)").replace(
        "        1.2  # empirically inert (sweep 2026-04-20, variance=0.0)",
        evidence("        ", "1.2", "1.5") + "\n        1.5  # empirically inert (sweep "
        "2026-04-20, variance=0.0)")


def test_a_file_without_final_newline_patches_cleanly(tmp_path):
    patch_cmd = require_tool("patch")
    target = tmp_path / "pkg" / "popoto" / "fields" / "constants.py"
    target.parent.mkdir(parents=True)
    target.write_text("class Defaults:\n    X = 1.0  # old")
    patch_file = tmp_path / "p.patch"
    patch_file.write_text(build_patch([record("x", "X", 1.0, 2.0)], layout="wheel",
                                      source_text=target.read_text(), today=TODAY))
    run_tool([patch_cmd, "-p1"], tmp_path / "pkg", patch_file)
    assert target.read_text() == (f"class Defaults:\n{evidence('    ', '1.0', '2.0')}\n"
                                  "    X = 2.0  # old")


# -- the CLI -------------------------------------------------------------------------------------

BANK_TAG = BankSpec().tag


@pytest.fixture
def storage(tmp_path: Path) -> str:
    (tmp_path / "studies").mkdir()
    return f"sqlite:///{tmp_path / 'studies' / 'tuner.db'}"


def fill_ledger(storage: str, *records: LedgerRecord, bank_tag: str = BANK_TAG,
                confirmed: bool = True) -> Ledger:
    """A ledger holding ``records``; ``confirmed``: with a ready joint record covering exactly
    its accepted values (what a finished ratchet writes)."""
    ledger = Ledger(storage=storage, bank_tag=bank_tag)
    for item in records:
        ledger.put(item)
    if confirmed and any(r.accepted for r in records):
        ledger.set_joint(joint_for(*records))
    return ledger


def joint_for(*records: LedgerRecord, **changes) -> dict:
    return {"mean": 0.03, "ci_low": 0.01, "ci_high": 0.05, "p_value": 0.001, "n": 60,
            "ready": True, "confirmation": True, "bank": "b20270101n50",
            "constants": {r.constant: r.proposal for r in records if r.accepted}, **changes}


def export(*args: str):
    return CliRunner().invoke(main, ["export", *args], catch_exceptions=False)


def test_cli_writes_the_patch_lists_the_changes_and_attaches_it(storage, wheel_copy, tmp_path):
    ledger = fill_ledger(storage, DECAY, TD_REJECTED, ACTED)
    out = tmp_path / "proposals.patch"
    result = export("--out", str(out), "--storage", storage, "--popoto-src", str(wheel_copy),
                    "--layout", "wheel")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:3] == [
        f"wrote {out}: 2 constant(s) of {wheel_copy / 'popoto' / 'fields' / 'constants.py'}",
        "  DECAY_RATE: 0.1 -> 0.133729", "  ACTED_CYCLE_STRENGTHEN_FACTOR: 1.2 -> 1.5"]
    artifact_dir = tmp_path / "studies" / "artifacts"
    assert lines[-1].endswith(f"`optuna-dashboard {storage} --artifact-dir {artifact_dir}`")
    expected = build_patch([DECAY, TD_REJECTED, ACTED], source_text=SOURCE, layout="wheel",
                           today=date.today().isoformat())
    assert out.read_text().split("\n--- ", 1)[1] == expected.split("\n--- ", 1)[1]
    assert "\n    in popoto: PostgresMemoryOps.rank_decayed(): " in out.read_text()  # reach notes
    study = optuna.load_study(study_name=ledger.study.study_name, storage=storage)
    (meta,) = optuna.artifacts.get_all_artifact_meta(study)
    assert meta.filename == "proposals.patch" and meta.mimetype == "text/x-diff"
    assert (artifact_dir / meta.artifact_id).read_bytes() == out.read_bytes()


def test_cli_json_reports_the_changes(storage, tmp_path):
    fill_ledger(storage, MIN_EVENTS)
    out = tmp_path / "p.patch"
    result = export("--out", str(out), "--storage", storage, "--json",
                    "--artifact-dir", str(tmp_path / "store"))
    payload = json.loads(result.output)
    assert payload["changes"] == [{"constant": "MIN_EVENTS_FOR_CRYSTALLIZATION",
                                   "attr": "MIN_EVENTS_FOR_CRYSTALLIZATION", "old": "3",
                                   "new": "5", "line": payload["changes"][0]["line"],
                                   "file": "src/popoto/fields/constants.py"}]
    assert payload["skipped"] == [] and payload["format"] == "patch"
    assert payload["empty"] is False and payload["layout"] == "repo"
    assert (tmp_path / "store" / payload["artifact_id"]).is_file()


def test_cli_refuses_a_mismatched_current_value_with_one_line(storage, wheel_copy, tmp_path):
    fill_ledger(storage, record("decay_rate", "DECAY_RATE", 0.3, 0.2))
    out = tmp_path / "p.patch"
    result = export("--out", str(out), "--storage", storage, "--popoto-src", str(wheel_copy))
    assert result.exit_code == 2
    source = wheel_copy / "popoto" / "fields" / "constants.py"
    assert result.output == (
        f"Error: Defaults.DECAY_RATE is 0.1 in {source} but the ledger's study ran against "
        "0.3; rerun `tuner ratchet` against this popoto\n")
    assert not out.exists()


def test_cli_with_nothing_accepted_writes_an_empty_patch(storage, tmp_path):
    fill_ledger(storage, TD_REJECTED)
    out = tmp_path / "p.patch"
    result = export("--out", str(out), "--storage", storage)
    assert result.exit_code == 0
    assert result.output == (
        f"no accepted proposals: the ledger tuner-ratchet-ledger@{BANK_TAG} holds no ACCEPT "
        f"decision, so there is nothing to change; wrote an empty patch to {out}\n")
    assert out.read_bytes() == b""
    assert not (tmp_path / "studies" / "artifacts").exists()


def test_cli_without_a_ledger_says_run_ratchet_first(storage, tmp_path):
    fill_ledger(storage, DECAY, bank_tag="b1n10")
    result = export("--out", str(tmp_path / "p.patch"), "--storage", storage)
    assert result.exit_code == 2
    assert result.output == (
        f"Error: no ratchet ledger for bank {BANK_TAG} in {storage} (it has ledgers for banks "
        "b1n10); run `tuner ratchet` first\n")
    assert export("--out", str(tmp_path / "p.patch"), "--storage", storage, "--bank-size", "10",
                  "--base-seed", "1").exit_code == 0


def test_cli_does_not_create_a_missing_sqlite_database(tmp_path):
    database = tmp_path / "nothing.db"
    result = export("--out", str(tmp_path / "p.patch"), "--storage", f"sqlite:///{database}")
    assert result.exit_code == 2
    assert result.output == f"Error: no study database at {database}; run `tuner ratchet` first\n"
    assert not database.exists()


def test_cli_refuses_a_set_the_joint_check_marked_not_ready(storage, tmp_path):
    ledger = fill_ledger(storage, DECAY, ACTED)
    ledger.set_joint(joint_for(DECAY, ACTED, mean=-0.02, ci_low=-0.05, ci_high=0.01, n=30,
                               ready=False, drop="ACTED_CYCLE_STRENGTHEN_FACTOR"))
    out = tmp_path / "p.patch"
    result = export("--out", str(out), "--storage", storage)
    assert result.exit_code == 2
    assert result.output == (
        "Error: the accepted set is NOT READY: joint check -0.0200 [-0.0500, +0.0100] over 30 "
        "confirmation scenarios; drop ACTED_CYCLE_STRENGTHEN_FACTOR and rerun `tuner ratchet`, "
        "or pass --allow-not-ready to export it anyway\n")
    assert not out.exists()
    forced = export("--out", str(out), "--storage", storage, "--allow-not-ready")
    assert forced.exit_code == 0 and out.read_text()


def test_cli_refuses_a_set_never_checked_on_a_confirmation_bank(storage, tmp_path):
    """A joint check on the validation seeds (older ledgers) is not a confirmation."""
    ledger = fill_ledger(storage, DECAY)
    ledger.set_joint({"mean": 0.02, "ci_low": 0.01, "ci_high": 0.03, "n": 30, "ready": True})
    result = export("--out", str(tmp_path / "p.patch"), "--storage", storage)
    assert result.exit_code == 2
    assert "never checked on a confirmation bank" in result.output
    assert not (tmp_path / "p.patch").exists()


# -- only a confirmed set is exported (issue 18: a set no joint check covers) -------------------

def test_cli_refuses_accepted_values_no_joint_check_covers(storage, tmp_path):
    """An interrupted ratchet writes decisions but no joint record: nothing was confirmed."""
    fill_ledger(storage, DECAY, TD_REJECTED, ACTED, confirmed=False)
    out = tmp_path / "p.patch"
    result = export("--out", str(out), "--storage", storage)
    assert result.exit_code == 2
    assert result.output == (
        "Error: the accepted set was never confirmed: no joint check covers decay_rate, "
        "ACTED_CYCLE_STRENGTHEN_FACTOR; rerun `tuner ratchet` (it confirms the set at the end of "
        "a run), or pass --allow-not-ready\n")
    assert not out.exists()
    assert export("--out", str(out), "--storage", storage, "--allow-not-ready").exit_code == 0


@pytest.mark.parametrize("joint, named", [
    (joint_for(DECAY), "ACTED_CYCLE_STRENGTHEN_FACTOR (accepted at 1.5, not confirmed)"),
    (joint_for(DECAY, ACTED, constants={"decay_rate": 0.1337291823,
                                        "ACTED_CYCLE_STRENGTHEN_FACTOR": 1.4}),
     "ACTED_CYCLE_STRENGTHEN_FACTOR (accepted at 1.5, confirmed at 1.4)"),
    (joint_for(DECAY, ACTED, constants={"decay_rate": 0.1337291823, "TD_ALPHA": 0.3,
                                        "ACTED_CYCLE_STRENGTHEN_FACTOR": 1.5}),
     "TD_ALPHA (confirmed at 0.3, no longer accepted)"),
])
def test_cli_refuses_a_stale_joint_record_naming_what_it_did_not_confirm(storage, tmp_path,
                                                                         joint, named):
    ledger = fill_ledger(storage, DECAY, ACTED, TD_REJECTED)
    ledger.set_joint(joint)
    result = export("--out", str(tmp_path / "p.patch"), "--storage", storage)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: the joint check did not confirm this set: ")
    assert named in result.output


def test_cli_refuses_a_joint_record_that_does_not_say_what_it_covered(storage, tmp_path):
    ledger = fill_ledger(storage, DECAY)
    joint = joint_for(DECAY)
    del joint["constants"]
    ledger.set_joint(joint)
    result = export("--out", str(tmp_path / "p.patch"), "--storage", storage)
    assert result.exit_code == 2
    assert "does not say which constants it covered" in result.output
    assert "cannot confirm decay_rate" in result.output


def test_a_real_ratchet_records_what_its_joint_check_covered(planted, catalog_path, tmp_path,
                                                             popoto_redis):
    """The joint record of a finished ratchet names every accepted value, so export takes it;
    a later accepted record (an interrupted rerun) is refused until a joint check covers it."""
    from tuner.catalog import load_catalog
    from tuner.decisions.ratchet import RatchetSettings, run_ratchet

    catalog = load_catalog(catalog_path)
    storage = f"sqlite:///{tmp_path / 'r.db'}"
    bank = BankSpec(size=40, held_out=200)  # the anytime mean tests need a few hundred
    run_ratchet([catalog.resolve("planted_rate")], catalog,
                settings=RatchetSettings(trials=8, storage=storage, batch=6, bank=bank,
                                         confirmation=BankSpec(size=300, base_seed=7)))
    ledger = Ledger(storage=storage, bank_tag=bank.tag)
    (accepted,) = ledger.accepted()
    assert ledger.joint()["constants"] == {"planted_rate": accepted.proposal}
    args = ("--storage", storage, "--bank-size", "40", "--catalog", str(catalog_path),
            "--popoto-src", str(INSTALLED.parent))
    assert export("--out", str(tmp_path / "a.patch"), *args).exit_code == 0
    ledger.put(record("placebo", "LIFECYCLE_FORGET_IDLE_SECONDS", 86400, 3600.0))
    refused = export("--out", str(tmp_path / "b.patch"), *args)
    assert refused.exit_code == 2
    assert "placebo (accepted at 3600.0, not confirmed)" in refused.output


# -- Optuna's INFO lines stay out of every command's output --------------------------------------

def test_export_prints_no_optuna_info_lines(storage, tmp_path):
    fill_ledger(storage, DECAY)
    done = subprocess.run(
        [sys.executable, "-m", "tuner.cli", "export", "--out", str(tmp_path / "p.patch"),
         "--storage", storage], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wrote ")
    assert "[I " not in done.stderr + done.stdout, done.stderr
