"""The maintainers' loop on a popoto source checkout, end to end: edit, ratchet, export, check.

A copy of the installed popoto laid out as popoto's repository (``src/popoto``) stands for a
maintainer's checkout; it is first on ``PYTHONPATH`` (what ``pip install -e`` gives: ``import
popoto`` loads the checkout's files). The maintainer has edited ``DECAY_RATE`` to 0.05 there;
the ratchet runs on the planted family (a known optimum far from it), the accepted value is
exported as a patch of the checkout and as a ledger file, the patch is applied with ``git
apply``, and ``tuner check`` re-verifies the ledger: it holds on the unchanged checkout, and
breaks, naming the constant and the family, after a planted regression in popoto's code.

Each command runs once, in a fresh interpreter, in a module fixture; the tests read the results.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import popoto
import pytest
from planted import PLANTED_CATALOG
from test_export import require_tool, run_tool

INSTALLED = Path(popoto.__file__).parent
RUNNER = Path(__file__).with_name("tuner_with_planted.py")
BANK = ["--bank-size", "40"]
CHECK = ["--seeds", "15"]
REGRESSION = (  # a planted bug: steep decay rates (above {}) now favour old records
    "        if self.decay_rate > {}:\n"
    "            self.decay_rate = -self.decay_rate\n")


def regression_below(accepted: float) -> float:
    """Where the planted bug starts: just below the accepted value, so it bites the accepted
    value and spares the lower grid value ``certified`` bounds."""
    return round(0.9 * accepted, 4)


class Checkout:
    """A popoto checkout and tuner commands run against it (each in a fresh interpreter)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = root / "popoto-checkout"
        self.src = self.repo / "src"
        shutil.copytree(INSTALLED, self.src / "popoto",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (root / "catalog.toml").write_text(PLANTED_CATALOG)

    def file(self, relative: str) -> Path:
        return self.src / "popoto" / relative

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.file(relative)
        text = path.read_text()
        assert text.count(old) == 1, f"{old!r} not once in {relative}"
        path.write_text(text.replace(old, new))

    def tuner(self, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(self.src), "TUNER_WORKERS": "1",
               "TUNER_RESULT_CACHE": str(self.root / "results.sqlite")}
        return subprocess.run([sys.executable, str(RUNNER), *args, "--catalog",
                               str(self.root / "catalog.toml")], env=env, cwd=self.root,
                              capture_output=True, text=True, check=False)

    def storage(self, name: str) -> list[str]:
        return ["--storage", f"sqlite:///{self.root / name}"]


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done


@pytest.fixture(scope="module")
def loop(tmp_path_factory) -> dict:
    git = require_tool("git")
    checkout = Checkout(tmp_path_factory.mktemp("loop"))
    root = checkout.root
    out: dict = {"checkout": checkout}
    checkout.edit("fields/constants.py", "    DECAY_RATE = 0.1  #", "    DECAY_RATE = 0.05  #")
    out["optimize"] = ok(checkout.tuner("optimize", "--constant", "planted_rate", "--trials",
                                        "2", "--batch", "3", "--bank-size", "10",
                                        "--no-validate", *checkout.storage("o.db")))
    out["ratchet"] = ok(checkout.tuner(
        "ratchet", "--constants", "planted_rate,placebo", "--trials", "8", "--batch", "6",
        *BANK, "--confirm-size", "300", "--confirm-base-seed", "7", "--json",
        *checkout.storage("r.db")))
    out["patch"] = ok(checkout.tuner("export", "--out", str(root / "p.patch"), "--popoto-src",
                                     str(checkout.repo), *BANK, *checkout.storage("r.db")))
    ok(checkout.tuner("export", "--format", "ledger", "--out", str(root / "ledger.json"),
                      *BANK, *checkout.storage("r.db")))
    out["check, storage, before the patch"] = checkout.tuner("check", *BANK, *CHECK,
                                                             *checkout.storage("r.db"))
    subprocess.run([git, "init", "-q"], cwd=checkout.repo, check=True)
    run_tool([git, "apply"], checkout.repo, root / "p.patch")
    out["patched"] = checkout.file("fields/constants.py").read_text()
    ledger = json.loads((root / "ledger.json").read_text())
    accepted = next(r["proposal"] for r in ledger["records"] if r["decision"] == "ACCEPT")
    out["spared"] = round(accepted / 2, 4)
    ledger["records"] = [certified(r, out["spared"]) if r["decision"] == "ACCEPT" else r
                         for r in ledger["records"]]
    (root / "certified.json").write_text(json.dumps(ledger))
    out["check, file, patched"] = checkout.tuner("check", "--ledger", str(root / "ledger.json"),
                                                 *CHECK)
    out["check, certificate, patched"] = checkout.tuner(
        "check", "--ledger", str(root / "certified.json"), *CHECK)
    checkout.edit("fields/decaying_sorted_field.py",
                  '                "decay_rate must be > 0 (got {})".format(self.decay_rate)\n'
                  "            )\n",
                  '                "decay_rate must be > 0 (got {})".format(self.decay_rate)\n'
                  "            )\n" + REGRESSION.format(regression_below(accepted),
                                                  regression_below(accepted)))
    for ledger_file in ("ledger", "certified"):
        out[f"check after the regression, {ledger_file}"] = checkout.tuner(
            "check", "--ledger", str(root / f"{ledger_file}.json"), *CHECK)
    out["check after the regression, json"] = checkout.tuner(
        "check", "--ledger", str(root / "certified.json"), *CHECK, "--json")
    return out


def certified(record: dict, spared: float) -> dict:
    """The same constant as if the ratchet had kept its incumbent (the value accepted above)
    with a certificate (the decision engine's format): no value looked at, ``spared`` (below
    the planted bug's start) or 0.6, gains more than +0.05 over it in planted_decay."""
    values = [{"value": spared, "mean": 0.0, "bound": 0.05, "source": "train grid"},
              {"value": 0.6, "mean": 0.0, "bound": 0.05, "source": "held-out"}]
    return {**record, "decision": "REJECT", "reason": "not significant", "proposal": None,
            "incumbent": record["proposal"], "default": record["proposal"],
            "certificate": {"bound": 0.05, "confidence": 0.95, "families": ["planted_decay"],
                            "collapsed": False, "values": values}}


def test_the_ratchet_and_the_export_run_on_the_checkout_s_edits(loop):
    result = json.loads(loop["ratchet"].stdout)
    planted = next(r for r in result["records"] if r["constant"] == "planted_rate")
    assert planted["decision"] == "ACCEPT" and planted["default"] == 0.05  # the checkout's
    assert result["joint"]["ready"] is True
    assert result["joint"]["constants"] == {"planted_rate": planted["proposal"]}
    new = repr(float(f"{planted['proposal']:.6g}"))
    assert f"  DECAY_RATE: 0.05 -> {new}" in loop["patch"].stdout
    assert f": 0.05 -> {new}, train " in loop["patched"]  # the tuner's line, above the value
    assert f"\n    DECAY_RATE = {new}  # best from sweep 2026-04-20" in loop["patched"]  # kept


def test_studies_on_the_checkout_record_its_source(loop):
    checkout = loop["checkout"]
    study = optuna.load_study(study_name="planted_rate@planted_decay-b20261123n10",
                              storage=f"sqlite:///{checkout.root / 'o.db'}")
    contract = study.user_attrs["contract"]
    edited = hashlib.sha256(checkout.file("fields/constants.py").read_bytes()).hexdigest()[:16]
    shipped = hashlib.sha256((INSTALLED / "fields" / "constants.py").read_bytes()).hexdigest()
    assert contract["popoto_defaults"]["DECAY_RATE"] == 0.05
    assert contract["popoto_source"]["fields/constants.py"] != shipped[:16]
    assert edited != contract["popoto_source"]["fields/constants.py"]  # patched since


@pytest.mark.parametrize("run, claim", [
    ("check, storage, before the patch", "accepted"), ("check, file, patched", "accepted"),
    ("check, certificate, patched", "certified")])
def test_check_holds_on_unchanged_popoto(loop, run, claim):
    done = loop[run]
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert done.stdout.startswith("## tuner check: all 2 claim(s) hold\n")
    assert f"| planted_rate | {claim} " in done.stdout
    assert "| placebo | inert at 86400 | holds | decay |" in done.stdout


def test_check_fails_after_a_regression_naming_constant_family_and_size(loop):
    """The accepted value now loses to the value it replaced, by far more than 0.02."""
    done = loop["check after the regression, ledger"]
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout.startswith("## tuner check: 1 of 2 claim(s) BROKEN\n")
    assert "- **planted_rate** (accepted " in done.stdout
    assert " over 0.05): now loses -0." in done.stdout
    assert " to 0.05 in planted_decay (ledger +0." in done.stdout
    assert "| placebo | inert at 86400 | holds |" in done.stdout


def test_check_fails_when_a_certified_default_now_loses(loop):
    """The certified incumbent now loses to the lower value the bug spares, far beyond the
    certificate's bound."""
    done = loop["check after the regression, certified"]
    assert done.returncode == 1, (done.stdout, done.stderr)
    (finding, placebo) = json.loads(loop["check after the regression, json"].stdout)["findings"]
    assert (finding["constant"], finding["kind"], finding["holds"], finding["family"]) == (
        "planted_rate", "certified", False, "planted_decay")
    assert finding["ledger"] == 0.05 and finding["change"] > 0.02
    assert finding["summary"].startswith(f"{loop['spared']:g} now beats ")
    assert f"above the certificate's bound +0.0500 by {finding['change']:.4f} (most in " \
           "planted_decay" in done.stdout
    assert placebo["holds"]
