"""`tuner report`: the data behind the pages, the pages, the CLI, and one real browser.

The data step is checked on hand-made studies (known step response, a sampled placebo, a cliff)
and on a small real ratchet run; the pages are checked for links and offline loading; one test
opens the index in headless Chromium and checks that plotly drew and nothing threw.
"""

import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import optuna
import pytest
from click.testing import CliRunner
from conftest import require_server
from optuna.distributions import FloatDistribution
from optuna.trial import create_trial

from tuner.catalog import load_catalog
from tuner.cli import main
from tuner.decisions.comparison import compare_deltas
from tuner.decisions.gate import GateEvidence, decide
from tuner.decisions.ledger import Ledger, LedgerRecord
from tuner.decisions.ratchet import RatchetSettings, run_ratchet
from tuner.decisions.validation import ValidationResult
from tuner.evaluation.engine import BankSpec
from tuner.studies.study import run_study
from tuner.views.report import write_report
from tuner.views.report_data import NoStudiesError, choose_primary, load_report_data
from tuner.views.study_data import study_view

BANK = "b1n20"  # BankSpec(size=20, base_seed=1).tag
BANK_ARGS = ["--bank-size", "20", "--base-seed", "1"]
BASE = {"s0": 0.3, "s1": 0.5, "s2": 0.7, "s3": 0.9}
STEP_VALUES = [0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0]
STEP = 0.2
LOG_SPACE = FloatDistribution(0.01, 2.0, log=True)
LINEAR_SPACE = FloatDistribution(1.0, 1e6)
JOINT = {"mean": 0.1, "ci_low": 0.05, "ci_high": 0.15, "n": 6, "ready": True, "drop": None,
         "leave_one_out": {}}


# --------------------------------------------------------------------------- hand-made studies


def stepped_trials(values=STEP_VALUES):
    """Every trial sees every scenario; +STEP from value 1.0 on, +-0.01 alternating noise."""
    return [(v, {k: b + (STEP if v >= 1.0 else 0.0) + 0.01 * (-1) ** i for k, b in BASE.items()})
            for i, v in enumerate(values)]


def placebo_trials(n=8):
    """Each trial sees two scenarios of different difficulty; the value changes nothing."""
    labels = list(BASE)
    return [(1.0 + 1e5 * i, {labels[i % 4]: BASE[labels[i % 4]],
                             labels[(i + 1) % 4]: BASE[labels[(i + 1) % 4]]}) for i in range(n)]


def frozen_trials(constant, rows, space):
    """Trial 0 is queued like popoto's default; the rest look sampled."""
    return [create_trial(params={constant: v}, distributions={constant: space},
                         value=float(np.mean(list(scores.values()))), user_attrs={"ndcg": scores},
                         system_attrs={"fixed_params": {constant: v}} if i == 0 else {})
            for i, (v, scores) in enumerate(rows)]


def add_study(storage, name, constant, rows, space=LOG_SPACE, bank=BANK, **attrs):
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    for key, value in {"constant": constant, "seed": 0, "batch": 4, "bank": bank,
                       **attrs}.items():
        study.set_user_attr(key, value)
    for trial in frozen_trials(constant, rows, space):
        study.add_trial(trial)
    return study


def validation_attr(constant, default, proposal, probes, *, cliff_at=None, collapsed=False):
    """A real ValidationResult.to_dict(), so the report reads exactly what the validator stores."""
    comparison = None if collapsed else compare_deltas(
        {"decay": {f"decay:{i}": d for i, d in enumerate([0.03, 0.08, 0.13, 0.05, 0.1, 0.09])}})
    evidence = GateEvidence(collapsed=collapsed, train_delta=0.0 if collapsed else 0.15,
                            validation_delta=0.0 if collapsed else 0.08,
                            ci_low=0.0 if collapsed else 0.03, ci_high=0.0 if collapsed else 0.12,
                            cliff_at=cliff_at)
    return ValidationResult(
        constant=constant, default=default, proposal=proposal, collapsed=collapsed,
        candidates=[], train_default=None if collapsed else 0.8,
        train_proposal=None if collapsed else 0.95, train_delta=evidence.train_delta,
        validation=comparison,
        cliff={} if collapsed else {"probes": {str(k): v for k, v in probes.items()},
                                    "cliff_at": cliff_at, "drop": 0.15},
        margin_from=None, evidence=evidence, decision=decide(evidence), trials=12,
    ).to_dict()


