"""No command prints a traceback: an unexpected error is one line, exit 1, and a hint to rerun
with ``--debug`` (or ``TUNER_DEBUG=1``), which shows it; bad input stays exit 2."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tuner.cli import main
from tuner.decisions import check

LEDGER = {"format": "tuner-ledger", "version": 1, "joint": {}, "records": [
    {"constant": "decay_rate", "attr": "DECAY_RATE", "default": 0.1, "proposal": None,
     "decision": "REJECT", "reason": "not significant"}]}


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("zip() argument 2 is longer than argument 1\nsecond line")

    monkeypatch.setattr(check, "plan_check", broken)
    monkeypatch.delenv("TUNER_DEBUG", raising=False)
    path = tmp_path / "ledger.json"
    path.write_text(json.dumps(LEDGER))
    return str(path)


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def test_an_unexpected_error_is_one_line_exit_1_with_the_debug_hint(ledger):
    result = invoke("check", "--ledger", ledger)
    assert result.exit_code == 1
    assert result.output == (
        "Error: unexpected ValueError: zip() argument 2 is longer than argument 1 second line "
        "(rerun as `tuner --debug check ...` or with TUNER_DEBUG=1 to see the traceback)\n")
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args, env", [(("--debug",), None), ((), {"TUNER_DEBUG": "1"})])
def test_debug_lets_the_traceback_through(ledger, args, env):
    result = invoke(*args, "check", "--ledger", ledger, env=env)
    assert result.exit_code == 1
    assert isinstance(result.exception, ValueError)  # CliRunner holds what Python would print
    assert "unexpected" not in result.output


def test_bad_input_still_exits_2_with_one_line(tmp_path):
    result = invoke("check", "--ledger", str(tmp_path / "none.json"))
    assert result.exit_code == 2
    assert result.output.startswith("Error: no ledger file at ")
    assert len(result.output.splitlines()) == 1
