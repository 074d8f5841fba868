"""After an edit to popoto, no command serves a score made before it (issue 15's stale scores).

As a maintainer would: a copy of the installed popoto (never the shared install) is first on
``PYTHONPATH``; ``tuner sweep``, ``tuner sensitivity`` and ``tuner optimize`` run on it with the
disk result cache on; then ``WILSON_CI_THRESHOLD = 0.6`` becomes ``0.8`` in the copy's
``fields/constants.py`` (same version string) and the commands run again with the same cache.
Before the fix, the sweep reported the old default's score for 0.8 (0.8 was "the default", which
the key left out) and a resumed study mixed trials of two popotos without a word.

Every command runs once per state in a module fixture; the tests read what they printed.
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

INSTALLED = Path(popoto.__file__).parent
GRID = ["--constant", "WILSON_CI_THRESHOLD", "--values", "0.5,0.8", "--batch", "10",
        "--bank-size", "20"]
SENSITIVITY = ["--constants", "WILSON_CI_THRESHOLD", "--values", "WILSON_CI_THRESHOLD=0.5,0.8",
               "--batch", "10", "--bank-size", "20"]
OPTIMIZE = ["--constant", "WILSON_CI_THRESHOLD", "--batch", "3", "--bank-size", "10",
            "--no-validate"]


class Popoto:
    """A copy of popoto on PYTHONPATH and the tuner commands run against it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.site = root / "site"
        shutil.copytree(INSTALLED, self.site / "popoto",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

    def tuner(self, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(self.site), "TUNER_WORKERS": "1",
               "TUNER_RESULT_CACHE": str(self.root / "results.sqlite")}
        return subprocess.run([sys.executable, "-m", "tuner.cli", *args], env=env,
                              cwd=self.root, capture_output=True, text=True, check=False)

    def json(self, *args: str) -> dict:
        done = self.tuner(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def storage(self, name: str) -> list[str]:
        return ["--storage", f"sqlite:///{self.root / name}"]

    def set_default(self, attr: str, old: str, new: str) -> None:
        path = self.site / "popoto" / "fields" / "constants.py"
        text = path.read_text()
        assert text.count(f"    {attr} = {old}  #") == 1
        path.write_text(text.replace(f"    {attr} = {old}  #", f"    {attr} = {new}  #"))


def means(report: dict) -> dict[float, float]:
    """A sweep report's mean per WILSON_CI_THRESHOLD value."""
    return {row["values"]["WILSON_CI_THRESHOLD"]: row["mean"] for row in report["rows"]}


def point_means(run: dict) -> dict[float, float]:
    (row,) = run["constants"]
    return {p["value"]: p["mean"] for p in row["verdict"]["points"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    copy = Popoto(tmp_path_factory.mktemp("stale"))
    out: dict = {"before": {}, "after": {}}
    out["before"]["sweep"] = copy.json("sweep", *GRID, *copy.storage("a.db"))
    out["before"]["sensitivity"] = copy.json("sensitivity", *SENSITIVITY, *copy.storage("s.db"))
    out["before"]["optimize"] = copy.tuner("optimize", *OPTIMIZE, "--trials", "1",
                                           *copy.storage("o.db"))
    copy.set_default("WILSON_CI_THRESHOLD", "0.6", "0.8")
    out["after"]["sweep, new storage"] = copy.json("sweep", *GRID, *copy.storage("b.db"))
    out["after"]["sweep, same storage"] = copy.json("sweep", *GRID, *copy.storage("a.db"))
    out["after"]["sensitivity"] = copy.json("sensitivity", *SENSITIVITY, *copy.storage("s.db"))
    out["after"]["optimize"] = copy.tuner("optimize", *OPTIMIZE, "--trials", "2",
                                          *copy.storage("o.db"))
    return out


CHANGE = "popoto default WILSON_CI_THRESHOLD 0.6 -> 0.8; popoto source changed: fields/constants.py"


def test_the_sweep_sees_a_real_difference_before_the_edit(runs):
    """The scenario can show staleness at all: 0.6 and 0.8 score apart on these scenarios."""
    before = means(runs["before"]["sweep"])
    assert set(before) == {0.5, 0.6, 0.8}
    assert abs(before[0.6] - before[0.8]) > 0.05
    assert runs["before"]["sweep"]["defaults"] == {"WILSON_CI_THRESHOLD": 0.6}


def test_a_sweep_after_the_edit_scores_fresh_with_the_cache_on(runs):
    before = means(runs["before"]["sweep"])
    after = runs["after"]["sweep, new storage"]
    assert after["defaults"] == {"WILSON_CI_THRESHOLD": 0.8}
    assert means(after) == {0.5: before[0.5], 0.8: before[0.8]}  # 0.8 is 0.8, not the old 0.6
    assert after["evaluated"] == 2 and after["resumed"] == 0


def test_a_sweep_resumed_in_the_same_storage_scores_again_and_says_why(runs):
    before = means(runs["before"]["sweep"])
    again = runs["after"]["sweep, same storage"]
    assert means(again) == {0.5: before[0.5], 0.8: before[0.8]}
    assert again["resumed"] == 0
    assert again["notes"][0] == (
        f"2 point(s) scored before were scored again, under the popoto and code in force now "
        f"({CHANGE})")


def test_a_second_sensitivity_run_after_the_edit_is_fresh(runs):
    before = point_means(runs["before"]["sensitivity"])
    after = runs["after"]["sensitivity"]
    assert point_means(after) == {0.5: before[0.5], 0.8: before[0.8]}
    (row,) = after["constants"]
    assert row["default"] == 0.8 and row["evaluated"] == 2
    assert f"2 point(s) scored before were scored again, under the popoto and code in force " \
           f"now ({CHANGE})" in row["notes"]


def test_a_study_resumed_after_the_edit_is_refused_naming_the_change(runs):
    assert runs["before"]["optimize"].returncode == 0, runs["before"]["optimize"].stderr
    refused = runs["after"]["optimize"]
    assert refused.returncode == 2
    assert refused.stderr == (
        "Error: study 'WILSON_CI_THRESHOLD@policy_cache-b20261123n10' was run under another "
        f"contract: {CHANGE}; its trials would not be comparable, so it is not resumed (pass "
        "another --study-name to start a fresh study)\n")