def record(constant, decision, reason, study_name, proposal=None):
    return LedgerRecord(constant=constant, attr=None, default=0.1, proposal=proposal,
                        decision=decision, reason=reason, detail="", train_delta=None,
                        validation_delta=None, ci_low=None, ci_high=None, trials=6,
                        validation_scenarios=6, study_name=study_name, date="2026-11-23")


@pytest.fixture
def hand_made(tmp_path):
    """Two constants of bank b1n20 (one with optimize + ratchet studies), a ledger, and noise."""
    storage = f"sqlite:///{tmp_path / 'hand.db'}"
    add_study(storage, "stepped@fam-b1n20", "stepped", stepped_trials(),
              validation=validation_attr("stepped", 0.1, 1.5, {1.2: 0.95, 1.8: 0.70},
                                         cliff_at=1.8))
    add_study(storage, "ratchet:stepped@fam-b1n20", "stepped", stepped_trials(STEP_VALUES[::2]),
              validation=validation_attr("stepped", 0.1, 1.4, {1.1: 0.94, 1.7: 0.93}))
    placebo_name = "ratchet:placebo@fam-b1n20-base12345678"
    add_study(storage, placebo_name, "placebo", placebo_trials(), space=LINEAR_SPACE,
              validation=validation_attr("placebo", 1.0, None, {}, collapsed=True))
    add_study(storage, "stepped@fam-b9n20", "stepped", stepped_trials(), bank="b9n20")
    add_study(storage, "sweep:stepped@fam-b1n20", "stepped", stepped_trials(), kind="sweep")
    ledger = Ledger(storage=storage, bank_tag=BANK)
    ledger.put(record("stepped", "ACCEPT", "accepted", "ratchet:stepped@fam-b1n20", 1.4))
    ledger.put(record("placebo", "REJECT", "no sensitivity", placebo_name))
    ledger.set_joint(JOINT)
    return storage


def test_storage_becomes_plain_data(hand_made):
    data = load_report_data(hand_made, bank_tag=BANK)
    assert [c.name for c in data.constants] == ["stepped", "placebo"]  # ledger order
    stepped = data.constant("stepped")
    assert sorted(s.name for s in stepped.studies) == ["ratchet:stepped@fam-b1n20",
                                                       "stepped@fam-b1n20"]  # no sweep, no b9
    assert stepped.primary == "ratchet:stepped@fam-b1n20" and "ledger" in stepped.why
    assert stepped.record["decision"] == "ACCEPT" and stepped.page == "constant-stepped.html"
    assert data.ledger_name == "tuner-ratchet-ledger@b1n20" and data.joint == JOINT
    assert [r["constant"] for r in data.ledger] == ["stepped", "placebo"]
    assert json.loads(json.dumps(data.to_dict()))["bank"] == BANK


def test_response_bins_and_sensitivity_follow_the_planted_step(hand_made):
    study = next(s for s in load_report_data(hand_made, bank_tag=BANK).constant("stepped").studies
                 if s.kind == "optimize")
    assert len(study.points) == 12 and study.default == 0.1 and study.log
    assert [p.enqueued for p in study.points].count(True) == 1
    assert [b.n for b in study.bins] == [3, 3, 3, 3]
    assert study.bins[-1].mean - study.bins[0].mean == pytest.approx(STEP, abs=0.01)
    assert study.bins[0].center == pytest.approx((0.1 * 0.12 * 0.14) ** (1 / 3))  # geometric
    s = study.sensitivity
    assert not s.inert and s.spread == pytest.approx(STEP, abs=0.01)
    assert 0.15 < s.ci_low <= s.spread <= s.ci_high < 0.25


def test_collapsed_constant_is_marked_inert_and_ranked_last(hand_made):
    data = load_report_data(hand_made, bank_tag=BANK)
    placebo = data.constant("placebo").primary_study
    assert len({p.score for p in placebo.points}) > 1  # samples differ, so raw means differ
    assert placebo.collapsed and placebo.sensitivity.inert
    assert placebo.sensitivity.spread == 0.0 and {p.effect for p in placebo.points} == {0.0}
    assert [c.name for c in data.ranking()] == ["stepped", "placebo"]
    assert placebo.validation.reason == "no sensitivity" and placebo.validation.proposal is None


