"""bench_decisions: the decision engine's simulator is deterministic, its positive control is
caught where the real engine is not fooled, and bad specs are refused in one line.

Small pools (100 scenarios per family) and a handful of ratchets keep this to seconds; the
operating characteristics themselves are measured by the benchmark (docs/benchmark.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_decisions  # noqa: E402
from decision_sim import SpecError, parse_spec  # noqa: E402

SMALL = ["--held-out", "100", "--confirm-size", "100", "--seed", "7"]
# A skewed null (2% of scenarios lose 0.5, the rest gain 0.01: true mean -0.0002). The harm
# margin is wide so that no-harm is shown at once and only the test of the mean stands between
# the estimate and an accept: looking only at the estimate accepts, the real test does not.
SKEWED = ["--null", "skew:0.02,0.5,0.01", "--harm-margin", "0.5"]


def run_json(capsys: pytest.CaptureFixture, *args: str) -> dict:
    assert bench_decisions.main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    out.pop("timing", None)
    return out


def test_same_seed_same_json_whatever_the_jobs(capsys: pytest.CaptureFixture) -> None:
    args = [*SMALL, *SKEWED, "--runs", "2"]
    first = run_json(capsys, *args)
    assert run_json(capsys, *args) == first
    assert run_json(capsys, *args, "--jobs", "2") == first
    for key in ("false_accept_rate", "false_accept_upper", "harm_rate", "certificate_coverage",
                "recovery"):
        assert key in first
    assert first["runs"] == 2 and first["certified_values_per_run"] > 0


def test_the_positive_control_is_caught_where_the_engine_is_not_fooled(
        capsys: pytest.CaptureFixture) -> None:
    args = [*SMALL, *SKEWED, "--runs", "3"]
    real = run_json(capsys, *args)
    control = run_json(capsys, *args, "--control")
    assert real["false_accepts"] == 0
    assert control["false_accepts"] >= 2, control["examples"]
    assert control["false_accept_upper"] > real["false_accept_upper"]


def test_a_real_effect_is_recovered_and_counted(capsys: pytest.CaptureFixture) -> None:
    out = run_json(capsys, *SMALL, "--runs", "1", "--alt",
                   "_wf_min_threshold=normal:0.2,0.05")
    assert out["recovery"]["_wf_min_threshold"]["accepted"] == 1
    assert out["false_accepts"] == 0


def test_specs_mean_what_they_say() -> None:
    assert parse_spec("skew:0.02,0.5,0.01").mean == pytest.approx(-0.0002)
    assert parse_spec("sparse:0.03,0.5").mean == pytest.approx(0.015)
    assert parse_spec("normal:0.03,0.19").mean == pytest.approx(0.03, abs=1e-6)
    assert parse_spec("normal:0.9,0.5").mean < 0.9  # clipped to [-1, 1]
    for bad in ("skew:2,0.5,0.01", "normal:0.1", "sparse:0.1,x", "uniform:0,1"):
        with pytest.raises(SpecError):
            parse_spec(bad)


@pytest.mark.parametrize("args", [
    ["--null", "skew:0.02,0.5"],
    ["--null", "normal:0,-1"],
    ["--alt", "no_such_constant=zero"],
    ["--alt", "decay_rate@prediction_ledger=zero"],  # a family decay_rate does not reach
    ["--alt", "decay_rate"],
    ["--runs", "0"],
    ["--jobs", "many"],
])
def test_bad_input_is_refused_in_one_line(args: list[str],
                                          capsys: pytest.CaptureFixture) -> None:
    assert bench_decisions.main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1, captured.err


def test_the_script_exits_2_on_a_bad_spec() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_decisions.py"),
                             "--null", "sparse:2,0.5"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "bench_decisions: error: delta spec 'sparse:2,0.5': the fraction P must lie in [0, 1]"]
