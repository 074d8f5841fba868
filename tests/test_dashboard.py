"""`tuner dashboard` serves the study DB on loopback; its API shows studies and notes."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import optuna
import pytest
from click.testing import CliRunner
from optuna_dashboard import save_note

from tuner.cli import main


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, deadline: float, process: subprocess.Popen):
    """The JSON at ``url`` once the dashboard answers; None if the dashboard exited first."""
    while process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return None


def start_dashboard(storage: str, attempts: int = 5) -> tuple[subprocess.Popen, int, list]:
    """The dashboard serving ``storage``, its port and its studies.

    A port free when checked may be taken by another process before the dashboard binds it;
    then the dashboard exits saying it cannot listen, and it is started again on another port.
    """
    for _ in range(attempts):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "tuner.cli", "dashboard", "--storage", storage,
             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        found = get_json(f"http://127.0.0.1:{port}/api/studies", time.monotonic() + 30, process)
        if found is not None and process.poll() is None:
            return process, port, found["study_summaries"]
        _, err = process.communicate(timeout=10)
        assert b"cannot listen on" in err, err.decode(errors="replace")
    pytest.fail(f"no free port in {attempts} attempts")


@pytest.fixture
def storage_with_note(tmp_path):
    storage = f"sqlite:///{tmp_path / 'tuner.db'}"
    study = optuna.create_study(study_name="decay_rate@decay-b1n10", storage=storage,
                                direction="maximize")
    study.optimize(lambda t: t.suggest_float("decay_rate", 0.01, 2.0), n_trials=2)
    study.trials[0]  # noqa: B018 - make sure trials exist before the note
    save_note(study, "## Validation of `decay_rate`\n\n**Decision: REJECT**\n")
    return storage


def test_dashboard_serves_studies_and_notes_on_loopback(storage_with_note):
    process, port, studies = start_dashboard(storage_with_note)
    try:
        assert [s["study_name"] for s in studies] == ["decay_rate@decay-b1n10"]
        detail = get_json(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}",
                          time.monotonic() + 30, process)
        assert "**Decision: REJECT**" in detail["note"]["body"]
        assert len(detail["trials"]) == 2
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_dashboard_refuses_a_missing_database(tmp_path):
    result = CliRunner().invoke(main, ["dashboard", "--storage",
                                       f"sqlite:///{tmp_path / 'none.db'}"])
    assert result.exit_code == 2
    assert f"Error: no study database at {tmp_path / 'none.db'}; run `tuner optimize` first" \
        in result.output


def test_dashboard_refuses_a_busy_port(storage_with_note):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(main, ["dashboard", "--storage", storage_with_note,
                                           "--port", str(port)])
    assert result.exit_code == 2
    assert f"Error: cannot listen on 127.0.0.1:{port}: " in result.output