def test_validation_attr_gives_proposal_probes_and_cliff(hand_made):
    data = load_report_data(hand_made, bank_tag=BANK)
    optimize = next(s for s in data.constant("stepped").studies if s.kind == "optimize")
    v = optimize.validation
    assert (v.decision, v.reason, v.proposal, v.default) == ("REJECT", "cliff", 1.5, 0.1)
    assert [(p.value, p.score, p.cliff) for p in v.probes] == [(1.2, 0.95, False),
                                                               (1.8, 0.70, True)]
    shown = compare_deltas({"decay": {f"decay:{i}": d for i, d in
                                      enumerate([0.03, 0.08, 0.13, 0.05, 0.1, 0.09])}})
    assert (v.mean, v.ci_low, v.ci_high, v.n, v.train_delta) == pytest.approx(
        (0.08, shown.ci_low, shown.ci_high, 6, 0.15))
    assert sorted(s.name for _, s in data.proposals()) == ["ratchet:stepped@fam-b1n20",
                                                           "stepped@fam-b1n20"]


def test_primary_study_is_the_ledgers_then_a_ratchet_then_a_validated_one():
    def view(name, n, validated=False):
        rows = stepped_trials(STEP_VALUES[:n])
        attrs = {"constant": "stepped"}
        if validated:
            attrs["validation"] = validation_attr("stepped", 0.1, 1.5, {})
        return study_view(name, attrs, frozen_trials("stepped", rows, LOG_SPACE))

    full, validated = view("stepped@a", 12), view("stepped@b", 6, validated=True)
    ratchet = view("ratchet:stepped@a", 4)
    assert choose_primary([full, validated], None)[0] is validated
    assert choose_primary([full, validated, ratchet], None)[0] is ratchet
    chosen, why = choose_primary([full, ratchet], record("stepped", "REJECT", "x", "stepped@a"))
    assert chosen is full and "ledger" in why


def test_no_studies_for_the_bank_says_which_banks_exist(hand_made, tmp_path):
    with pytest.raises(NoStudiesError, match="--bank-size 20 --base-seed 9"):
        load_report_data(hand_made, bank_tag="b5n20")
    missing = tmp_path / "missing.db"
    with pytest.raises(NoStudiesError, match="does not exist"):
        load_report_data(f"sqlite:///{missing}", bank_tag=BANK)
    assert not missing.exists()  # a report never creates a storage


def test_pages_link_up_and_load_nothing_from_the_network(hand_made, tmp_path):
    files = write_report(load_report_data(hand_made, bank_tag=BANK), tmp_path / "out")
    index = files.index.read_text()
    assert [p.name for p in files.pages] == ["constant-stepped.html", "constant-placebo.html"]
    assert all(f'href="{p.name}"' in index for p in files.pages)
    assert files.plotly_js.stat().st_size > 1_000_000
    for html in [index, *(p.read_text() for p in files.pages)]:
        assert '<script src="plotly.min.js"></script>' in html
        assert "cdn." not in html and 'src="http' not in html
    stepped = files.pages[0].read_text()
    assert "Drawn from study ratchet:stepped@fam-b1n20" in stepped
    assert "Other study: stepped@fam-b1n20" in stepped and "CLIFF" in stepped
    assert "inert (collapsed)" in index and "ready for review" in index


def test_a_study_without_trials_still_gets_a_page(tmp_path):
    storage = f"sqlite:///{tmp_path / 'early.db'}"
    add_study(storage, "stepped@fam-b1n20", "stepped", [])
    add_study(storage, "ratchet:stepped@fam-b1n20", "stepped", stepped_trials([0.5]))
    data = load_report_data(storage, bank_tag=BANK)
    empty = next(s for s in data.constant("stepped").studies if not s.points)
    assert empty.bins == [] and empty.default is None and empty.mean_score is None
    assert empty.sensitivity.ci_low is None and not empty.sensitivity.inert
    files = write_report(data, tmp_path / "out")
    assert "too few trials" in files.pages[0].read_text()


# --------------------------------------------------------------------------- the CLI


def test_cli_writes_pages_and_lists_them_as_json(hand_made, tmp_path):
    out = tmp_path / "dash"
    args = ["report", "--storage", hand_made, "--out", str(out), *BANK_ARGS]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output == (f"wrote {out / 'index.html'} and 2 constant pages (plotly.min.js "
                             "beside them; open the index in a browser, works offline)\n")
    listed = json.loads(CliRunner().invoke(main, [*args, "--json"]).stdout)
    assert listed["index"] == str(out / "index.html")
    assert [Path(p).name for p in listed["pages"]] == ["constant-stepped.html",
                                                       "constant-placebo.html"]
    assert all(Path(p).exists() for p in [listed["index"], *listed["pages"]])


@pytest.mark.parametrize("storage_name", ["hand", "missing"])
def test_cli_exits_2_with_one_line_without_studies(storage_name, hand_made, tmp_path):
    storage = hand_made if storage_name == "hand" else f"sqlite:///{tmp_path / 'missing.db'}"
    result = CliRunner().invoke(main, ["report", "--storage", storage, "--out",
                                       str(tmp_path / "o")])  # default bank: none there
    assert result.exit_code == 2
    assert len(result.output.splitlines()) == 1 and result.output.startswith("Error: no ")
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- a real ratchet



@pytest.mark.usefixtures("popoto_redis", "planted")
def test_real_ratchet_run_reads_into_the_report(catalog_path, tmp_path):
    catalog = load_catalog(catalog_path)
    storage, bank = f"sqlite:///{tmp_path / 'real.db'}", BankSpec(size=20, held_out=10)
    planted = catalog.resolve("planted_rate")
    settings = RatchetSettings(trials=6, storage=storage, batch=6, bank=bank,
                               confirmation=BankSpec(size=60, base_seed=7))
    result = run_ratchet([planted, catalog.resolve("placebo")], catalog, settings=settings)
    run_study(planted, trials=4, storage=storage, batch=6, bank=bank)  # a second study
    data = load_report_data(storage, bank_tag=bank.tag)

    planted_record, placebo_record = result.records
    view = data.constant("planted_rate")
    assert view.primary == planted_record.study_name and len(view.studies) == 2
    study = view.primary_study
    assert len(study.points) == 6 and study.default == 0.1
    assert study.validation.proposal == planted_record.proposal
    assert study.validation.decision == planted_record.decision
    assert planted_record.validation_scenarios, "the planted proposal reaches validation"
    assert study.validation.n == len(bank.pools("planted_decay")[1])
    assert study.validation.p_value == planted_record.extra["p_value"]
    assert study.validation.family_deltas == tuple(planted_record.extra["families"].items())
    probes = {float(k): v for k, v in planted_record.extra["cliff"]["probes"].items()}
    assert {p.value: p.score for p in study.validation.probes} == probes
    placebo = data.constant("placebo").primary_study
    assert placebo.name == placebo_record.study_name and placebo.sensitivity.inert
    assert data.ranking()[-1].name == "placebo"
    assert data.joint == result.joint
    files = write_report(data, tmp_path / "out")
    assert len(files.pages) == 2 and "planted_rate" in files.index.read_text()
    page = next(p for p in files.pages if "planted_rate" in p.name).read_text()
    assert "anytime p" in page and "by family: planted_decay" in page


# --------------------------------------------------------------------------- the browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--enable-logging=stderr", "--v=0", "--window-size=1200,900"]


def chromium(tmp_path, *args):
    profile = tmp_path / "chromium-profile"
    return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def png_pixels(path):
    """The PNG's decompressed scanlines (filter bytes included): enough to tell blank from not."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        if data[pos + 4:pos + 8] == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return zlib.decompress(idat)


def test_index_renders_in_headless_chromium(hand_made, tmp_path):
    require_server(os.path.exists(CHROMIUM), "Chromium at /usr/bin/chromium",
                   "install it with `apt-get install -y chromium`")
    files = write_report(load_report_data(hand_made, bank_tag=BANK), tmp_path / "out")
    url = files.index.resolve().as_uri()
    dom = chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('class="plot-container plotly"') == 2  # both figures drawn
    assert 'class="main-svg"' in dom.stdout
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert not [line for line in console if "Uncaught" in line or "rror" in line], console
    shot = tmp_path / "index.png"
    result = chromium(tmp_path, f"--screenshot={shot}", url)
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    pixels = png_pixels(shot)
    assert len(set(pixels)) > 64  # a blank page decodes to a handful of byte values
    assert sum(1 for b in pixels[::97] if b not in (0, 255)) > len(pixels[::97]) // 200
